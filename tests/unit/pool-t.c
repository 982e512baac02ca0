/* pool-t.c: the worker pool (pool.c) on a real spool, with
 * tests/system/fake-worker.py as its worker (no mupdf): every job of a batch
 * ends done; a worker that crashes or hangs fails only its job; and a job
 * never runs without its timeout timer: when the timer cannot be armed, the
 * job stays queued, says it waits, a log line says why, and it runs once the
 * timer can be armed again.
 *
 * The timer's failure is made here: this binary defines
 * sd_event_add_time_relative, which fails with -ENOMEM for a job's timeout
 * (a timer of job_timeout) while fail_job_timer is set, and otherwise calls
 * libsystemd's. */
#include <dlfcn.h>

#include "tap.h"
#include "core-fixture.h"
#include "pool.h"

#define JOB_TIMEOUT_USEC (30 * USEC_PER_SEC) /* job_timeout in fx_setup's YAML */

static bool fail_job_timer;
static unsigned job_timer_failed;

typedef int (*add_time_relative_fn)(sd_event *, sd_event_source **, clockid_t, uint64_t, uint64_t,
                                    sd_event_time_handler_t, void *);

int sd_event_add_time_relative(sd_event *e, sd_event_source **ret, clockid_t clock, uint64_t usec,
                               uint64_t accuracy, sd_event_time_handler_t callback, void *userdata) {
        static add_time_relative_fn real;

        if (fail_job_timer && usec == JOB_TIMEOUT_USEC) {
                job_timer_failed++;
                return -ENOMEM;
        }
        if (!real && !(real = (add_time_relative_fn) dlsym(RTLD_NEXT, "sd_event_add_time_relative")))
                bail_out("dlsym(sd_event_add_time_relative): %s", dlerror());
        return real(e, ret, clock, usec, accuracy, callback, userdata);
}

static struct pool *pool;

static void on_retry(struct queue *q, void *userdata) {
        pool_kick(pool);
}

static bool batch_gone(struct fixture *f, void *claim) {
        return fx_batch(f, claim) == NULL;
}

static bool timer_failed_twice(struct fixture *f, void *arg) {
        return job_timer_failed >= 2;
}

static char *job_status(const struct fixture *f, const char *batch, const char *job, const char *key) {
        char *p = xasprintf("%s/%s/%s/" STATUS_FILE, f->outbox, batch, job);
        char *v = fx_json_str(p, key);
        free(p);
        return v;
}

static bool status_is(const struct fixture *f, const char *batch, const char *job, const char *key,
                      const char *needle) {
        char *v = job_status(f, batch, job, key);
        bool r = v && strstr(v, needle);
        if (!r)
                diag("     %s/%s %s: %s (expected to hold \"%s\")", batch, job, key, v ? v : "(null)", needle);
        free(v);
        return r;
}

static void test_all_done(struct fixture *f) {
        const char *files[] = { "p1.pdf", "p2.pdf", "p3.pdf", "p4.pdf", "p5.pdf", NULL };
        const char *claim = "3000.000001.h.1.a";

        fx_make_claim(f, claim, "P1", files);
        ok(fx_register(f, claim, "P1", files) != NULL, "batch P1 of 5 jobs adopted");
        pool_kick(pool);
        ok(fx_run_until(f, batch_gone, (void *) claim, 10 * USEC_PER_SEC), "batch P1 finished within 10 s");
        for (size_t i = 0; files[i]; i++) {
                char *job = xstrndup(files[i], 2);
                ok(status_is(f, "P1", job, "state", "done"), "job %s done", job);
                free(job);
        }
        is_int(f->spool->jobs_done, 5, "the spool counts 5 jobs done");
        char *p = fx_path(f, "state/q/finished/%s/final.json", claim);
        ok(fx_exists(p), "the batch moved to finished/");
        free(p);
}

