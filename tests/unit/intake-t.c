/* intake-t.c: when is a drop complete (intake.c). The rule, intake_wait(), with
 * the clock given by the test; then a real inbox watched on a real loop with a
 * short settle period: a ready folder is reported once, a manifest with the
 * folder it lists once, a stray top-level file is rejected with a status, the
 * daemon's own hidden names never count. */
#include "tap.h"
#include "core-fixture.h"
#include "classify.h"
#include "intake.h"

#define MS USEC_PER_MSEC
#define S USEC_PER_SEC

static void test_rule(void) {
        struct queue_config qc = { .settle_usec = 2 * S, .incomplete_wait_usec = 300 * S };
        const uint64_t now = 1000 * S;
        struct intake_look l;

        /* The check interval is settle/4 (500 ms here), within 100 ms .. 1 s. */
        l = (struct intake_look) { .stable_since = now - 1800 * MS };
        is_int(intake_wait(&qc, &l, now), 200 * MS, "settle not reached: waits the rest (200 ms)");
        l = (struct intake_look) { .stable_since = now - 500 * MS };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "1.5 s to go: waits one check interval (500 ms)");
        l = (struct intake_look) { .stable_since = now + 5 * S };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "a change in the future counts as just now");
        l = (struct intake_look) { .stable_since = now - 2 * S };
        is_int(intake_wait(&qc, &l, now), 0, "settle reached: take it");
        l = (struct intake_look) { .stable_since = now - 60 * S };
        is_int(intake_wait(&qc, &l, now), 0, "quiet for a minute: take it");

        l = (struct intake_look) { .ready_marker = true, .stable_since = now };
        is_int(intake_wait(&qc, &l, now), 0, "ready marker: take it at once");

        l = (struct intake_look) { .manifest = true, .stable_since = now - 150 * MS };
        is_int(intake_wait(&qc, &l, now), 0, "a manifest needs only the short quiet period (100 ms)");
        l = (struct intake_look) { .manifest = true, .stable_since = now - 40 * MS };
        is_int(intake_wait(&qc, &l, now), 60 * MS, "a manifest quiet for 40 ms waits 60 ms more");

        l = (struct intake_look) { .writer = true, .stable_since = now - 60 * S };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "quiet but a writer holds a file: waits");
        l = (struct intake_look) { .writer = true, .ready_marker = true, .stable_since = now };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "a writer holds it even with the ready marker");

        l = (struct intake_look) { .incomplete = true, .stable_since = now - 3 * S };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "a cut-short file waits (one interval at a time)");
        l = (struct intake_look) { .incomplete = true, .stable_since = now - 300 * S + 100 * MS };
        is_int(intake_wait(&qc, &l, now), 100 * MS, "a cut-short file waits until incomplete_wait (100 ms left)");
        l = (struct intake_look) { .incomplete = true, .stable_since = now - 300 * S };
        is_int(intake_wait(&qc, &l, now), 0, "after incomplete_wait it is taken");

        /* A look that takes long spaces the looks out: 4 x the walk. */
        l = (struct intake_look) { .writer = true, .stable_since = now - 60 * S, .walk_usec = 1 * S };
        is_int(intake_wait(&qc, &l, now), 4 * S, "a 1 s walk: looks 4 s apart");
        l = (struct intake_look) { .stable_since = now - 1 * S, .walk_usec = 1 * S };
        is_int(intake_wait(&qc, &l, now), 1 * S, "but never past the end of the settle period");
        l = (struct intake_look) { .writer = true, .stable_since = now - 60 * S, .walk_usec = 10 * MS };
        is_int(intake_wait(&qc, &l, now), 500 * MS, "a 10 ms walk changes nothing");

        qc.settle_usec = 60 * S;
        l = (struct intake_look) { .stable_since = now };
        is_int(intake_wait(&qc, &l, now), 1 * S, "a long settle period: looks at most 1 s apart");
        qc.settle_usec = 0;
        l = (struct intake_look) { .writer = true, .stable_since = now };
        is_int(intake_wait(&qc, &l, now), 100 * MS, "settle 0: looks at least 100 ms apart");
}

/* ---- a real inbox ---- */

struct seen {
        char names[16][64];
        uint64_t at[16];        /* CLOCK_MONOTONIC when reported */
        unsigned n;
        char *taken_dir;
};

static int on_drop_ready(struct queue *q, const char *name, void *userdata) {
        struct seen *s = userdata;
        char *from = xasprintf("%s/%s", q->cfg->inbox, name), *to = xasprintf("%s/%s", s->taken_dir, name);
        int r = rename(from, to) < 0 ? -errno : 0; /* taken, like a claim */

        if (s->n < 16) {
                snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
                s->at[s->n] = now_usec(CLOCK_MONOTONIC);
        }
        s->n++;
        free(from);
        free(to);
        return r;
}

static unsigned manifest_missing = 99;

/* Like claim_manifest: the listed files' top folders go too, then the manifest. */
static int on_manifest_ready(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                             size_t n_missing, void *userdata) {
        struct seen *s = userdata;

        manifest_missing = (unsigned) n_missing;
        for (size_t i = 0; i < m->n_files; i++) {
                char *top = xstrndup(m->files[i].path, strcspn(m->files[i].path, "/"));
                char *from = xasprintf("%s/%s", q->cfg->inbox, top), *to = xasprintf("%s/%s", s->taken_dir, top);
                (void) rename(from, to);
                free(from);
                free(to);
                free(top);
        }
        return on_drop_ready(q, name, userdata);
}

