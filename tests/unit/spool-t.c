/* spool-t.c: the store (spool.c): every job transition, finishing a batch,
 * recovery from each on-disk state, and the check of finished batches. A real
 * state dir and outbox in a temp dir, a real sd_event; no worker, no mupdf. */
#include "tap.h"
#include "core-fixture.h"

#define CLAIM "1000.000001.h.1.a"

static char *job_status(const struct fixture *f, const char *batch, const char *job, const char *key) {
        char *p = xasprintf("%s/%s/%s/" STATUS_FILE, f->outbox, batch, job);
        char *v = fx_json_str(p, key);
        free(p);
        return v;
}

static char *job_record(const struct fixture *f, const char *claim, unsigned index, const char *key) {
        char *p = xasprintf("%s/%s/jobs/%u.json", f->q->claims_path, claim, index);
        char *v = fx_json_str(p, key);
        free(p);
        return v;
}

static bool str_has(char *s, const char *needle) {
        bool r = s && strstr(s, needle);
        free(s);
        return r;
}

static bool str_eq(char *s, const char *want) {
        bool r = s && strcmp(s, want) == 0;
        if (!r)
                diag("     got: %s, expected %s", s ? s : "(null)", want);
        free(s);
        return r;
}

/* The test's own deferrals are over (the real ones wait a second and more). */
static void end_deferral(struct queue *q) {
        q->defer_until = 0;
        spool_queue_succeeded(q);
}

/* As an executor starts a job: the start, then, the job handed over, its announce. */
static int start(struct job *j, char **out) {
        char *pdf = NULL;
        int r = spool_job_start(j, &pdf, out);
        free(pdf);
        if (r == 0)
                spool_job_announce(j);
        return r;
}