static void test_no_job_without_timer(struct fixture *f, const char *log) {
        const char *files[] = { "t.pdf", NULL };
        const char *claim = "3000.000002.h.1.a";
        struct batch *b;

        fx_make_claim(f, claim, "T", files);
        b = fx_register(f, claim, "T", files);
        ok(b != NULL, "batch T adopted");
        fail_job_timer = true;
        pool_kick(pool);
        ok(job_timer_failed >= 1, "the pool asked for the job's timeout timer, and got -ENOMEM");
        struct job *j = &b->jobs[0];
        is_str(job_state_to_string(j->state), "queued", "the job did not start: it stays queued");
        is_int(j->attempts, 0, "no attempt counted");
        ok(pool_busy(pool) == 0, "no worker runs it");
        char *tmp = fx_path(f, "outbox/T/.pdfspool-tmp.0");
        ok(!fx_exists(tmp), "no temp folder made for it");
        ok(status_is(f, "T", "t", "state", "queued"), "its status says queued");
        ok(status_is(f, "T", "t", "error", "deferred: cannot arm the job's timeout"),
           "its status says it waits, and why");
        fflush(stderr);
        ok(fx_file_contains(log, "cannot arm the job's timeout"), "a log line says why");

        /* The deferral ends while the timer still cannot be armed: still not started. */
        ok(fx_run_until(f, timer_failed_twice, NULL, 5 * USEC_PER_SEC), "retried after the deferral");
        is_str(job_state_to_string(j->state), "queued", "still queued after the retry");
        is_int(j->attempts, 0, "still no attempt");
        ok(!fx_exists(tmp), "still no temp folder");
        free(tmp);

        fail_job_timer = false;
        ok(fx_run_until(f, batch_gone, (void *) claim, 15 * USEC_PER_SEC),
           "once the timer can be armed, the job runs when the deferral ends");
        ok(status_is(f, "T", "t", "state", "done"), "job t done");
}

/* A worker that crashes or hangs fails only its own job, with the reason. */
static void test_worker_faults(struct fixture *f) {
        const char *files[] = { "crash.pdf", "hang.pdf", "fine.pdf", NULL };
        const char *claim = "3000.000003.h.1.a";
        struct batch *b;

        fx_make_claim(f, claim, "W", files);
        b = fx_register(f, claim, "W", files);
        ok(b != NULL, "batch W adopted");
        if (!b)
                return;
        b->job_timeout_usec = USEC_PER_SEC; /* as a manifest's job_timeout would */
        pool_kick(pool);
        ok(fx_run_until(f, batch_gone, (void *) claim, 15 * USEC_PER_SEC), "batch W finished within 15 s");
        ok(status_is(f, "W", "crash", "state", "failed"), "the crashing job failed");
        ok(status_is(f, "W", "crash", "error", "SIGSEGV"), "saying the worker was killed by SIGSEGV");
        ok(status_is(f, "W", "hang", "state", "failed"), "the hanging job failed");
        ok(status_is(f, "W", "hang", "error", "timed out"), "saying it timed out");
        ok(status_is(f, "W", "fine", "state", "done"), "the good job is done");
}

int main(void) {
        const char *top = getenv("top_srcdir");
        char *worker = xasprintf("%s/tests/system/fake-worker.py", top && *top ? top : ".");
        struct fixture f;

        if (system("command -v python3 >/dev/null 2>&1") != 0) {
                skip("python3 is not installed: tests/system/fake-worker.py cannot run");
                free(worker);
                return done_testing();
        }
        if (access(worker, X_OK) < 0) {
                skip("%s not found (set top_srcdir)", worker);
                free(worker);
                return done_testing();
        }
        fx_setup(&f, "pool-t", 2, NULL);
        /* The daemon's log goes to stderr: keep it in a file to look for lines. */
        char *log = fx_path(&f, "log");
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                bail_out("cannot send stderr to %s: %m", log);
        close(fd);
        f.spool->on_retry = on_retry;
        is_int(pool_new(f.spool, worker, &pool), 0, "pool_new with the fake worker");

        test_all_done(&f);
        test_no_job_without_timer(&f, log);
        test_worker_faults(&f);

        pool_free(pool);
        if (tap_failed) {
                /* What the daemon said, for whoever reads a failure. */
                char *text = NULL;
                if (fs_read_file(AT_FDCWD, log, 1 << 20, &text, NULL) == 0)
                        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
                                diag("log: %s", line);
                free(text);
        }
        fx_teardown(&f);
        free(log);
        free(worker);
        return done_testing();
}
