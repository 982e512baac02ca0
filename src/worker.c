/* worker.c: pdfspool-worker, the process that reads PDFs so that the daemon never
 * has to. pdfspoold fork+execs it with its end of a SOCK_SEQPACKET socketpair on
 * fd 3. It first shuts itself in (no core dumps, a memory limit, no new
 * privileges, killed with its parent), then answers one job at a time (proto.h),
 * handing each PDF to extract.c. Once mupdf is set up and before the first job
 * is read, it installs its seccomp filter (sandbox.c); before each job it sets
 * that job's limits. A hostile PDF can at worst crash this process; the daemon
 * notices, fails that job with the reason and starts another worker.
 *
 * Exit status: 0 on "quit" or when the daemon closes the socket, 2 on a message
 * that breaks the protocol, 3 after a forbidden system call (proto.h), 1 on
 * any other failure. A limit reached ends it by SIGXCPU (CPU time), or fails
 * only the job (file size: EFBIG, open files: EMFILE). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "extract.h"
#include "names.h"
#include "worker-batch.h"
#include "proto.h"
#include "sandbox.h"
#include "util.h"

#define EXIT_PROTOCOL 2
/* The daemon's job ids are short; a longer one is a broken daemon, and would
 * make the result packet too large to send. */
#define JOB_ID_MAX 1024

static void log_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void log_error(const char *format, ...) {
        va_list ap;

        fputs("pdfspool-worker: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static int parse_bytes(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;
        if (*end != 0 || v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Returns 0 or -errno; *ret_memory_limit is the RLIMIT_AS set, 0 if none. */
static int sandbox_setup(pid_t parent, uint64_t *ret_memory_limit) {
        const char *env;
        uint64_t memory_limit = 0;
        int r;

        /* A crash on a hostile PDF must not leave its memory (the document) on disk. */
        r = limit_resource(RLIMIT_CORE, 0);
        if (r < 0) {
                log_error("cannot disable core dumps: %s", strerror(-r));
                return r;
        }

        env = getenv("PDFSPOOL_WORKER_MEMORY");
        if (env) {
                r = parse_bytes(env, &memory_limit);
                if (r < 0) {
                        log_error("PDFSPOOL_WORKER_MEMORY=%s is not a number of bytes", env);
                        return r;
                }
                /* RLIMIT_AS rather than a cgroup: it needs no privileges, and a
                 * failed allocation comes back to mupdf as an error it reports,
                 * instead of the OOM killer's SIGKILL. */
                r = UTIL_ASAN ? 0 : limit_resource(RLIMIT_AS, (rlim_t) memory_limit);
                if (r < 0) {
                        log_error("cannot set the memory limit: %s", strerror(-r));
                        return r;
                }
        }

        /* A job over its file size limit gets EFBIG from write() and fails with
         * that reason; the default action would kill the worker instead. */
        if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
                r = -errno;
                log_error("cannot ignore SIGXFSZ: %s", strerror(-r));
                return r;
        }

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                r = -errno;
                log_error("cannot set no_new_privs: %s", strerror(-r));
                return r;
        }
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
                r = -errno;
                log_error("cannot ask to die with the daemon: %s", strerror(-r));
                return r;
        }
        /* The daemon may have died before the prctl() above: then we have been
         * re-parented (to init or a subreaper) and no signal will ever come.
         * Comparing with the parent we started with, rather than with 1, also
         * covers subreapers and keeps working when pdfspoold is a container's
         * PID 1. Had it died before main() even ran, the hello below fails
         * with EPIPE instead. */
        if (getppid() != parent) {
                log_error("the daemon is gone");
                return -ESRCH;
        }

        *ret_memory_limit = memory_limit;
        return 0;
}

/* fd 3 must be our seqpacket socket: anything else means we were not started by
 * pdfspoold (or were started wrongly), and reading it would make no sense. */