static void test_transitions(struct fixture *f) {
        const char *files[] = { "a.pdf", "b.pdf", "c.pdf", "d.pdf", "e.pdf", "f.pdf", NULL };
        char *out = NULL, *pdf = NULL, *p;
        struct batch *b;
        struct job *j;

        fx_make_claim(f, CLAIM, "B1", files);
        b = fx_register(f, CLAIM, "B1", files);
        ok(b != NULL, "adopted batch is in the store");
        is_int(b->counts[JOB_QUEUED], 6, "all 6 jobs queued");
        p = fx_path(f, "outbox/B1/" STATUS_FILE);
        ok(str_eq(fx_json_str(p, "state"), "queued"), "outbox batch status says queued");
        free(p);
        ok(str_eq(job_status(f, "B1", "a", "state"), "queued"), "a job's outbox status says queued");

        /* queued -> processing */
        j = &b->jobs[0];
        is_int(spool_job_start(j, &pdf, &out), 0, "spool_job_start");
        is_int(j->state, JOB_PROCESSING, "job a is processing");
        is_int(j->attempts, 1, "one attempt counted");
        p = fx_path(f, "outbox/B1/.pdfspool-tmp.0");
        is_str(out, p, "the worker writes into the job's temp folder");
        ok(fx_exists(p), "temp folder made");
        free(p);
        ok(pdf && strstr(pdf, "/" CLAIM "/src/B1/a.pdf"), "the PDF's path is in the claim: %s", pdf);
        ok(!str_eq(job_record(f, CLAIM, 0, "state"), "processing"),
           "the start is not recorded before the job is handed over");
        spool_job_announce(j);
        ok(str_eq(job_record(f, CLAIM, 0, "state"), "processing"), "jobs/0.json says processing");
        ok(str_eq(job_status(f, "B1", "a", "state"), "processing"), "outbox status says processing");
        is_int(b->counts[JOB_PROCESSING], 1, "count processing");
        free(pdf);

        /* processing -> done: the worker's outputs moved into place */
        fx_write_outputs(out);
        is_int(spool_job_finish(j, JOB_DONE, 3, NULL), 0, "spool_job_finish done");
        is_int(j->state, JOB_DONE, "job a is done");
        for (size_t k = 0; model_job_outputs[k]; k++) {
                p = xasprintf("%s/B1/a/%s", f->outbox, model_job_outputs[k]);
                ok(fx_exists(p), "output %s moved into the job's folder", model_job_outputs[k]);
                free(p);
        }
        p = fx_path(f, "outbox/B1/a/a.pdf");
        ok(fx_exists(p), "original kept beside the outputs");
        free(p);
        ok(!fx_exists(out), "temp folder gone");
        free(out);
        ok(str_eq(job_status(f, "B1", "a", "state"), "done"), "outbox status says done");
        ok(str_eq(job_record(f, CLAIM, 0, "state"), "done"), "jobs/0.json says done");
        is_int(b->counts[JOB_DONE], 1, "count done");
        is_int(b->pages_done, 3, "pages counted");
        is_int(f->spool->jobs_done, 1, "spool counts the job done");

        /* processing -> failed: the reason kept, partial outputs not */
        j = &b->jobs[1];
        is_int(start(j, &out), 0, "job b started");
        fx_write_outputs(out);
        is_int(spool_job_finish(j, JOB_FAILED, 0, "encrypted PDF: a password is required"), 0, "finish failed");
        is_int(j->state, JOB_FAILED, "job b failed");
        ok(str_eq(job_status(f, "B1", "b", "error"), "encrypted PDF: a password is required"), "status says why");
        ok(str_eq(job_status(f, "B1", "b", "state"), "failed"), "outbox status says failed");
        p = fx_path(f, "outbox/B1/b/" OUTPUT_TEXT);
        ok(!fx_exists(p), "a failed job's partial outputs are not kept");
        free(p);
        p = fx_path(f, "outbox/B1/b/b.pdf");
        ok(fx_exists(p), "a failed job keeps its original");
        free(p);
        free(out);
        is_int(b->counts[JOB_FAILED], 1, "count failed");

        /* processing -> queued (a graceful stop) */
        j = &b->jobs[2];
        is_int(start(j, &out), 0, "job c started");
        is_int(spool_job_requeue(j), 0, "spool_job_requeue");
        is_int(j->state, JOB_QUEUED, "job c queued again");
        is_int(j->attempts, 0, "a stop is no attempt");
        ok(!fx_exists(out), "its temp folder removed");
        free(out);
        ok(str_eq(job_record(f, CLAIM, 2, "state"), "queued"), "jobs/2.json says queued");
        ok(str_eq(job_status(f, "B1", "c", "state"), "queued"), "outbox status says queued");
        is_int(b->counts[JOB_PROCESSING], 0, "nothing processing");

        /* deferred: a fault of the spool's resources, not the PDF's */
        j = &b->jobs[3];
        is_int(start(j, &out), 0, "job d started");
        ok(!queue_deferred(f->q), "queue not deferred before");
        spool_job_defer(j, "test: the disk is full", -ENOSPC);
        is_int(j->state, JOB_QUEUED, "deferred job is queued");
        is_int(j->attempts, 0, "no attempt counted");
        ok(queue_deferred(f->q), "its queue is deferred");
        ok(str_has(job_status(f, "B1", "d", "error"), "deferred: test: the disk is full"),
           "job status says deferred and why");
        ok(str_eq(job_status(f, "B1", "d", "state"), "queued"), "job status says queued");
        free(out);
        end_deferral(f->q);

        /* Outputs that cannot be moved into place: never done. */
        j = &b->jobs[4];
        is_int(start(j, &out), 0, "job e started");
        fx_write_outputs(out);
        p = fx_path(f, "outbox/B1/e");
        ok(fs_remove_tree(AT_FDCWD, p) == 0, "job e's folder removed");
        fx_write(p, "a regular file where the job's folder belongs\n");
        ok(spool_job_finish(j, JOB_DONE, 2, NULL) < 0, "finish done with its folder a regular file: an error");
        ok(j->state != JOB_DONE, "job e is not done (state %s)", job_state_to_string(j->state));
        ok(j->state == JOB_QUEUED || j->state == JOB_FAILED, "it is queued or failed");
        ok(j->error && *j->error, "with a reason: %s", j->error ? j->error : "(none)");
        ok(!str_has(job_record(f, CLAIM, 4, "state"), "done"), "jobs/4.json does not say done");
        is_int(b->counts[JOB_DONE], 1, "done count unchanged");
        is_int(b->pages_done, 3, "pages unchanged");
        free(out);
        end_deferral(f->q);
        (void) unlink(p);
        free(p);

        /* A worker that said ok but whose outputs are not in its temp folder. */
        j = &b->jobs[5];
        is_int(start(j, &out), 0, "job f started");
        p = xasprintf("%s/" OUTPUT_META, out);
        fx_write(p, "{}");
        free(p);
        (void) spool_job_finish(j, JOB_DONE, 1, NULL);
        p = fx_path(f, "outbox/B1/f/" OUTPUT_TEXT);
        ok(j->state != JOB_DONE && !fx_exists(p), "job f with text.txt missing is not done (state %s)",
           job_state_to_string(j->state));
        ok(j->error && strstr(j->error, "missing"), "its status says an output is missing: %s",
           j->error ? j->error : "(none)");
        free(p);
        free(out);
        end_deferral(f->q);
}

