/* sandbox-t: the worker's walls (src/sandbox.c) in child processes of the
 * test: a job's limits set the soft rlimits and a malformed "limits" is
 * refused; under the seccomp filter what PDF work needs still works, and a
 * forbidden call ends the process with status 3 after a "fatal" message that
 * names the call. */
#include "tap.h"
#include "../../src/proto.h"
#include "../../src/sandbox.h"
#include "../../src/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static rlim_t soft(int resource) {
        struct rlimit l;
        return getrlimit(resource, &l) == 0 ? l.rlim_cur : 0;
}

static void test_limits(void) {
        json_t *limits = json_pack("{s:i, s:i, s:i}", "cpu_seconds", 5, "file_size", 1024, "open_files", 16);
        struct rusage usage;
        int r;

        r = sandbox_job_limits(limits);
        is_int(r, 0, "limits of a job are set");
        is_int((long long) soft(RLIMIT_FSIZE), 1024, "file_size 1024: RLIMIT_FSIZE soft 1024");
        is_int((long long) soft(RLIMIT_NOFILE), 16, "open_files 16: RLIMIT_NOFILE soft 16");
        (void) getrusage(RUSAGE_SELF, &usage);
        ok(soft(RLIMIT_CPU) >= (rlim_t) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 5) &&
           soft(RLIMIT_CPU) <= (rlim_t) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 6),
           "cpu_seconds 5: RLIMIT_CPU soft is the CPU time used so far + 5 (+ 1 for the second begun)");

        /* A write past the file size limit is EFBIG, not SIGXFSZ (the worker ignores it). */
        signal(SIGXFSZ, SIG_IGN);
        char path[] = "/tmp/sandbox-t.XXXXXX", buf[2048] = { 0 };
        int fd = mkostemp(path, O_CLOEXEC);
        ssize_t n = fd >= 0 ? write(fd, buf, sizeof(buf)) : -1;
        ssize_t m = fd >= 0 ? write(fd, buf, sizeof(buf)) : -1;
        int err = errno;
        ok(n == 1024 && m < 0 && err == EFBIG, "a write past 1024 bytes stops there, then fails with EFBIG");
        if (fd >= 0) {
                close(fd);
                unlink(path);
        }

        json_decref(limits);
        r = sandbox_job_limits(NULL);
        ok(r == 0 && soft(RLIMIT_FSIZE) == RLIM_INFINITY && soft(RLIMIT_CPU) == RLIM_INFINITY,
           "no limits: the soft limits go back up to the hard ones");

        limits = json_pack("{s:i}", "file_size", -1);
        is_int(sandbox_job_limits(limits), -EBADMSG, "a negative limit is a malformed job");
        json_decref(limits);
        limits = json_pack("{s:s}", "open_files", "many");
        is_int(sandbox_job_limits(limits), -EBADMSG, "a limit that is not an integer is a malformed job");
        json_decref(limits);
        limits = json_string("x");
        is_int(sandbox_job_limits(limits), -EBADMSG, "\"limits\" that is not an object is a malformed job");
        json_decref(limits);
}

/* Runs BODY in a child under the filter, its report socket being sv[1]; returns
 * the child's wait status and what it sent (if anything) in MSG. */
static int run_filtered(void (*body)(void), char *msg, size_t size) {
        int sv[2], status = -1;
        pid_t pid;

        msg[0] = 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                if (sandbox_seccomp_install(sv[1]) != 0)
                        _exit(99);
                body();
                _exit(0);
        }
        close(sv[1]);
        (void) waitpid(pid, &status, 0);
        ssize_t n = recv(sv[0], msg, size - 1, MSG_DONTWAIT);
        msg[n > 0 ? n : 0] = 0;
        close(sv[0]);
        return status;
}

static void allowed_work(void) {
        /* What a job does: allocate, create, write, sync, rename, remove, read time. */
        char *big = xmalloc(64 << 20);
        memset(big, 1, 64 << 20);
        free(big);
        int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char name[64];
        snprintf(name, sizeof(name), ".sandbox-t.%d", (int) getpid());
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (dir < 0 || fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) < 0 || close(fd) < 0 ||
            renameat(dir, name, dir, "sandbox-t.renamed") < 0 || unlinkat(dir, "sandbox-t.renamed", 0) < 0)
                _exit(1);
        (void) now_usec(CLOCK_MONOTONIC);
        _exit(0);
}

static void forbidden_socket(void) {
        (void) socket(AF_INET, SOCK_STREAM, 0);
}

static void forbidden_kill(void) {
        (void) kill(1, 0);
}

static void test_filter(void) {
        char msg[512];
        int status;

        if (UTIL_ASAN) {
                skip("no seccomp filter under AddressSanitizer (sandbox.c)");
                return;
        }
        status = run_filtered(allowed_work, msg, sizeof(msg));
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "under the filter: allocate 64 MiB, create, write, fsync, rename, remove, read the clock (status 0x%x)",
           (unsigned) status);
        is_str(msg, "", "... and no report");

        status = run_filtered(forbidden_socket, msg, sizeof(msg));
        ok(WIFEXITED(status) && WEXITSTATUS(status) == PROTO_EXIT_FORBIDDEN_CALL,
           "socket(): the process exits with status %d (status 0x%x)", PROTO_EXIT_FORBIDDEN_CALL, (unsigned) status);
        char *want = xasprintf("{\"v\":%d,\"type\":\"fatal\",\"reason\":\"worker made a forbidden system call: socket\"}",
                               PROTO_VERSION);
        is_str(msg, want, "... after a \"fatal\" message that names it");
        free(want);

        status = run_filtered(forbidden_kill, msg, sizeof(msg));
        ok(WIFEXITED(status) && WEXITSTATUS(status) == PROTO_EXIT_FORBIDDEN_CALL && strstr(msg, "call: kill\""),
           "kill() of another process is forbidden too (%s)", msg);
}

int main(void) {
        test_limits();
        test_filter();
        return done_testing();
}
