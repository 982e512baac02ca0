/* sandbox.c: the last walls around pdfspool-worker. worker.c first lowers what
 * the process may ever have (core dumps, memory, no new privileges); once mupdf
 * is set up, this file installs a seccomp filter that leaves only the system
 * calls PDF processing makes, and before each job it sets that job's limits
 * (CPU time, file size, open files) from the queue's "limits" block.
 *
 * A forbidden call raises SIGSYS (SECCOMP_RET_TRAP, not a silent kill): the
 * handler tells the daemon which call it was, in a "fatal" message on the
 * worker's socket, and exits; the daemon fails the job with that reason and
 * starts another worker. */
#include "sandbox.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Names of system calls by number, resolved before the filter is on: the
 * SIGSYS handler may not allocate, and libseccomp's resolver does. */
#define NAMES_MAX 512
static char *syscall_names[NAMES_MAX];
static uint32_t native_arch;
static int report_fd = -1;
static char report_prefix[96];
static size_t report_prefix_len;
static char oom_report[192];
static size_t oom_report_len;

#define REASON "worker made a forbidden system call: "

static size_t append(char *buf, size_t at, size_t size, const char *s) {
        while (*s && at + 1 < size)
                buf[at++] = *s++;
        buf[at] = 0;
        return at;
}

static void append_number(char *buf, size_t *at, size_t size, unsigned long n) {
        char digits[24];
        size_t i = sizeof(digits) - 1;

        digits[i] = 0;
        do
                digits[--i] = (char) ('0' + n % 10);
        while ((n /= 10) > 0 && i > 0);
        *at = append(buf, *at, size, "number ");
        *at = append(buf, *at, size, digits + i);
}

/* A "fatal" message (proto.h) already formatted: async-signal-safe. */
static void send_report(const char *msg, size_t len) {
        struct iovec iov = { .iov_base = (void *) msg, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (report_fd >= 0 && len > 0)
                (void) sendmsg(report_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Async-signal-safe: only writes on descriptors, then _exit. */
static void on_sigsys(int sig, siginfo_t *si, void *context) {
        char msg[256], line[200];
        size_t n = 0, m = 0;
        int nr = si->si_syscall;

        (void) sig;
        (void) context;
        /* Number -1 is no call: a tracer (strace -e inject, the fault sweeps)
         * made the kernel skip the real one, and gives it its result when it
         * returns. The kernel does nothing for it, so let it pass: returning
         * from here leaves the tracer's result in place. */
        if (nr == -1)
                return;
        memcpy(msg, report_prefix, report_prefix_len + 1);
        n = report_prefix_len;
        if (si->si_arch == native_arch && nr >= 0 && nr < NAMES_MAX && syscall_names[nr])
                n = append(msg, n, sizeof(msg), syscall_names[nr]);
        else
                append_number(msg, &n, sizeof(msg), (unsigned long) (unsigned) nr);
        m = append(line, 0, sizeof(line), "pdfspool-worker: ");
        m = append(line, m, sizeof(line), msg + report_prefix_len - strlen(REASON));
        m = append(line, m, sizeof(line), "\n");
        n = append(msg, n, sizeof(msg), "\"}");

        send_report(msg, n);
        (void) write(STDERR_FILENO, line, m);
        _exit(PROTO_EXIT_FORBIDDEN_CALL);
}

static void on_out_of_memory(void) {
        send_report(oom_report, oom_report_len);
}

int sandbox_report_out_of_memory(int fd, uint64_t memory_limit) {
        int r;

        /* Formatted now: when it is needed, there is no memory to format it. */
        if (memory_limit > 0)
                r = snprintf(oom_report, sizeof(oom_report),
                             "{\"v\":%d,\"type\":\"fatal\",\"reason\":\"out of memory (the worker memory limit is %"
                             PRIu64 " MiB)\"}", PROTO_VERSION, memory_limit / (1024 * 1024));
        else
                r = snprintf(oom_report, sizeof(oom_report),
                             "{\"v\":%d,\"type\":\"fatal\",\"reason\":\"out of memory\"}", PROTO_VERSION);
        if (r < 0 || (size_t) r >= sizeof(oom_report))
                return -EINVAL;
        oom_report_len = (size_t) r;
        report_fd = fd;
        util_out_of_memory_hook = on_out_of_memory;
        return 0;
}

static int allow(scmp_filter_ctx f, int nr) {
        return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
}

/* What the worker does between jobs and within them, found with strace -f -c
 * over the datasheet and hostile corpora (tests/system/corpus.sh), plus what
 * glibc may call on paths that corpus did not take (abort, qsort's sysinfo,
 * stdio's writev). Paths cannot be checked here: seccomp sees only the
 * pointer, not the string, so openat, mkdirat, renameat and unlinkat are
 * allowed on any path; what keeps them to the job's folders is that the
 * worker gets its input as a descriptor and writes only beneath "out". */
static const int allowed_calls[] = {
        SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv), SCMP_SYS(write), SCMP_SYS(pwrite64),
        SCMP_SYS(writev), SCMP_SYS(lseek), SCMP_SYS(close),
        SCMP_SYS(openat), SCMP_SYS(mkdirat), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlinkat),
        SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(getdents64), SCMP_SYS(fchmod),
        SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(syncfs), SCMP_SYS(fcntl),
        SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
        SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom), SCMP_SYS(getrusage),
        SCMP_SYS(sysinfo), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(futex),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
        SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static int add_rules(scmp_filter_ctx f, int fd) {
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(allowed_calls) && r == 0; i++)
                r = allow(f, allowed_calls[i]);
        /* Messages only on the daemon's socket. */
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) fd));
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) fd));
        /* No new executable memory: nothing is loaded after start-up. */
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        /* Signals to itself only (abort() raises SIGABRT). */
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) getpid()));
        /* Its own limits: read any (the out-of-memory reason names RLIMIT_AS), set
         * only the three a job's limits change. A worker taken over could raise
         * those soft limits up to their hard ones (the daemon's); the job's wall
         * clock timeout, kept by the daemon, still ends it. */
        if (r == 0)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, SCMP_A0(SCMP_CMP_EQ, 0),
                                     SCMP_A2(SCMP_CMP_EQ, 0));
        const int settable[] = { RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE };
        for (size_t i = 0; i < ELEMENTSOF(settable) && r == 0; i++)
                r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, SCMP_A0(SCMP_CMP_EQ, 0),
                                     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t) settable[i]));
        return r;
}