/* Every job to an end: the batch leaves the claims for finished/. */
static void test_batch_finish(struct fixture *f) {
        struct batch *b = fx_batch(f, CLAIM);
        char *out, *p;

        for (size_t i = 0; b && i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                if (j->state != JOB_QUEUED)
                        continue;
                if (start(j, &out) < 0)
                        bail_out("cannot start job %zu", i);
                fx_write_outputs(out);
                free(out);
                if (spool_job_finish(j, JOB_DONE, 1, NULL) < 0)
                        bail_out("cannot finish job %zu", i);
                if (!fx_batch(f, CLAIM))
                        break;
        }
        ok(fx_batch(f, CLAIM) == NULL, "a batch whose jobs all ended leaves memory");
        p = fx_path(f, "state/q/finished/" CLAIM "/final.json");
        ok(fx_exists(p), "its claim moved to finished/, with final.json");
        free(p);
        p = fx_claim_path(f, CLAIM);
        ok(!fx_exists(p), "no longer among the claims");
        free(p);
        p = fx_path(f, "outbox/B1/" STATUS_FILE);
        ok(str_eq(fx_json_str(p, "state"), "done"), "outbox batch status says done");
        free(p);
}

/* spool_check_finished: the outbox status of a finished batch agrees with final.json. */
static void test_check_finished(struct fixture *f) {
        char *p = fx_path(f, "outbox/B1/" STATUS_FILE);

        fx_write(p, "{\"state\":\"processing\"}\n");
        is_int(spool_check_finished(f->q), 0, "spool_check_finished");
        ok(str_eq(fx_json_str(p, "state"), "done"), "an edited status is rewritten to done");
        (void) unlink(p);
        is_int(spool_check_finished(f->q), 0, "spool_check_finished again");
        ok(str_eq(fx_json_str(p, "state"), "done"), "a deleted status is written again");
        free(p);
        p = fx_path(f, "outbox/B1");
        ok(fs_remove_tree(AT_FDCWD, p) == 0, "the batch's outbox folder removed");
        is_int(spool_check_finished(f->q), 0, "spool_check_finished with the folder gone");
        ok(!fx_exists(p), "a removed outbox folder is left alone");
        free(p);
}

/* The batch status cannot be written when the batch ends: it stays a batch
 * (in memory and in the claims) until the status is in place, then finishes. */