static int check_socket(int fd) {
        int type = 0;
        socklen_t len = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return -errno;
        if (type != SOCK_SEQPACKET)
                return -ENOTSOCK;
        return 0;
}

static size_t store_size(uint64_t memory_limit) {
        /* A quarter of the limit for mupdf's cache leaves the rest for the page
         * being worked on; mupdf also empties the store when an allocation fails. */
        if (memory_limit == 0 || memory_limit / 4 > FZ_STORE_DEFAULT)
                return FZ_STORE_DEFAULT;
        return (size_t) (memory_limit / 4);
}

static int send_hello(int fd) {
        json_t *hello;
        int r;

        hello = json_pack("{s:i, s:s, s:I}", "v", PROTO_VERSION, "type", "hello", "pid", (json_int_t) getpid());
        if (!hello)
                return -ENOMEM;
        r = proto_send(fd, hello);
        json_decref(hello);
        return r;
}

/* A path field of a job: a string, or {"hex": ...} for names that are not
 * UTF-8 (names_to_json_exact). Refuses embedded NULs (a path cut short at a NUL
 * would name another file) and paths that are not absolute. Returns malloc'd. */
static char *job_path(json_t *msg, const char *key) {
        json_t *value = json_object_get(msg, key);
        char *s;

        if (json_is_string(value) && strlen(json_string_value(value)) != json_string_length(value))
                return NULL;
        s = names_from_json_exact(value);
        if (s && s[0] != '/') {
                free(s);
                return NULL;
        }
        return s;
}

/* Runs one job on the PDF open at PDF_FD (-1: none came) and sends its result.
 * Returns 0, -EBADMSG for a malformed job, or another -errno when the result
 * cannot be sent. */
static int handle_job(int fd, fz_context *ctx, json_t *msg, int pdf_fd) {
        json_t *id = json_object_get(msg, "id"), *size_json = json_object_get(msg, "thumbnail_size");
        json_t *outputs = json_object_get(msg, "outputs"), *password = json_object_get(msg, "password");
        json_int_t size = EXTRACT_THUMBNAIL_SIZE_DEFAULT;
        char *pdf = job_path(msg, "pdf"), *out = job_path(msg, "out");
        char *error = NULL;
        const char *text_layer = NULL, *why = NULL;
        struct profile profile;
        json_t *result;
        int pages = 0, write_errno = 0, r;

        /* Without "outputs": what a job made before profiles (the default profile). */
        profile_init_default(&profile, NULL);

        r = 0;
        if (!json_is_string(id) || json_string_length(id) > JOB_ID_MAX) {
                log_error("malformed job: \"id\" must be a string of at most %d bytes", JOB_ID_MAX);
                r = -EBADMSG;
        } else if (pdf_fd < 0) {
                /* The worker never opens its input by name: only what the daemon opened and checked. */
                log_error("malformed job %s: no file descriptor came with it", json_string_value(id));
                r = -EBADMSG;
        } else if (!pdf || !out) {
                log_error("malformed job %s: \"pdf\" and \"out\" must be absolute paths", json_string_value(id));
                r = -EBADMSG;
        } else if (size_json) {
                size = json_is_integer(size_json) ? json_integer_value(size_json) : -1;
                if (size < EXTRACT_THUMBNAIL_SIZE_MIN || size > EXTRACT_THUMBNAIL_SIZE_MAX) {
                        log_error("malformed job %s: \"thumbnail_size\" must be an integer in %u..%u",
                                  json_string_value(id), EXTRACT_THUMBNAIL_SIZE_MIN, EXTRACT_THUMBNAIL_SIZE_MAX);
                        r = -EBADMSG;
                }
        }
        profile.thumb_size = (unsigned) size;
        if (r == 0 && outputs && profile_outputs_from_json(outputs, &profile, &why) < 0) {
                log_error("malformed job %s: \"outputs\": %s", json_string_value(id), why);
                r = -EBADMSG;
        }
        if (r == 0 && password && (!json_is_string(password) ||
                                   strlen(json_string_value(password)) != json_string_length(password))) {
                log_error("malformed job %s: \"password\" must be a string", json_string_value(id));
                r = -EBADMSG;
        }
        if (r < 0) {
                profile_done(&profile);
                free(pdf);
                free(out);
                return r;
        }

        r = extract_pdf(ctx, pdf_fd, pdf, out, json_is_true(json_object_get(msg, "staged")), &profile,
                        password ? json_string_value(password) : NULL, &pages,
                        &text_layer, &error, &write_errno);
        profile_done(&profile);
        free(pdf);
        free(out);
        /* Give back what the job's allocations left in malloc's free lists, so a
         * long-lived worker stays as small as a fresh one. */
        (void) malloc_trim(0);

        result = json_pack("{s:i, s:s, s:O, s:b, s:i, s:s?}",
                           "v", PROTO_VERSION,
                           "type", "result",
                           "id", id,
                           "ok", r >= 0,
                           "pages", r >= 0 ? pages : 0,
                           "error", r >= 0 ? NULL : error);
        free(error);
        if (!result)
                return -ENOMEM;
        if (r >= 0 && json_object_set_new(result, "text_layer", json_string(text_layer)) < 0) {
                json_decref(result);
                return -ENOMEM;
        }
        if (r < 0 && write_errno > 0 &&
            (json_object_set_new(result, "resource_error", json_string(strerror(write_errno))) < 0 ||
             json_object_set_new(result, "errno", json_integer(write_errno)) < 0)) {
                json_decref(result);
                return -ENOMEM;
        }
        r = proto_send(fd, result);
        json_decref(result);
        return r;
}

