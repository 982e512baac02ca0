/* util.h: small helpers every room uses: allocation that cannot fail, time, strings. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define USEC_PER_SEC ((uint64_t) 1000000)
#define USEC_PER_MSEC ((uint64_t) 1000)
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is fatal (logged, exit 1), so callers stay short. */
void *xmalloc(size_t n);
/* Called (when set) by the x* allocators before they abort for want of memory:
 * a worker says why it dies (sandbox.c). Must be async-signal-safe and not allocate. */
extern void (*util_out_of_memory_hook)(void);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t now_usec(clockid_t clock);        /* CLOCK_REALTIME / CLOCK_MONOTONIC */
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-29T17:40:13.123Z; buf >= 32 bytes. */
char *format_rfc3339(char *buf, size_t size, uint64_t realtime_usec);
/* "4.0 GiB", "1000 bytes"; returns BUF. */
char *format_size(char *buf, size_t size, uint64_t bytes);
/* "2026-12-07T22:00:00Z", "...+01:00", or without a zone (the host's local
 * time); seconds optional, a space may stand for the T. Returns 0 and the
 * time in realtime usec, or -EINVAL. */
int parse_rfc3339(const char *s, uint64_t *ret);

/* NULL-terminated string vectors (argv, environment); NULL stays NULL. */
char **strv_copy(char *const *v);
void strv_free(char **v);

bool str_has_suffix(const char *s, const char *suffix);
bool str_has_suffix_nocase(const char *s, const char *suffix);
bool utf8_is_valid(const char *s, size_t n);
/* A fault of the spool's own resources (disk full, quota, descriptors, memory,
 * an I/O error, a busy or interrupted call): never the input's fault, so the
 * work waits and is retried. ERR is a positive or negative errno. */
bool errno_is_transient(int err);

/* Lower (never raise) both limits of RESOURCE (RLIMIT_*) to VALUE: the process
 * cannot undo it. 0 or -errno. */
int limit_resource(int resource, uint64_t value);

/* fork() for the daemon's own helpers (no exec): the child starts with no signal
 * blocked, without NOTIFY_SOCKET, and dies with its parent (PR_SET_PDEATHSIG),
 * also when the parent died before the child could ask for that. A helper that
 * outlived its daemon would hold the state_dir's lock and keep the next daemon
 * out, and could write to a claim the next daemon recovers. As fork(). */
pid_t fork_bound(void);

/* 1 when built with AddressSanitizer (./configure --enable-sanitizers, fuzzing
 * builds): its shadow memory reserves terabytes of address space, so RLIMIT_AS
 * would stop the program at its next allocation and must not be set. */
#if defined(__SANITIZE_ADDRESS__)
#define UTIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UTIL_ASAN 1
#endif
#endif
#ifndef UTIL_ASAN
#define UTIL_ASAN 0
#endif