static const struct intake_handlers handlers = { .drop_ready = on_drop_ready, .manifest_ready = on_manifest_ready };

static unsigned times_seen(const struct seen *s, const char *name) {
        unsigned n = 0;
        for (unsigned i = 0; i < s->n && i < 16; i++)
                n += strcmp(s->names[i], name) == 0;
        return n;
}

struct expect {
        struct seen *seen;
        const char *rejected_status;
};

static bool all_arrived(struct fixture *f, void *arg) {
        struct expect *e = arg;
        return times_seen(e->seen, "F") > 0 && times_seen(e->seen, "G") > 0 &&
               times_seen(e->seen, "r.batch.yaml") > 0 && fx_exists(e->rejected_status);
}

static bool never(struct fixture *f, void *arg) {
        return false;
}

static void test_loop(void) {
        struct fixture f;
        struct seen seen = {};

        fx_setup(&f, "intake-t", 1, "    settle: 200ms\n");
        seen.taken_dir = fx_path(&f, "taken");
        if (mkdir(seen.taken_dir, 0755) < 0)
                bail_out("mkdir: %m");
        char *p = fx_path(&f, "inbox/F/a.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        p = fx_path(&f, "inbox/F/.ready");
        fx_write(p, "");
        free(p);
        p = fx_path(&f, "inbox/" CLASSIFY_DAEMON_PREFIX "1000.1.h.1.a/b.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        p = fx_path(&f, "inbox/notes.txt");
        fx_write(p, "not a PDF\n");
        free(p);

        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        is_int(intake_start(f.q, &handlers, &seen), 0, "intake_start");
        ok(f.q->intake != NULL, "the queue has its intake");
        /* One more, made while it watches. */
        p = fx_path(&f, "inbox/G/c.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        uint64_t g_made = now_usec(CLOCK_MONOTONIC);
        /* A manifest and the folder it lists: one batch, the folder no drop of its own. */
        p = fx_path(&f, "inbox/M/x.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        p = fx_path(&f, "inbox/r.batch.yaml");
        fx_write(p, "batch: r\nfiles:\n  - path: M/x.pdf\n");
        free(p);

        struct expect e = { .seen = &seen, .rejected_status = fx_path(&f, "outbox/rejected/notes.txt.status.json") };
        ok(fx_run_until(&f, all_arrived, &e, 10 * S), "F, G, the manifest reported and notes.txt rejected");
        uint64_t took = now_usec(CLOCK_MONOTONIC) - t0;
        diag("took %" PRIu64 " ms", took / MS);
        /* A little longer than a settle period more: nothing is reported twice. */
        (void) fx_run_until(&f, never, NULL, 500 * MS);
        is_int(times_seen(&seen, "F"), 1, "the folder with the ready marker is reported exactly once");
        is_int(times_seen(&seen, "G"), 1, "the folder without marker is reported once, after settling");
        for (unsigned i = 0; i < seen.n && i < 16; i++)
                if (strcmp(seen.names[i], "G") == 0)
                        ok(seen.at[i] - g_made >= 200 * MS, "G was reported only after the settle period (%" PRIu64
                           " ms)", (seen.at[i] - g_made) / MS);
        is_int(times_seen(&seen, "notes.txt"), 0, "the .txt file is not reported as a drop");
        is_int(times_seen(&seen, CLASSIFY_DAEMON_PREFIX "1000.1.h.1.a"), 0, "a hidden claim name is never reported");
        is_int(times_seen(&seen, "r.batch.yaml"), 1, "the manifest is reported once");
        is_int(manifest_missing, 0, "with none of its files missing");
        is_int(times_seen(&seen, "M"), 0, "the folder it lists is not a drop of its own");
        is_int(seen.n, 3, "nothing else reported");
        char *state = fx_json_str(e.rejected_status, "state"), *reason = fx_json_str(e.rejected_status, "reason");
        is_str(state, "rejected", "the rejected file's status says rejected");
        ok(reason && *reason, "and why: %s", reason ? reason : "(none)");
        free(state);
        free(reason);
        p = fx_path(&f, "outbox/rejected/notes.txt");
        ok(fx_exists(p), "the rejected file is kept in outbox/rejected/");
        free(p);
        p = fx_path(&f, "inbox/notes.txt");
        ok(!fx_exists(p), "and it left the inbox");
        free(p);
        p = fx_path(&f, "inbox/" CLASSIFY_DAEMON_PREFIX "1000.1.h.1.a/b.pdf");
        ok(fx_exists(p), "the hidden claim name is left as it is");
        free(p);

        intake_stop(f.q);
        ok(f.q->intake == NULL, "intake_stop clears the queue's intake");
        intake_stop(f.q);
        ok(f.q->intake == NULL, "intake_stop on a queue without intake");
        free((char *) e.rejected_status);
        free(seen.taken_dir);
        fx_teardown(&f);
}

int main(void) {
        test_rule();
        test_loop();
        return done_testing();
}