static int serve(int fd, fz_context *ctx) {
        for (;;) {
                const char *type;
                json_t *msg = NULL;
                int pdf_fd = -1, r;

                r = proto_recv_fd(fd, &msg, &pdf_fd);
                if (r == -EPIPE || r == -ECONNRESET)
                        return 0;               /* the daemon closed the socket */
                if (r == -EBADMSG || r == -EMSGSIZE) {
                        log_error("malformed message from the daemon: %s", strerror(-r));
                        return EXIT_PROTOCOL;
                }
                if (r < 0) {
                        log_error("cannot receive from the daemon: %s", strerror(-r));
                        return EXIT_FAILURE;
                }

                type = json_string_value(json_object_get(msg, "type"));
                if (type && strcmp(type, "quit") == 0) {
                        json_decref(msg);
                        if (pdf_fd >= 0)
                                close(pdf_fd);
                        return 0;
                }
                if (!type || strcmp(type, "job") != 0) {
                        log_error("malformed message from the daemon: unknown type \"%s\"", type ? type : "(none)");
                        json_decref(msg);
                        if (pdf_fd >= 0)
                                close(pdf_fd);
                        return EXIT_PROTOCOL;
                }

                r = sandbox_job_limits(json_object_get(msg, "limits"));
                if (r < 0 && r != -EBADMSG) {
                        log_error("cannot set the job's limits: %s", strerror(-r));
                        json_decref(msg);
                        if (pdf_fd >= 0)
                                close(pdf_fd);
                        return EXIT_FAILURE;
                }
                if (r == -EBADMSG)
                        log_error("malformed job: \"limits\" must be an object of non-negative integers");
                else {
                        sandbox_debug_forbidden_call();
                        r = handle_job(fd, ctx, msg, pdf_fd);
                }
                json_decref(msg);
                if (pdf_fd >= 0)
                        close(pdf_fd);
                if (r == -EBADMSG)
                        return EXIT_PROTOCOL;
                if (r == -EPIPE || r == -ECONNRESET)
                        return 0;
                if (r < 0) {
                        log_error("cannot send a result to the daemon: %s", strerror(-r));
                        return EXIT_FAILURE;
                }
        }
}

