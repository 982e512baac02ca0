/* requests-t.c: the store's transitions for requests (spool.c): hold and
 * release, cancel (queued at once, a running one as the pool ends it), retry
 * (attempts kept, a finished batch reopened), delete; each persisted, so that a
 * new spool on the same state directory sees it. And the request files
 * (control.c): written, read back, answered. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "fsutil.h"
#include "scheduler.h"
#include "spool.h"
#include "tap.h"
#include "util.h"

#define CLAIM "1796000000.000001.test.1.00000001"

static const char *dir;

/* Does DIR/<REL> exist, REL made from FMT? */
static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...) {
        char rel[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        char *p = xasprintf("%s/%s", dir, rel);
        bool r = access(p, F_OK) == 0;
        free(p);
        return r;
}

static char *read_text(const char *path) {
        char *text = NULL;
        return fs_read_file(AT_FDCWD, path, 1 << 20, &text, NULL) == 0 ? text : NULL;
}

static void put(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                bail_out("cannot write a test file");
        close(fd);
}

/* A spool on DIR's configuration with its one queue. */
static struct spool *open_spool(struct queue **ret_q) {
        char *cfg = xasprintf("%s/spool.yaml", dir), *error = NULL;
        struct config *config;
        struct spool *s;

        if (config_load(cfg, &config, &error) < 0)
                bail_out("%s", error);
        free(cfg);
        if (spool_new(config, NULL, &s) < 0)
                bail_out("spool_new");
        *ret_q = spool_queue_new(s, &config->queues[0]);
        if (!*ret_q)
                bail_out("spool_queue_new");
        return s;
}

static void close_spool(struct spool *s) {
        struct config *c = s->config;
        spool_free(s);
        config_free(c);
}

int main(void) {
        char tmpl[] = "/tmp/requests-t.XXXXXX";
        dir = mkdtemp(tmpl);
        char *yaml = xasprintf("state_dir: %s/state\nqueues:\n  q:\n    inbox: %s/in\n    outbox: %s/out\n", dir, dir,
                               dir);
        char *path = xasprintf("%s/spool.yaml", dir);
        put(path, yaml);
        free(yaml);
        free(path);
        path = xasprintf("%s/in", dir);
        mkdir(path, 0755);
        free(path);

        struct queue *q;
        struct spool *s = open_spool(&q);

        /* A registered claim: three PDFs in src/drop, and its batch record. */
        char *claim_path = xasprintf("%s/%s", q->claims_path, CLAIM);
        char *src = xasprintf("%s/src/drop", claim_path);
        fs_mkdir_p(src, 0700);
        const char *names[] = { "a", "b", "c" };
        struct batch rec = { .queue = q, .id = "drop", .claim = CLAIM, .claim_path = claim_path, .drop = "drop",
                             .root = "src/drop", .created = now_usec(CLOCK_REALTIME) };
        struct job jobs[3] = {};
        for (int i = 0; i < 3; i++) {
                char *p = xasprintf("%s/%s.pdf", src, names[i]);
                put(p, "%PDF-1.4\n%%EOF\n");
                free(p);
                jobs[i] = (struct job) { .batch = &rec, .index = (unsigned) i, .name = (char *) names[i],
                                         .source = xasprintf("%s.pdf", names[i]),
                                         .original = xasprintf("%s.pdf", names[i]) };
        }
        rec.jobs = jobs;
        rec.n_jobs = 3;
        is_int(spool_batch_record(&rec), 0, "batch record written");
        is_int(spool_batch_adopt(q, CLAIM, NULL, NULL), 0, "batch adopted");
        struct batch *b = spool_batch_find(s, NULL, "drop");
        ok(b != NULL, "the batch is found by its id");
        ok(spool_batch_find(s, "other", "drop") == NULL, "... not in another queue");

        /* hold / release */
        is_int(spool_batch_set_held(b, true, NULL), 0, "hold");
        ok(sched_next(s) == NULL, "a held batch starts nothing");
        char *control_json = xasprintf("%s/control.json", claim_path);
        char *text = read_text(control_json);
        ok(text && strstr(text, "\"held\":true"), "the hold is recorded in control.json");
        free(text);
        is_int(spool_batch_set_held(b, false, NULL), 0, "release");
        struct job *first = sched_next(s);
        ok(first == &b->jobs[0], "a released batch's first job is next");

        /* cancel: a running job and two queued ones */
        char *pdf, *out;
        is_int(spool_job_start(first, &pdf, &out), 0, "job a starts");
        spool_job_announce(first);
        free(pdf);
        free(out);
        const char *unknown_name[] = { "nope" };
        struct spool_cancel c = {};
        is_int(spool_batch_cancel(b, (char *const *) unknown_name, 1, &c), -ENOENT, "cancel of an unknown job");
        is_str(c.unknown, "nope", "... names it");
        is_int(b->counts[JOB_QUEUED], 2, "... and changes nothing");
        c = (struct spool_cancel) {};
        is_int(spool_batch_cancel(b, NULL, 0, &c), 0, "cancel the batch");
        is_int(c.canceled, 2, "two queued jobs canceled at once");
        ok(c.n_running == 1 && c.running[0] == first, "the running one is left to the pool");
        free(c.running);
        is_int(spool_job_finish(first, JOB_CANCELED, 0, "canceled by request while it ran"), 0,
               "the pool ends it canceled");
        ok(batch_state(b) == BATCH_CANCELED, "the batch is canceled");
        ok(exists("out/drop/b/%s", "b.pdf"), "a canceled job's folder keeps the original");
        ok(!exists("out/drop/a/%s", "meta.json"), "... and has no outputs");
        text = read_text(control_json);
        ok(text && strstr(text, "\"canceled\":true"), "the cancel is recorded in control.json");
        free(text);
        spool_batch_done_with(b);
        ok(spool_batch_find(s, NULL, "drop") == NULL, "then it finishes and leaves the active batches");

        /* retry: reopened from finished/, attempts kept */
        struct queue *fq = NULL;
        char *claim = NULL;
        is_int(spool_finished_find(s, NULL, "drop", &fq, &claim), 0, "the finished batch is found");
        is_str(claim, CLAIM, "... by its claim");
        is_int(spool_finished_find(s, NULL, "nothing", &fq, &claim), -ENOENT, "an unknown one is not");
        is_int(spool_batch_reopen(q, CLAIM, &b), 0, "reopened");
        size_t n = 0, unretryable = 0;
        const char *unknown = NULL;
        is_int(spool_batch_retry(b, NULL, 0, &n, &unretryable, &unknown), 0, "retry");
        is_int(n, 3, "three jobs back to queued");
        is_int(b->counts[JOB_QUEUED], 3, "... counted");
        is_int(b->jobs[0].attempts, 1, "attempts kept");
        ok(!b->canceled, "the batch is no longer canceled");
        spool_batch_done_with(b);
        ok(spool_batch_find(s, NULL, "drop") == b, "it stays active with queued jobs");
        is_int(spool_batch_set_held(b, true, NULL), 0, "held again");
        close_spool(s);

        /* what a new start sees */
        s = open_spool(&q);
        is_int(spool_batch_resume(q, CLAIM), 0, "resumed by a new spool");
        b = spool_batch_find(s, NULL, "drop");
        ok(b && b->counts[JOB_QUEUED] == 3, "its jobs are still queued");
        ok(b && b->jobs[0].attempts == 1, "attempts survive");
        ok(b && b->held, "the hold survives");
        ok(sched_next(s) == NULL, "and still starts nothing");

        /* delete */
        is_int(spool_batch_delete(q, b, NULL, "drop"), 0, "deleted");
        ok(spool_batch_find(s, NULL, "drop") == NULL, "gone from memory");
        ok(exists("state/q/deleted/%s", CLAIM), "its claim waits in deleted/");
        ok(!exists("out/%s", "drop") && exists("out/.pdfspool-deleted.%s", CLAIM),
           "its outbox folder is out of sight at once");
        is_int(spool_purge_deleted(q, false), 0, "purged");
        ok(!exists("out/%s", "drop") && !exists("out/.pdfspool-deleted.%s", CLAIM), "its outbox folder is gone");
        ok(!exists("state/q/claims/test/%s", CLAIM) && !exists("state/q/finished/%s", CLAIM) &&
                   !exists("state/q/deleted/%s", CLAIM),
           "its state is gone");

        /* request files */
        char *state = xasprintf("%s/state", dir);
        is_int(control_dir_setup(state), 0, "control directory made");
        struct stat st;
        char *cdir = control_dir_path(state);
        ok(stat(cdir, &st) == 0 && (st.st_mode & 07777) == 02770, "mode 2770");
        char *jobnames[] = { "x", "sub/\xffy" }; /* names are bytes */
        struct control_request rq = { .action = "cancel", .batch = "drop", .jobs = jobnames, .n_jobs = 2 };
        char *id = NULL;
        is_int(control_request_submit(state, &rq, &id), 0, "request written");
        int cfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct control_request *got = NULL;
        is_int(control_request_read(cfd, id, &got), 0, "request read back");
        ok(got && strcmp(got->action, "cancel") == 0 && got->n_jobs == 2 && strcmp(got->jobs[1], "sub/\xffy") == 0,
           "with its action and jobs, a name that is not UTF-8 among them");
        control_request_free(got);
        is_int(control_outcome_exists(cfd, id), 0, "no outcome yet");
        is_int(control_outcome_write(cfd, id, CONTROL_REFUSED, "no batch drop"), 0, "outcome written");
        json_t *o = NULL;
        is_int(control_outcome_wait(state, id, USEC_PER_SEC, NULL, NULL, &o), 0, "outcome read");
        is_int(json_integer_value(json_object_get(o, "code")), 1, "... with its code");
        json_decref(o);
        ok(!exists("state/control/%s.request", id) && !exists("state/control/%s.outcome", id),
           "both files removed by the reader");
        free(id);
        is_int(control_request_submit(state, &rq, &id), 0, "another request");
        is_int(control_outcome_wait(state, id, USEC_PER_SEC / 5, NULL, NULL, &o), -ETIMEDOUT,
               "nobody answers: timed out");
        char *bad = xasprintf("%s/bad.request", cdir), *up = xasprintf("%s/up.request", cdir);
        put(bad, "{\"action\":\"format-disk\",\"batch\":\"x\"}");
        is_int(control_request_read(cfd, "bad", &got), -EBADMSG, "an unknown action is no request");
        put(up, "{\"action\":\"cancel\",\"batch\":\"../x\"}");
        is_int(control_request_read(cfd, "up", &got), -EBADMSG, "a batch id with a slash is no request");
        char *batch = NULL;
        const char *action = NULL;
        ok(control_share_parse("LM317.cancel", &batch, &action) && strcmp(batch, "LM317") == 0 &&
                   strcmp(action, "cancel") == 0,
           "LM317.cancel is a share-side request");
        free(batch);
        ok(!control_share_parse("LM317.pdf", &batch, &action), "LM317.pdf is not");
        ok(!control_share_parse(".cancel", &batch, &action), ".cancel is not");
        ok(!control_share_parse("x.delete", &batch, &action), "delete is not one from the share");
        close(cfd);
        free(bad);
        free(up);
        free(id);
        free(cdir);
        free(state);
        free(claim);
        free(control_json);
        free(src);
        free(claim_path);
        for (int i = 0; i < 3; i++) {
                free(jobs[i].source);
                free(jobs[i].original);
        }

        close_spool(s);
        fs_remove_tree(AT_FDCWD, dir);
        return done_testing();
}