static void test_finish_blocked(struct fixture *f) {
        const char *files[] = { "k.pdf", NULL };
        const char *claim = "1500.000001.h.1.a";
        char *out, *p, *st = fx_path(f, "outbox/FB/" STATUS_FILE);

        fx_make_claim(f, claim, "FB", files);
        struct batch *b = fx_register(f, claim, "FB", files);
        if (!b || start(&b->jobs[0], &out) < 0)
                bail_out("cannot start FB's job");
        fx_write_outputs(out);
        free(out);
        /* A non-empty folder where the status file goes: no rename can replace it. */
        (void) unlink(st);
        p = xasprintf("%s/blocker", st);
        fx_write(p, "");
        is_int(spool_job_finish(&b->jobs[0], JOB_DONE, 1, NULL), 0, "the last job is done");
        ok(fx_batch(f, claim) != NULL, "the batch stays while its final status cannot be written");
        ok(queue_deferred(f->q), "the queue is deferred");
        char *fin = fx_path(f, "state/q/finished/%s", claim), *cp = fx_claim_path(f, claim);
        ok(!fx_exists(fin) && fx_exists(cp), "it is still among the claims, not in finished/");
        (void) unlink(p);
        (void) rmdir(st);
        end_deferral(f->q);
        spool_queue_refresh(f->q);
        ok(fx_batch(f, claim) == NULL, "after the fault, spool_queue_refresh finishes it");
        ok(fx_exists(fin) && !fx_exists(cp), "moved to finished/");
        ok(str_eq(fx_json_str(st, "state"), "done"), "its outbox status says done");
        free(fin);
        free(cp);
        free(p);
        free(st);
}

/* A person removes the batch's outbox folder while a job runs: the job is not
 * recorded done without its outputs; run again, it is done and its folder is back. */
static void test_outbox_removed(struct fixture *f) {
        const char *files[] = { "m.pdf", NULL };
        const char *claim = "1600.000001.h.1.a";
        char *out, *p;

        fx_make_claim(f, claim, "OR", files);
        struct batch *b = fx_register(f, claim, "OR", files);
        struct job *j = b ? &b->jobs[0] : NULL;
        if (!j || start(j, &out) < 0)
                bail_out("cannot start OR's job");
        p = fx_path(f, "outbox/OR");
        ok(fs_remove_tree(AT_FDCWD, p) == 0, "the batch's outbox folder removed while its job runs");
        (void) spool_job_finish(j, JOB_DONE, 1, NULL); /* the worker's outputs went with the folder */
        ok(j->state != JOB_DONE, "the job is not done without its outputs (state %s)", job_state_to_string(j->state));
        free(out);
        end_deferral(f->q);
        is_int(start(j, &out), 0, "started again");
        fx_write_outputs(out);
        free(out);
        is_int(spool_job_finish(j, JOB_DONE, 1, NULL), 0, "and finished"); /* J and B are freed: the batch ended */
        ok(fx_batch(f, claim) == NULL, "its batch ended");
        ok(str_eq(job_status(f, "OR", "m", "state"), "done"), "the job's status says done");
        char *text = fx_path(f, "outbox/OR/m/" OUTPUT_TEXT);
        ok(fx_exists(text), "its outputs are in the recreated folder");
        free(text);
        free(p);
}

/* ---- recovery: a restart at each on-disk state ---- */

#define C_UNREG "2000.000001.h.1.a"
#define C_FRESH "2000.000002.h.1.a"
#define C_PROC "2000.000003.h.1.a"
#define C_ENDED "2000.000004.h.1.a"
#define C_GARBLED "2000.000005.h.1.a"
#define C_DIRREC "2000.000006.h.1.a"

static int resume(struct fixture *f, const char *claim) {
        int r = spool_batch_resume(f->q, claim);
        fx_project(f, claim);
        return r;
}

