/* status-t.c: status JSON for batches and jobs, and its atomic writing. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "names.h"
#include "status.h"
#include "tap.h"
#include "util.h"

int main(void) {
        char tmpl[] = "/tmp/status-t.XXXXXX";
        char *dir = mkdtemp(tmpl);
        struct queue_config qc = { .name = "q", .file_mode = 0640, .dir_mode = 0750 };
        struct queue q = { .name = "q", .cfg = &qc };
        struct batch b = { .queue = &q, .id = "Vendor \"A\"", .drop = "Vendor \"A\"", .created = 1795974658000000ULL };
        struct job jobs[3] = {};
        struct skipped sk = { .source = "notes.txt", .reason = "not a PDF", .kept_as = "notes.txt" };
        char bad_name[] = "bad\xff\xfe" "name";

        q.outbox_fd = open(dir, O_RDONLY | O_DIRECTORY);
        ok(q.outbox_fd >= 0, "outbox opened");
        b.jobs = jobs;
        b.n_jobs = 3;
        b.skipped = &sk;
        b.n_skipped = 1;
        const char *names[] = { "LM317", "sub/NE555", bad_name };
        for (int i = 0; i < 3; i++) {
                jobs[i] = (struct job) { .batch = &b, .index = (unsigned) i, .name = (char *) names[i],
                                         .source = xasprintf("%s.pdf", names[i]), .original = "x.pdf" };
        }
        jobs[0].state = JOB_DONE;
        jobs[0].pages = 7;
        jobs[0].attempts = 1;
        jobs[0].started = b.created + 1000000;
        jobs[0].finished = b.created + 3500000;
        jobs[0].seconds = 2.5;
        jobs[1].state = JOB_FAILED;
        jobs[1].error = "encrypted PDF: a password is required";
        jobs[2].state = JOB_PROCESSING;
        b.counts[JOB_DONE] = 1;
        b.counts[JOB_FAILED] = 1;
        b.counts[JOB_PROCESSING] = 1;
        b.pages_done = 7;
        b.started = jobs[0].started;

        json_t *j = status_batch_json(&b, b.created + 5000000);
        is_str(json_string_value(json_object_get(j, "state")), "processing", "batch state processing");
        is_str(json_string_value(json_object_get(j, "batch")), "Vendor \"A\"", "batch id");
        is_str(json_string_value(json_object_get(j, "queue")), "q", "queue");
        json_t *c = json_object_get(j, "jobs");
        is_int(json_integer_value(json_object_get(c, "total")), 4, "total counts jobs and skipped files");
        is_int(json_integer_value(json_object_get(c, "done")) + json_integer_value(json_object_get(c, "failed")) +
                       json_integer_value(json_object_get(c, "processing")) +
                       json_integer_value(json_object_get(c, "queued")) +
                       json_integer_value(json_object_get(c, "canceled")) +
                       json_integer_value(json_object_get(c, "skipped")),
               4, "counts add up");
        is_str(json_string_value(json_object_get(j, "created")), "2026-11-29T17:50:58.000Z", "created is RFC 3339");
        ok(json_is_null(json_object_get(j, "finished")), "finished is null while running");
        is_int(json_integer_value(json_object_get(j, "pages_done")), 7, "pages_done");
        ok(json_real_value(json_object_get(json_object_get(j, "throughput"), "pages_per_second")) > 1.0,
           "throughput in pages per second");
        is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "failures"), 0), "error")),
               "encrypted PDF: a password is required", "failures list the reason");
        is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "skipped"), 0), "reason")),
               "not a PDF", "skipped lists the reason");
        json_decref(j);

        j = status_job_json(&jobs[2], b.created);
        is_str(json_string_value(json_object_get(j, "job")), "bad\\xff\\xfename", "non-UTF-8 name shown with \\x escapes");
        ok(json_is_null(json_object_get(j, "error")), "error null when none");
        json_decref(j);
        j = status_job_json(&jobs[0], b.created);
        is_int(json_integer_value(json_object_get(j, "attempts")), 1, "attempts");
        is_str(json_string_value(json_object_get(j, "started")), "2026-11-29T17:50:59.000Z", "job started");
        ok(json_real_value(json_object_get(j, "seconds")) == 2.5, "seconds");
        json_decref(j);

        /* Writing: atomic, with the mode asked for, valid JSON, no temp files left. */
        mkdirat(q.outbox_fd, b.id, 0750);
        ok(status_write_batch(&b) == 0, "batch status written");
        char *p = xasprintf("%s/%s/status.json", dir, b.id);
        struct stat st;
        ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640, "status file has file_mode 0640");
        json_error_t err;
        json_t *back = json_load_file(p, 0, &err);
        ok(back != NULL, "written file parses as JSON");
        json_decref(back);
        char *bd = xasprintf("%s/%s", dir, b.id);
        int n = 0;
        DIR *d = opendir(bd);
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        is_int(n, 1, "no temp file left beside it");

        fs_mkdirat_p(q.outbox_fd, "Vendor \"A\"/bad\xff\xfename", 0750);
        ok(status_write_job(&jobs[2], "Vendor \"A\"/bad\xff\xfename") == 0, "job status written under a non-UTF-8 name");
        char *jp = xasprintf("%s/Vendor \"A\"/bad\xff\xfename/status.json", dir);
        back = json_load_file(jp, 0, &err);
        ok(back && json_is_string(json_object_get(back, "job")), "and it is valid JSON");
        json_decref(back);

        /* names: exact round trip for the spool's own records */
        json_t *ex = names_to_json_exact(bad_name);
        char *rt = names_from_json_exact(ex);
        is_str(rt, bad_name, "exact names round-trip through JSON");
        free(rt);
        json_decref(ex);

        /* Control characters are kept as bytes but shown escaped: a name cannot
         * move a terminal's cursor or forge a line of pdfspoolctl's output. */
        char *shown = names_display("a\nb\x1b[31mc\x7f\xc2\x9b\xc3\xa9");
        is_str(shown, "a\\x0ab\\x1b[31mc\\x7f\\xc2\\x9b\xc3\xa9", "control characters shown as \\xNN, letters as they are");
        free(shown);
        char *with_nl = "line\nbreak";
        ex = names_to_json_exact(with_nl);
        rt = names_from_json_exact(ex);
        is_str(rt, with_nl, "exact names keep a newline");
        free(rt);
        json_decref(ex);

        fs_remove_tree(AT_FDCWD, dir);
        for (int i = 0; i < 3; i++)
                free(jobs[i].source);
        free(p);
        free(bd);
        free(jp);
        close(q.outbox_fd);
        return done_testing();
}