int sandbox_seccomp_install(int fd) {
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
        scmp_filter_ctx f;
        int r;

        /* AddressSanitizer's runtime makes calls no PDF needs (LeakSanitizer
         * stops the world with clone and ptrace at exit, reports read
         * /proc/self/maps): under it the filter would report ASan, not the PDF.
         * The sanitizer build checks memory errors; the plain build, which is
         * what ships, has the filter. */
        if (UTIL_ASAN)
                return 1;

        native_arch = seccomp_arch_native();
        for (int nr = 0; nr < NAMES_MAX; nr++)
                syscall_names[nr] = seccomp_syscall_resolve_num_arch(native_arch, nr);
        report_fd = fd;
        r = snprintf(report_prefix, sizeof(report_prefix), "{\"v\":%d,\"type\":\"fatal\",\"reason\":\"" REASON,
                     PROTO_VERSION);
        if (r < 0 || (size_t) r >= sizeof(report_prefix))
                return -EINVAL;
        report_prefix_len = (size_t) r;
        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;

        f = seccomp_init(SCMP_ACT_TRAP);
        if (!f)
                return -ENOMEM;
        /* Calls of another architecture (int 0x80 on x86-64) are forbidden too. */
        r = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
        if (r == 0)
                r = add_rules(f, fd);
        if (r == 0)
                r = seccomp_load(f);
        seccomp_release(f);
        return r < 0 ? r : 0;
}

/* The soft limit RESOURCE gets for the next job: VALUE (0: none, the hard limit),
 * never above the hard limit, which the worker cannot raise. */
static int set_soft_limit(int resource, rlim_t value) {
        struct rlimit limit;

        if (getrlimit(resource, &limit) < 0)
                return -errno;
        if (value == 0 || (limit.rlim_max != RLIM_INFINITY && value > limit.rlim_max))
                value = limit.rlim_max;
        limit.rlim_cur = value;
        if (setrlimit(resource, &limit) < 0)
                return -errno;
        return 0;
}

static int limit_value(const json_t *limits, const char *key, json_int_t *ret) {
        const json_t *v = json_object_get(limits, key);

        *ret = 0;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EBADMSG;
        *ret = json_integer_value(v);
        return 0;
}

int sandbox_job_limits(const json_t *limits) {
        json_int_t cpu, fsize, nofile;
        struct rusage usage;
        int r;

        if (limits && !json_is_object(limits))
                return -EBADMSG;
        if (limit_value(limits, "cpu_seconds", &cpu) < 0 || limit_value(limits, "file_size", &fsize) < 0 ||
            limit_value(limits, "open_files", &nofile) < 0)
                return -EBADMSG;

        /* The worker serves many jobs and RLIMIT_CPU counts the whole process:
         * this job may use CPU_SECONDS more than all jobs before it (whole
         * seconds: the limit has no finer unit). */
        if (cpu > 0) {
                if (getrusage(RUSAGE_SELF, &usage) < 0)
                        return -errno;
                cpu += usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1;
        }
        r = set_soft_limit(RLIMIT_CPU, (rlim_t) cpu);
        if (r == 0)
                r = set_soft_limit(RLIMIT_FSIZE, (rlim_t) fsize);
        if (r == 0)
                r = set_soft_limit(RLIMIT_NOFILE, (rlim_t) nofile);
        return r;
}

/* Honoured in every build, not only a debug one: it grants nothing (with the
 * filter on, the call ends the worker; that is all it can do), and so the test
 * proves the filter of the very binary that ships. */
void sandbox_debug_forbidden_call(void) {
        const char *call = getenv("PDFSPOOL_WORKER_DEBUG");
        int fd;

        if (!call)
                return;
        if (strcmp(call, "socket") == 0) {
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0)
                        (void) close(fd);
        } else if (strcmp(call, "execve") == 0) {
                char *argv[] = { (char *) "true", NULL };
                (void) execve("/bin/true", argv, environ);
        } else if (strcmp(call, "fork") == 0) {
                pid_t pid = fork();
                if (pid == 0)
                        _exit(0);
                if (pid > 0)
                        (void) waitpid(pid, NULL, 0);
        } else if (strcmp(call, "ptrace") == 0)
                (void) ptrace(PTRACE_PEEKUSER, 1, NULL, NULL);
}