static void test_recovery(struct fixture *f) {
        const char *files[] = { "x.pdf", "y.pdf", "z.pdf", NULL };
        char *out, *p;
        struct batch *b;

        fx_make_claim(f, C_UNREG, "U", files);
        fx_make_claim(f, C_FRESH, "R2", files);
        (void) fx_register(f, C_FRESH, "R2", files);
        fx_make_claim(f, C_PROC, "R3", files);
        b = fx_register(f, C_PROC, "R3", files);
        if (start(&b->jobs[0], &out) < 0)
                bail_out("cannot start");
        free(out);
        p = fx_path(f, "outbox/R3/.pdfspool-tmp.0");
        ok(fx_exists(p), "a crash leaves the temp folder of a running job");
        free(p);
        p = fx_path(f, "state/q/claims/%s/" C_PROC "/jobs/.pdfspool-tmp.7", f->spool->instance);
        fx_write(p, "half a record");
        free(p);
        fx_make_claim(f, C_ENDED, "R4", files);
        b = fx_register(f, C_ENDED, "R4", files);
        if (start(&b->jobs[0], &out) < 0)
                bail_out("cannot start");
        fx_write_outputs(out);
        free(out);
        (void) spool_job_finish(&b->jobs[0], JOB_DONE, 5, NULL);
        if (start(&b->jobs[1], &out) < 0)
                bail_out("cannot start");
        free(out);
        (void) spool_job_finish(&b->jobs[1], JOB_FAILED, 0, "damaged PDF");
        fx_make_claim(f, C_GARBLED, "R5", files);
        (void) fx_register(f, C_GARBLED, "R5", files);
        fx_make_claim(f, C_DIRREC, "R6", files);
        (void) fx_register(f, C_DIRREC, "R6", files);

        /* A job that was running at 3 crashes in a row: not tried a 4th time. */
        p = xasprintf("%s/" C_PROC "/jobs/1.json", f->q->claims_path);
        fx_write(p, "{\"state\":\"processing\",\"attempts\":3,\"error\":null,\"pages\":0,\"started\":1,"
                    "\"finished\":0,\"seconds\":0}");
        free(p);

        fx_reopen_spool(f);
        p = xasprintf("%s/" C_GARBLED "/jobs/1.json", f->q->claims_path);
        fx_write(p, "{\"state\": \"done\", \"att");
        free(p);
        p = xasprintf("%s/" C_DIRREC "/jobs/2.json", f->q->claims_path);
        ok(mkdir(p, 0700) == 0, "a directory where job record 2.json belongs");
        free(p);

        char **claims = NULL;
        size_t n = 0;
        is_int(spool_claims(f->q, &claims, &n), 0, "spool_claims");
        is_int(n, 6, "six claims listed");
        ok(n == 6 && strcmp(claims[0], C_UNREG) == 0 && strcmp(claims[5], C_DIRREC) == 0, "oldest first");
        for (size_t i = 0; i < n; i++)
                free(claims[i]);
        free(claims);

        is_int(spool_claim_registered(f->q, C_UNREG), 0, "a claim without batch.json is not registered");
        is_int(spool_claim_registered(f->q, C_FRESH), 1, "a claim with batch.json is registered");
        ok(!spool_batch_loaded(f->q, C_FRESH), "nothing loaded before resume");

        is_int(resume(f, C_FRESH), 0, "resume: no job records");
        b = fx_batch(f, C_FRESH);
        ok(b && b->counts[JOB_QUEUED] == 3, "all its jobs queued");

        is_int(resume(f, C_PROC), 0, "resume: a job record says processing");
        b = fx_batch(f, C_PROC);
        ok(b && b->jobs[0].state == JOB_QUEUED, "the interrupted job is queued again");
        ok(b && b->jobs[0].attempts == 1, "its attempt is kept");
        p = fx_path(f, "outbox/R3/.pdfspool-tmp.0");
        ok(!fx_exists(p), "stale temp folder in the outbox removed");
        free(p);
        p = xasprintf("%s/" C_PROC "/jobs/.pdfspool-tmp.7", f->q->claims_path);
        ok(!fx_exists(p), "stale temp file in jobs/ removed");
        free(p);
        ok(str_eq(job_status(f, "R3", "x", "state"), "queued"), "its outbox status says queued");
        ok(b && b->jobs[1].state == JOB_FAILED, "a job interrupted 3 times is failed, not run again");
        ok(b && b->jobs[1].error && strstr(b->jobs[1].error, "interrupted 3 times"), "saying so: %s",
           b && b->jobs[1].error ? b->jobs[1].error : "(none)");
        ok(str_eq(job_record(f, C_PROC, 1, "state"), "failed"), "and its record says failed");
        ok(str_eq(job_status(f, "R3", "y", "state"), "failed"), "and its outbox status");

        is_int(resume(f, C_ENDED), 0, "resume: records say done and failed");
        b = fx_batch(f, C_ENDED);
        ok(b && b->jobs[0].state == JOB_DONE && b->jobs[0].pages == 5, "done job stays done, pages kept");
        ok(b && b->jobs[1].state == JOB_FAILED && b->jobs[1].error && strcmp(b->jobs[1].error, "damaged PDF") == 0,
           "failed job stays failed with its reason");
        ok(b && b->jobs[2].state == JOB_QUEUED, "the job never started is queued");
        ok(b && b->counts[JOB_DONE] == 1 && b->counts[JOB_FAILED] == 1 && b->counts[JOB_QUEUED] == 1, "counts");

        ok(spool_batch_resume(f->q, C_GARBLED) < 0, "resume: an unparsable job record is an error");
        ok(!spool_batch_loaded(f->q, C_GARBLED), "that batch waits, not loaded smaller");
        is_int(spool_claim_registered(f->q, C_GARBLED), 1, "and its claim is kept");
        ok(spool_batch_resume(f->q, C_DIRREC) < 0, "resume: a job record that cannot be read is an error");
        ok(!spool_batch_loaded(f->q, C_DIRREC), "that batch waits too");
        p = xasprintf("%s/" C_DIRREC "/batch.json", f->q->claims_path);
        ok(fx_exists(p), "its batch record is kept");
        free(p);
        end_deferral(f->q);
}