/* Under AddressSanitizer RLIMIT_AS cannot be used (util.h): ASan's own soft RSS
 * limit stands in for it, so a PDF that needs too much memory still fails as out
 * of memory. ASan reads its options at start only: run again with them set. */
static void asan_memory_limit(char *argv[]) {
        const char *env = getenv("PDFSPOOL_WORKER_MEMORY"), *old = getenv("ASAN_OPTIONS");
        uint64_t bytes;

        if (!UTIL_ASAN || !env || getenv("PDFSPOOL_WORKER_ASAN_LIMIT") || parse_bytes(env, &bytes) < 0)
                return;
        char *opts = xasprintf("%s%sallocator_may_return_null=1:soft_rss_limit_mb=%" PRIu64,
                               old ? old : "", old && *old ? ":" : "", bytes / (1024 * 1024));
        if (setenv("ASAN_OPTIONS", opts, 1) == 0 && setenv("PDFSPOOL_WORKER_ASAN_LIMIT", "1", 1) == 0)
                (void) execv("/proc/self/exe", argv);
        log_error("cannot restart with an ASan memory limit: %s", strerror(errno));
        free(opts);
}

int main(int argc, char *argv[]) {
        pid_t parent = getppid();
        uint64_t memory_limit = 0;
        fz_context *ctx;
        int r;

        /* A Slurm job's worker (slurm.h): a chunk file instead of the socket. */
        if (argc == 3 && strcmp(argv[1], "--batch") == 0)
                return worker_batch_run(argv[2]);
        if (argc > 1) {
                fprintf(stderr, "%s: takes no arguments: pdfspoold starts it with its socket on fd %d "
                        "(or --batch CHUNK_FILE, as a Slurm job)\n", argv[0], PROTO_WORKER_FD);
                return strcmp(argv[1], "--help") == 0 ? EXIT_SUCCESS : EXIT_PROTOCOL;
        }

        asan_memory_limit(argv);
        if (sandbox_setup(parent, &memory_limit) < 0)
                return EXIT_FAILURE;

        r = check_socket(PROTO_WORKER_FD);
        if (r < 0) {
                log_error("fd %d is not the daemon's seqpacket socket: %s", PROTO_WORKER_FD, strerror(-r));
                return EXIT_PROTOCOL;
        }

        r = sandbox_report_out_of_memory(PROTO_WORKER_FD, memory_limit);
        if (r < 0) {
                log_error("cannot prepare the out-of-memory report: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        ctx = extract_context_new(store_size(memory_limit));
        if (!ctx) {
                /* The worker maps about 55 MiB before it reads anything (most of
                 * it mupdf's built-in fonts), and RLIMIT_AS counts all of it. */
                if (memory_limit > 0)
                        log_error("cannot create the mupdf context: out of memory "
                                  "(PDFSPOOL_WORKER_MEMORY=%" PRIu64 " is too small; give it at least 128 MiB)",
                                  memory_limit);
                else
                        log_error("cannot create the mupdf context: out of memory");
                return EXIT_FAILURE;
        }

        /* After mupdf's context (it loads nothing later) and before the first job. */
        r = sandbox_seccomp_install(PROTO_WORKER_FD);
        if (r < 0) {
                log_error("cannot install the seccomp filter: %s", strerror(-r));
                extract_context_free(ctx);
                return EXIT_FAILURE;
        }
        if (r > 0)
                log_error("seccomp filter off: this build uses AddressSanitizer");

        r = send_hello(PROTO_WORKER_FD);
        if (r == -EPIPE || r == -ECONNRESET)
                r = 0;                          /* the daemon is already gone */
        else if (r < 0) {
                log_error("cannot send hello to the daemon: %s", strerror(-r));
                r = EXIT_FAILURE;
        } else
                r = serve(PROTO_WORKER_FD, ctx);

        extract_context_free(ctx);
        return r;
}
