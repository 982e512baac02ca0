/* register-t.c: turning a claim into a batch record in a child process
 * (register.c), on a real loop: a claimed folder gives one batch with its PDFs
 * as jobs and the rest as skipped; the handler is called once per claim, also
 * when more wait than run at once; an archive asks to be unpacked first; a
 * manifest's checksum mismatch fails its job at registration; busy while in
 * flight. Tiny "%PDF-1.4" files: no mupdf. */
#include "tap.h"
#include "core-fixture.h"
#include "claim.h"
#include "register.h"

struct calls {
        char *registered[8];
        unsigned n_registered;
        char *unpack_claim, *unpack_drop;
        unsigned n_unpack;
};

static void on_registered(struct queue *q, const char *claim, void *userdata) {
        struct calls *c = userdata;
        if (c->n_registered < 8)
                c->registered[c->n_registered] = xstrdup(claim);
        c->n_registered++;
}

static void on_needs_unpack(struct queue *q, const char *claim, const char *drop, void *userdata) {
        struct calls *c = userdata;
        c->n_unpack++;
        free(c->unpack_claim);
        free(c->unpack_drop);
        c->unpack_claim = xstrdup(claim);
        c->unpack_drop = xstrdup(drop);
}

static const struct register_handlers handlers = { .registered = on_registered, .needs_unpack = on_needs_unpack };

static bool queue_idle(struct fixture *f, void *arg) {
        return !register_queue_busy(f->q);
}

static void calls_clear(struct calls *c) {
        for (unsigned i = 0; i < c->n_registered && i < 8; i++)
                free(c->registered[i]);
        free(c->unpack_claim);
        free(c->unpack_drop);
        *c = (struct calls) {};
}

static char *drop_claim(struct fixture *f, const char *name) {
        char *claim = NULL;
        if (claim_drop(f->q, name, &claim) < 0 || !claim)
                bail_out("claim_drop %s failed", name);
        return claim;
}

static const char *exact(json_t *j) {
        return json_string_value(j) ?: "(not a plain string)";
}

static void test_folder(struct fixture *f) {
        const char *rel[] = { "inbox/D/a.pdf", "inbox/D/sub/b.pdf", "inbox/D/notes.txt" };
        struct calls c = {};
        char *p;

        for (size_t i = 0; i < 3; i++) {
                p = fx_path(f, "%s", rel[i]);
                fx_write(p, strstr(rel[i], ".pdf") ? "%PDF-1.4\n%%EOF\n" : "a note\n");
                free(p);
        }
        char *claim = drop_claim(f, "D");
        ok(!register_busy(f->q, claim), "not busy before");
        is_int(register_claim(f->q, claim, &handlers, &c), 0, "register_claim");
        ok(register_busy(f->q, claim), "register_busy while in flight");
        ok(register_queue_busy(f->q), "register_queue_busy while in flight");
        is_int(register_claim(f->q, claim, &handlers, &c), 0, "registering it again while in flight: left alone");
        ok(fx_run_until(f, queue_idle, NULL, 10 * USEC_PER_SEC), "registration ended within 10 s");
        ok(!register_busy(f->q, claim) && !register_queue_busy(f->q), "not busy after");
        is_int(c.n_registered, 1, "registered handler called once");
        is_str(c.n_registered ? c.registered[0] : NULL, claim, "for that claim");
        is_int(c.n_unpack, 0, "no unpacking asked for");

        p = xasprintf("%s/%s/batch.json", f->q->claims_path, claim);
        json_t *rec = json_load_file(p, 0, NULL);
        free(p);
        ok(rec != NULL, "batch.json written");
        json_t *jobs = json_object_get(rec, "jobs"), *skipped = json_object_get(rec, "skipped");
        is_int(json_array_size(jobs), 2, "2 jobs");
        is_str(exact(json_object_get(json_array_get(jobs, 0), "source")), "a.pdf", "job 0 is a.pdf");
        is_str(exact(json_object_get(json_array_get(jobs, 1), "source")), "sub/b.pdf", "job 1 is sub/b.pdf");
        is_int(json_array_size(skipped), 1, "1 skipped file");
        is_str(exact(json_object_get(json_array_get(skipped, 0), "source")), "notes.txt", "the .txt is skipped");
        ok(json_string_value(json_object_get(json_array_get(skipped, 0), "reason")) != NULL, "with a reason: %s",
           exact(json_object_get(json_array_get(skipped, 0), "reason")));
        json_decref(rec);

        /* The store takes the record as it is. */
        is_int(fx_adopt(f, claim), 0, "spool_batch_adopt of the record");
        fx_project(f, claim);
        struct batch *b = fx_batch(f, claim);
        ok(b && b->n_jobs == 2 && b->n_skipped == 1, "the batch has 2 jobs and 1 skipped");
        free(claim);
        calls_clear(&c);
}

