/* claim-t.c: taking drops out of the inbox into claims (claim.c): a folder, a
 * single file, a manifest and what it lists; a drop that vanished; the one
 * entry of a claim's src/; and a claim interrupted before its move, which
 * recovery lets registration remove. Same file system: plain renames. */
#include "tap.h"
#include "core-fixture.h"
#include "claim.h"
#include "register.h"

static const char *pdf = "%PDF-1.4\n%%EOF\n";

static char *claim_file(const struct fixture *f, const char *claim, const char *rel) {
        return xasprintf("%s/%s/%s", f->q->claims_path, claim, rel);
}

static void test_drop_folder(struct fixture *f) {
        char *claim = NULL, *p;

        p = fx_path(f, "inbox/Fold/a.pdf");
        fx_write(p, pdf);
        free(p);
        p = fx_path(f, "inbox/Fold/sub/b.pdf");
        fx_write(p, pdf);
        free(p);
        int before = fx_count(f->q->claims_path, "");
        is_int(claim_drop(f->q, "Fold", &claim), 0, "claim_drop of a folder");
        ok(claim != NULL, "returns the claim's name: %s", claim ? claim : "(null)");
        if (!claim)
                return;
        ok(strstr(claim, f->spool->instance) != NULL, "the name carries the instance");
        is_int(fx_count(f->q->claims_path, ""), before + 1, "one claim directory more");
        p = claim_file(f, claim, "src/Fold/a.pdf");
        ok(fx_exists(p), "the folder is in the claim's src/");
        free(p);
        p = claim_file(f, claim, "src/Fold/sub/b.pdf");
        ok(fx_exists(p), "with its subfolder");
        free(p);
        p = claim_file(f, claim, "origin");
        char *name = fx_json_str(p, "name");
        is_str(name, "Fold", "origin record names the drop");
        free(name);
        free(p);
        p = fx_path(f, "inbox/Fold");
        ok(!fx_exists(p), "the inbox no longer has it");
        free(p);

        /* claim_drop_name: the one entry of src/ */
        p = claim_file(f, claim, "src");
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *drop = NULL;
        is_int(claim_drop_name(fd, &drop), 0, "claim_drop_name");
        is_str(drop, "Fold", "names the drop in src/");
        free(drop);
        close(fd);
        free(p);
        free(claim);
}

static void test_drop_file(struct fixture *f) {
        char *claim = NULL, *p;

        p = fx_path(f, "inbox/one.pdf");
        fx_write(p, pdf);
        free(p);
        is_int(claim_drop(f->q, "one.pdf", &claim), 0, "claim_drop of a single file");
        ok(claim != NULL, "returns the claim's name");
        if (!claim)
                return;
        p = claim_file(f, claim, "src/one.pdf");
        ok(fx_exists(p), "the file is in the claim's src/");
        free(p);
        p = fx_path(f, "inbox/one.pdf");
        ok(!fx_exists(p), "the inbox no longer has it");
        free(p);
        free(claim);
}

static void test_vanished(struct fixture *f) {
        char *claim = NULL;
        int before = fx_count(f->q->claims_path, "");

        is_int(claim_drop(f->q, "not-there", &claim), -ENOENT, "a vanished drop: -ENOENT");
        ok(claim == NULL, "no claim name");
        is_int(fx_count(f->q->claims_path, ""), before, "no claim directory left");
}

static void test_drop_name(struct fixture *f) {
        char *p = fx_path(f, "empty-src"), *drop = NULL;
        int fd;

        if (mkdir(p, 0700) < 0)
                bail_out("mkdir: %m");
        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        is_int(claim_drop_name(fd, &drop), -ENOENT, "claim_drop_name of an empty src/: -ENOENT (absent)");
        close(fd);
        free(p);
        p = fx_path(f, "spool.yaml");
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ok(claim_drop_name(fd, &drop) == -ENOTDIR, "claim_drop_name that cannot read: an error, not -ENOENT");
        ok(drop == NULL, "and no name");
        close(fd);
        free(p);
}

static void test_manifest(struct fixture *f) {
        char *p, *claim = NULL, *error = NULL;
        struct manifest *m = NULL;

        p = fx_path(f, "inbox/up/a.pdf");
        fx_write(p, pdf);
        free(p);
        p = fx_path(f, "inbox/b.pdf");
        fx_write(p, pdf);
        free(p);
        p = fx_path(f, "inbox/m.batch.yaml");
        fx_write(p, "batch: review\nfiles:\n  - path: up/a.pdf\n  - path: b.pdf\n  - path: late.pdf\n");
        if (manifest_load(p, &m, &error) < 0)
                bail_out("manifest_load: %s", error ? error : "failed");
        free(p);
        char *missing[] = { "late.pdf" };
        is_int(claim_manifest(f->q, "m.batch.yaml", m, missing, 1, &claim), 0, "claim_manifest");
        ok(claim != NULL, "returns the claim's name");
        manifest_free(m);
        if (!claim)
                return;
        const char *in_claim[] = { "src/m.batch.yaml", "src/up/a.pdf", "src/b.pdf", "manifest.json" };
        for (size_t i = 0; i < 4; i++) {
                p = claim_file(f, claim, in_claim[i]);
                ok(fx_exists(p), "claim holds %s", in_claim[i]);
                free(p);
        }
        const char *gone[] = { "inbox/m.batch.yaml", "inbox/up/a.pdf", "inbox/b.pdf" };
        for (size_t i = 0; i < 3; i++) {
                p = fx_path(f, "%s", gone[i]);
                ok(!fx_exists(p), "%s left the inbox", gone[i]);
                free(p);
        }
        free(claim);
}

/* ---- a claim interrupted before the move: origin written, src/ empty ---- */

static unsigned registered;

static void on_registered(struct queue *q, const char *claim, void *userdata) {
        registered++;
}

static void on_needs_unpack(struct queue *q, const char *claim, const char *drop, void *userdata) {
        registered++;
}

static const struct register_handlers handlers = { .registered = on_registered, .needs_unpack = on_needs_unpack };

static bool not_busy(struct fixture *f, void *claim) {
        return !register_busy(f->q, claim);
}

static void test_interrupted(struct fixture *f) {
        const char *claim = "1000.000001.h.1.a";
        char *p = claim_file(f, claim, "src");

        if (fs_mkdir_p(p, 0700) < 0)
                bail_out("mkdir: %m");
        free(p);
        p = claim_file(f, claim, "origin");
        fx_write(p, "{\"name\":\"Never\",\"dev\":1,\"ino\":2}");
        free(p);
        p = fx_path(f, "inbox/Never/x.pdf");
        fx_write(p, pdf);
        free(p);

        is_int(claim_recover(f->q, claim), 0, "claim_recover: it may be registered");
        is_int(register_claim(f->q, claim, &handlers, NULL), 0, "register_claim");
        ok(fx_run_until(f, not_busy, (void *) claim, 10 * USEC_PER_SEC), "registration ended");
        is_int(registered, 0, "no batch registered from it");
        p = xasprintf("%s/%s", f->q->claims_path, claim);
        ok(!fx_exists(p), "the empty claim is removed");
        free(p);
        p = fx_path(f, "inbox/Never/x.pdf");
        ok(fx_exists(p), "the drop it never got stays in the inbox");
        free(p);
}

int main(void) {
        struct fixture f;

        fx_setup(&f, "claim-t", 1, NULL);
        test_drop_folder(&f);
        test_drop_file(&f);
        test_vanished(&f);
        test_drop_name(&f);
        test_manifest(&f);
        test_interrupted(&f);
        fx_teardown(&f);
        return done_testing();
}