/* ---- deferral: a fault of the spool's resources holds the queue a while ---- */

static unsigned retries;

static void on_retry(struct queue *q, void *userdata) {
        retries++;
}

static bool retried(struct fixture *f, void *arg) {
        return retries > 0;
}

static void test_defer(struct fixture *f) {
        f->spool->on_retry = on_retry;
        uint64_t t0 = now_usec(CLOCK_REALTIME);
        const char *why = spool_defer(f->q, "test: cannot write", -EIO);
        ok(why && strstr(why, "test: cannot write: Input/output error; retry at "), "the reason says what and when: %s",
           why ? why : "(null)");
        ok(queue_deferred(f->q), "the queue is deferred");
        uint64_t until = f->q->defer_until;
        ok(until >= t0 + 900 * USEC_PER_MSEC && until <= t0 + 1500 * USEC_PER_MSEC, "for about 1 s first");
        (void) spool_defer(f->q, "test: another fault", -EIO);
        is_int(f->q->defer_until, until, "a second fault while deferred does not push the retry further out");
        ok(fx_run_until(f, retried, NULL, 5 * USEC_PER_SEC), "on_retry runs when the deferral is over");
        ok(now_usec(CLOCK_REALTIME) >= until - 100 * USEC_PER_MSEC, "not before");
        ok(!queue_deferred(f->q), "the queue is no longer deferred");
        t0 = now_usec(CLOCK_REALTIME);
        (void) spool_defer(f->q, "test: the fault again", -EIO);
        ok(f->q->defer_until >= t0 + 1900 * USEC_PER_MSEC, "a fault that persists waits longer (2 s)");
        spool_queue_succeeded(f->q);
        ok(queue_deferred(f->q), "success reported while deferred changes nothing");
        f->q->defer_until = 0;
        spool_queue_succeeded(f->q);
        is_int(f->q->defer_count, 0, "after a success the next fault starts again at 1 s");
        ok(f->q->defer_reason == NULL, "and the reason is cleared");
        f->spool->on_retry = NULL;
}

int main(void) {
        struct fixture f;

        fx_setup(&f, "spool-t", 1, NULL);
        test_transitions(&f);
        test_batch_finish(&f);
        test_check_finished(&f);
        test_finish_blocked(&f);
        test_outbox_removed(&f);
        test_recovery(&f);
        test_defer(&f);
        fx_teardown(&f);
        return done_testing();
}