/* More claims than children at once (2): each waits its turn, none is lost. */
static void test_order(struct fixture *f) {
        char *claims[3];
        struct calls c = {};

        for (int i = 0; i < 3; i++) {
                char *rel = xasprintf("inbox/o%d.pdf", i), *p = fx_path(f, "%s", rel);
                fx_write(p, "%PDF-1.4\n%%EOF\n");
                free(p);
                claims[i] = drop_claim(f, rel + strlen("inbox/"));
                free(rel);
        }
        for (int i = 0; i < 3; i++)
                (void) register_claim(f->q, claims[i], &handlers, &c);
        ok(fx_run_until(f, queue_idle, NULL, 10 * USEC_PER_SEC), "three registrations ended");
        is_int(c.n_registered, 3, "each registered once");
        for (int i = 0; i < 3; i++) {
                unsigned n = 0;
                for (unsigned k = 0; k < c.n_registered && k < 8; k++)
                        n += strcmp(c.registered[k], claims[i]) == 0;
                is_int(n, 1, "claim %d reported once", i);
        }
        for (int i = 0; i < 3; i++) {
                char *p = xasprintf("%s/%s/batch.json", f->q->claims_path, claims[i]);
                ok(fx_exists(p), "claim %d has its record", i);
                free(p);
                free(claims[i]);
        }
        calls_clear(&c);
}

static void test_archive(struct fixture *f) {
        struct calls c = {};
        char *p = fx_path(f, "inbox/pack.zip");
        FILE *fp = fopen(p, "we");

        /* A zip without entries: 22 bytes, the end of its central directory. */
        static const char empty_zip[22] = "PK\5\6";
        if (!fp || fwrite(empty_zip, 1, sizeof(empty_zip), fp) != sizeof(empty_zip) || fclose(fp) != 0)
                bail_out("cannot write %s", p);
        free(p);
        char *claim = drop_claim(f, "pack.zip");
        is_int(register_claim(f->q, claim, &handlers, &c), 0, "register_claim of an archive");
        ok(register_busy(f->q, claim), "busy while in flight");
        ok(fx_run_until(f, queue_idle, NULL, 10 * USEC_PER_SEC), "registration ended");
        is_int(c.n_unpack, 1, "needs_unpack called once");
        is_str(c.unpack_claim, claim, "for that claim");
        is_str(c.unpack_drop, "pack.zip", "with the drop's name");
        is_int(c.n_registered, 0, "not registered before it is unpacked");
        p = xasprintf("%s/%s/batch.json", f->q->claims_path, claim);
        ok(!fx_exists(p), "no batch record yet");
        free(p);
        free(claim);
        calls_clear(&c);
}

/* A manifest's claim: its files become the jobs; a checksum that does not match
 * fails that job at registration, with the reason, recorded once in "errors". */
static void test_manifest(struct fixture *f) {
        struct calls c = {};
        struct manifest *m = NULL;
        char *p, *error = NULL, *claim = NULL;
        unsigned char sum[32];
        char hex[65];

        p = fx_path(f, "inbox/.up/good.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        p = fx_path(f, "inbox/.up/bad.pdf");
        fx_write(p, "%PDF-1.4\n%%EOF\n");
        free(p);
        int inbox = open(f->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (inbox < 0 || manifest_sha256_file(inbox, ".up/good.pdf", sum) < 0)
                bail_out("cannot checksum .up/good.pdf");
        close(inbox);
        manifest_sha256_hex(sum, hex);
        p = fx_path(f, "inbox/rev.batch.yaml");
        char *text = xasprintf("batch: rev\nfiles:\n  - path: .up/good.pdf\n    sha256: %s\n  - path: .up/bad.pdf\n"
                               "    sha256: %064d\n", hex, 0);
        fx_write(p, text);
        free(text);
        if (manifest_load(p, &m, &error) < 0)
                bail_out("manifest_load: %s", error ? error : "failed");
        free(p);
        if (claim_manifest(f->q, "rev.batch.yaml", m, NULL, 0, &claim) < 0 || !claim)
                bail_out("claim_manifest failed");
        manifest_free(m);
        is_int(register_claim(f->q, claim, &handlers, &c), 0, "register_claim of a manifest's claim");
        ok(fx_run_until(f, queue_idle, NULL, 10 * USEC_PER_SEC), "registration ended");
        is_int(c.n_registered, 1, "registered once");
        p = xasprintf("%s/%s/batch.json", f->q->claims_path, claim);
        json_t *rec = json_load_file(p, 0, NULL);
        free(p);
        json_t *jobs = json_object_get(rec, "jobs");
        is_int(json_array_size(jobs), 2, "2 jobs, the manifest's files");
        is_str(exact(json_object_get(rec, "id")), "rev", "the batch is named by the manifest");
        json_t *bad = NULL, *good = NULL;
        for (size_t i = 0; i < json_array_size(jobs); i++) {
                json_t *e = json_array_get(jobs, i);
                if (strcmp(exact(json_object_get(e, "source")), ".up/bad.pdf") == 0)
                        bad = e;
                else
                        good = e;
        }
        ok(good && !json_object_get(good, "failed"), "the matching file is a job to run");
        ok(bad && json_object_get(bad, "failed"), "the mismatching one failed at registration");
        const char *why = json_string_value(json_array_get(json_object_get(rec, "errors"), 0));
        ok(why && strstr(why, "checksum mismatch"), "errors says why: %s", why ? why : "(none)");
        json_decref(rec);
        is_int(fx_adopt(f, claim), 0, "adopted");
        fx_project(f, claim);
        struct batch *b = fx_batch(f, claim);
        ok(b && b->counts[JOB_FAILED] == 1 && b->counts[JOB_QUEUED] == 1, "the store has 1 failed, 1 queued");
        free(claim);
        calls_clear(&c);
}

int main(void) {
        struct fixture f;

        fx_setup(&f, "register-t", 1, NULL);
        test_folder(&f);
        test_order(&f);
        test_archive(&f);
        test_manifest(&f);
        fx_teardown(&f);
        return done_testing();
}
