/* sandbox.h: what shuts pdfspool-worker in once it is ready to read PDFs: the
 * seccomp filter and the limits of each job (sandbox.c). Only the worker links it. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Install the seccomp filter (and the SIGSYS handler that reports a forbidden
 * call on REPORT_FD as a "fatal" message, proto.h, then exits). Everything the
 * worker needs must already be set up: after this it cannot open a socket,
 * execute, fork or signal another process. Returns 0, 1 when the build cannot
 * have it (AddressSanitizer, see sandbox.c), or -errno. */
int sandbox_seccomp_install(int report_fd);

/* When an allocation that cannot fail (util.h: xmalloc) fails, say on FD, as
 * a "fatal" message, that the job ran out of memory under MEMORY_LIMIT bytes
 * (0: none), before the worker aborts. Returns 0 or -errno. */
int sandbox_report_out_of_memory(int fd, uint64_t memory_limit);

/* Set the limits of the next job from LIMITS, the job message's "limits"
 * object ({"cpu_seconds":N, "file_size":N, "open_files":N}, each optional, 0 or
 * absent: none). Returns 0, -EBADMSG for a malformed object, or -errno. */
int sandbox_job_limits(const json_t *limits);

/* When PDFSPOOL_WORKER_DEBUG names a forbidden call (socket, execve, fork,
 * ptrace), make it, so that a test can see the filter stop it. */
void sandbox_debug_forbidden_call(void);
