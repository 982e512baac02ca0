/* config-t: config.c reads every key, fills in every default and refuses bad
 * files with the exact FILE:LINE:COLUMN and message an administrator sees.
 *
 * Configurations are written to a temporary directory; "@" in a test text
 * stands for that directory, so path tests can create real folders. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

static char *tmp;       /* the temporary directory */
static char *conf_path; /* tmp/pdfspool.yaml */

#define MINIMAL_QUEUE "queues:\n  q:\n    inbox: @/in\n    outbox: @/out\n"

static char *expand(const char *text) {
        size_t n = 1;
        char *s, *o;

        for (const char *p = text; *p; p++)
                n += *p == '@' ? strlen(tmp) : 1;
        s = o = xmalloc(n);
        for (const char *p = text; *p; p++) {
                if (*p == '@') {
                        strcpy(o, tmp);
                        o += strlen(tmp);
                } else
                        *o++ = *p;
        }
        *o = 0;
        return s;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                bail_out("cannot write %s", path);
}

static int load_text(const char *text, struct config **ret, char **ret_error) {
        char *s = expand(text);

        write_file(conf_path, s);
        free(s);
        return config_load(conf_path, ret, ret_error);
}

/* One assertion: the text is refused with exactly "FILE:" WANT. */
static void check_error(const char *text, const char *want, const char *name) {
        struct config *c = NULL;
        char *error = NULL, *expanded = expand(want), *full = xasprintf("%s:%s", conf_path, expanded);
        int r = load_text(text, &c, &error);

        if (!ok(r == -EINVAL && c == NULL && error && strcmp(error, full) == 0, "refused: %s", name))
                diag("     got: r=%d %s\n#   expected: r=%d %s", r, error ? error : "(no message)", -EINVAL, full);
        config_free(c);
        free(error);
        free(full);
        free(expanded);
}

static void check_loads(const char *text, const char *name) {
        struct config *c = NULL;
        char *error = NULL;
        int r = load_text(text, &c, &error);

        if (!ok(r == 0 && c != NULL && error == NULL, "accepted: %s", name))
                diag("error: %s", error ? error : "(none)");
        config_free(c);
        free(error);
}

static void test_defaults(void) {
        struct config *c = NULL;
        const struct queue_config *q;
        char *error = NULL;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int r;

        r = load_text(MINIMAL_QUEUE, &c, &error);
        if (!is_int(r, 0, "minimal configuration loads")) {
                diag("%s", error ? error : "(no message)");
                bail_out("cannot go on without a loaded configuration");
        }
        ok(error == NULL, "no message on success");
        is_str(c->path, conf_path, "path remembered");
        is_str(c->state_dir, "/var/lib/pdfspool", "default state_dir");
        is_int(c->workers, cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus, "default workers = online CPUs");
        is_int(c->job_timeout_usec, 300 * USEC_PER_SEC, "default job_timeout 300s");
        is_int(c->worker_memory, 2LL << 30, "default worker_memory 2G");
        is_int(c->worker_max_jobs, 500, "default worker_max_jobs");
        is_int(c->thumbnail_size, 256, "default thumbnail_size");
        is_int(c->stop_grace_usec, 10 * USEC_PER_SEC, "default stop_grace 10s");
        is_int(c->rescan_interval_usec, 300 * USEC_PER_SEC, "default rescan_interval 5m");
        is_int(c->log, LOG_TARGET_AUTO, "default log auto");
        is_int(c->archive_max_entries, 100000, "default archive_max_entries");
        is_int(c->archive_max_bytes, 4LL << 30, "default archive_max_bytes 4G");
        is_int(c->archive_max_ratio, 200, "default archive_max_ratio");
        is_int(c->n_queues, 1, "one queue");
        q = config_find_queue(c, "q");
        ok(q == &c->queues[0], "config_find_queue finds it");
        ok(config_find_queue(c, "nope") == NULL, "config_find_queue: unknown name is NULL");
        ok(config_find_queue(NULL, "q") == NULL, "config_find_queue accepts NULL");
        is_str(q->name, "q", "queue name");
        ok(q->inbox && str_has_suffix(q->inbox, "/in") && strncmp(q->inbox, tmp, strlen(tmp)) == 0, "inbox");
        ok(q->outbox && str_has_suffix(q->outbox, "/out"), "outbox");
        is_int(q->settle_usec, 2 * USEC_PER_SEC, "default settle 2s");
        ok(!q->settle_set, "settle not set by the queue");
        is_int(config_queue_settle(q, false), 2 * USEC_PER_SEC, "settle on a local inbox: 2s");
        is_int(config_queue_settle(q, true), 30 * USEC_PER_SEC, "settle on a network mount, not set: 30s");
        is_int(q->watch, WATCH_AUTO, "default watch auto");
        is_int(q->poll_interval_usec, 5 * USEC_PER_SEC, "default poll_interval 5s");
        is_str(q->ready_marker, ".ready", "default ready_marker");
        is_int(q->n_ignore, 13, "default ignore list has 13 patterns");
        is_str(q->ignore[0], "~$*", "default ignore starts with ~$*");
        is_str(q->ignore[6], "@eaDir", "default ignore has @eaDir");
        is_str(q->ignore[12], ".*", "default ignore ends with .*");
        ok(q->ignore[13] == NULL, "ignore list is NULL-terminated");
        is_int(q->manifest_timeout_usec, 3600 * USEC_PER_SEC, "default manifest_timeout 1h");
        ok(q->group == NULL, "default group: none");
        is_int(q->file_mode, 0644, "default file_mode 0644");
        is_int(q->dir_mode, 0755, "default dir_mode 0755");
        config_free(c);
        config_free(NULL);
        ok(true, "config_free accepts NULL");
}

static void test_every_key(void) {
        struct group *g = getgrgid(getgid());
        char *group = xstrdup(g ? g->gr_name : "root");
        char *text = xasprintf(
                "state_dir: @/state/\n"
                "workers: 3\n"
                "job_timeout: 1m30s\n"
                "worker_memory: 512M\n"
                "worker_max_jobs: 7\n"
                "thumbnail_size: 128\n"
                "metrics_file: /run/pdfspool/metrics.prom\n"
                "stop_grace: 0\n"
                "rescan_interval: 2.5\n"
                "log: journal\n"
                "archive_max_entries: 42\n"
                "archive_max_bytes: 1GiB\n"
                "archive_max_ratio: 50\n"
                "queues:\n"
                "  data.sheets-2_x:\n"
                "    inbox: @/a/in/\n"
                "    outbox: \"@/a/out\"\n"
                "    settle: 0\n"
                "    watch: poll\n"
                "    poll_interval: 500ms\n"
                "    ready_marker: DONE\n"
                "    ignore: [\"*.tmp\", \"~*\"]\n"
                "    manifest_timeout: 1d\n"
                "    group: %s\n"
                "    file_mode: \"0640\"\n"
                "    dir_mode: 0o750\n"
                "    zip: on\n"
                "    hooks:\n"
                "      batch_finished: [/usr/sbin/sendmail, -t]\n"
                "      job_failed: [\"/usr/bin/logger\", \"job failed\"]\n"
                "    hook_timeout: 10s\n"
                "    limits:\n"
                "      cpu_time: 90s\n"
                "      file_size: 10M\n"
                "      open_files: 32\n"
                "  second:\n"
                "    inbox: @/b/in\n"
                "    outbox: @/b/out\n"
                "    watch: inotify\n"
                "    ignore: []\n",
                group);
        struct config *c = NULL;
        const struct queue_config *q;
        char *error = NULL, *want;
        int r;

        r = load_text(text, &c, &error);
        if (!is_int(r, 0, "every key given: loads")) {
                diag("%s", error ? error : "(no message)");
                goto out;
        }
        want = xasprintf("%s/state", tmp);
        is_str(c->state_dir, want, "state_dir, trailing slash dropped");
        free(want);
        is_int(c->workers, 3, "workers");
        is_int(c->job_timeout_usec, 90 * USEC_PER_SEC, "job_timeout 1m30s");
        is_int(c->worker_memory, 512LL << 20, "worker_memory 512M");
        is_int(c->worker_max_jobs, 7, "worker_max_jobs");
        is_int(c->thumbnail_size, 128, "thumbnail_size");
        is_int(c->stop_grace_usec, 0, "stop_grace may be 0");
        is_int(c->rescan_interval_usec, 2500 * USEC_PER_MSEC, "rescan_interval 2.5 = seconds");
        is_int(c->log, LOG_TARGET_JOURNAL, "log journal");
        is_int(c->archive_max_entries, 42, "archive_max_entries");
        is_int(c->archive_max_bytes, 1LL << 30, "archive_max_bytes 1GiB");
        is_int(c->archive_max_ratio, 50, "archive_max_ratio");
        is_str(c->metrics_file, "/run/pdfspool/metrics.prom", "metrics_file");
        is_int(c->n_queues, 2, "two queues");
        q = config_find_queue(c, "data.sheets-2_x");
        ok(q != NULL, "queue name with . - _ and digits");
        if (!q)
                goto out;
        want = xasprintf("%s/a/in", tmp);
        is_str(q->inbox, want, "inbox, trailing slash dropped");
        free(want);
        want = xasprintf("%s/a/out", tmp);
        is_str(q->outbox, want, "outbox, quoted");
        free(want);
        is_int(q->settle_usec, 0, "settle may be 0");
        ok(q->settle_set, "settle set by the queue");
        is_int(config_queue_settle(q, true), 0, "a settle the queue sets holds on a network mount too");
        is_int(q->watch, WATCH_POLL, "watch poll");
        is_int(q->poll_interval_usec, 500 * USEC_PER_MSEC, "poll_interval 500ms");
        is_str(q->ready_marker, "DONE", "ready_marker");
        is_int(q->n_ignore, 2, "ignore replaces the default list");
        is_str(q->ignore[1], "~*", "ignore patterns in order");
        ok(q->ignore[2] == NULL, "given ignore list is NULL-terminated");
        is_int(q->manifest_timeout_usec, 86400 * USEC_PER_SEC, "manifest_timeout 1d");
        is_str(q->group, group, "group that exists");
        is_int(q->file_mode, 0640, "file_mode \"0640\"");
        is_int(q->dir_mode, 0750, "dir_mode 0o750");
        ok(q->zip, "zip: on");
        ok(q->hook_batch_finished && strcmp(q->hook_batch_finished[0], "/usr/sbin/sendmail") == 0 &&
           strcmp(q->hook_batch_finished[1], "-t") == 0 && !q->hook_batch_finished[2], "hooks: batch_finished argv");
        ok(q->hook_job_failed && strcmp(q->hook_job_failed[1], "job failed") == 0 && !q->hook_job_failed[2],
           "hooks: job_failed argv, an argument with a space kept whole");
        is_int(q->hook_timeout_usec, 10 * USEC_PER_SEC, "hook_timeout 10s");
        ok(q->limits.cpu_usec == 90 * USEC_PER_SEC && q->limits.file_size == 10 << 20 && q->limits.open_files == 32,
           "limits: cpu_time 90s, file_size 10M, open_files 32");
        q = config_find_queue(c, "second");
        ok(q && q->limits.cpu_usec == 0 && q->limits.file_size == 1 << 30 && q->limits.open_files == 64,
           "limits by default: no CPU time limit, file_size 1G, open_files 64");
        ok(q && q->watch == WATCH_INOTIFY, "watch inotify");
        ok(q && q->n_ignore == 0 && q->ignore && q->ignore[0] == NULL, "ignore: [] means no patterns");
        ok(q && !q->zip && !q->hook_batch_finished && !q->hook_job_failed && q->hook_timeout_usec == 60 * USEC_PER_SEC,
           "defaults: zip off, no hooks, hook_timeout 60s");
out:
        config_free(c);
        free(error);
        free(text);
        free(group);
}

static void test_key_errors(void) {
        char *long_name = xasprintf("queues:\n  %.*s:\n    inbox: /x/in\n    outbox: /x/out\n", 65,
                                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

        /* The two examples from the design, positions included. */
        check_error("# spool\n"
                    "queues:\n"
                    "  datasheets:\n"
                    "    inbox: @/in\n"
                    "    outbox: @/out\n"
                    "    # typo below\n"
                    "    setle: 1s\n",
                    "7:5: unknown key \"setle\" in queue \"datasheets\" (expected one of: inbox, outbox, settle, "
                    "watch, poll_interval, ready_marker, ignore, manifest_timeout, incomplete_wait, group, file_mode, "
                    "dir_mode, hours, max_files, max_pages, max_bytes, max_batches, keep_finished, zip, hooks, hook_timeout, profile, limits, executor)",
                    "unknown queue key at its position");
        check_error(MINIMAL_QUEUE "    limits:\n      open_files: 4\n",
                    "6:19: \"open_files\" in queue \"q\" must be at least 8, got \"4\"", "limits: open_files below 8");
        check_error(MINIMAL_QUEUE "    limits:\n      cpu: 1s\n",
                    "6:7: unknown key \"cpu\" in queue \"q\" (expected one of: cpu_time, file_size, open_files)",
                    "limits: unknown key");
        check_error(MINIMAL_QUEUE "    limits: 5\n",
                    "5:13: \"limits\" in queue \"q\" must be a mapping (cpu_time, file_size, open_files), got \"5\"",
                    "limits: not a mapping");
        check_error("# spool\nstate_dir: /var/lib/pdfspool\nworkers: four\n" MINIMAL_QUEUE,
                    "3:10: \"workers\" must be a positive integer, got \"four\"", "workers: four");
        check_error("wrokers: 2\n" MINIMAL_QUEUE,
                    "1:1: unknown key \"wrokers\" (expected one of: state_dir, workers, job_timeout, worker_memory, "
                    "worker_max_jobs, thumbnail_size, stop_grace, rescan_interval, min_free, log, archive_max_entries, "
                    "archive_max_bytes, archive_max_ratio, metrics_file, executor, slurm, queues, profiles)", "unknown top-level key");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/out\n    hooks:\n      batch_finished: [mail, x]\n",
                    "6:24: hook \"batch_finished\" in queue \"q\" must start with the program's absolute path, got \"mail\"",
                    "hook: program must be an absolute path");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/out\n    hooks:\n      batch_done: [/bin/true]\n",
                    "6:7: unknown hook \"batch_done\" in queue \"q\" (expected one of: batch_finished, job_failed)",
                    "hook: unknown event");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/out\n    zip: maybe\n",
                    "5:10: \"zip\" in queue \"q\" must be off, on, false, true, no or yes, got \"maybe\"", "zip: maybe");
        check_error("metrics_file: rel.prom\n" MINIMAL_QUEUE,
                    "1:15: \"metrics_file\" must be an absolute path (starting with /), got \"rel.prom\"",
                    "metrics_file must be absolute");
        check_error("workers: 0\n" MINIMAL_QUEUE, "1:10: \"workers\" must be a positive integer, got \"0\"",
                    "workers: 0");
        check_error("workers: 2000\n" MINIMAL_QUEUE, "1:10: \"workers\" must be at most 1024, got \"2000\"",
                    "workers above 1024");
        check_error("workers: -1\n" MINIMAL_QUEUE, "1:10: \"workers\" must be a positive integer, got \"-1\"",
                    "negative workers");
        check_error("workers:\n" MINIMAL_QUEUE, "1:1: \"workers\" must be a positive integer, got nothing",
                    "empty value points at its key");
        check_error("thumbnail_size: 8\n" MINIMAL_QUEUE,
                    "1:17: \"thumbnail_size\" must be at least 16, got \"8\"", "thumbnail_size below 16");
        check_error("thumbnail_size: 4097\n" MINIMAL_QUEUE,
                    "1:17: \"thumbnail_size\" must be at most 4096, got \"4097\"", "thumbnail_size above 4096");
        check_error("archive_max_entries: 99999999999999999999999\n" MINIMAL_QUEUE,
                    "1:22: \"archive_max_entries\" is too large, got \"99999999999999999999999\"",
                    "integer overflow");
        check_error("job_timeout: 0\n" MINIMAL_QUEUE, "1:14: \"job_timeout\" must be longer than zero, got \"0\"",
                    "job_timeout 0");
        check_error("job_timeout: soon\n" MINIMAL_QUEUE,
                    "1:14: \"job_timeout\" must be a duration like 500ms, 2s, 5m, 1h, 1d or 1m30s "
                    "(a bare number means seconds), got \"soon\"", "duration junk");
        check_error("job_timeout: 400d\n" MINIMAL_QUEUE, "1:14: \"job_timeout\" must be at most 365d, got \"400d\"",
                    "duration above a year");
        check_error("worker_memory: lots\n" MINIMAL_QUEUE,
                    "1:16: \"worker_memory\" must be a size like 512M, 2G or 4GiB (a bare number means bytes; "
                    "K, M, G, T are powers of 1024), got \"lots\"", "size junk");
        check_error("worker_memory: 1K\n" MINIMAL_QUEUE,
                    "1:16: \"worker_memory\" must be at least 128M, got \"1K\"", "worker_memory too small");
        check_error("archive_max_bytes: 0\n" MINIMAL_QUEUE,
                    "1:20: \"archive_max_bytes\" must be larger than zero, got \"0\"", "archive_max_bytes 0");
        check_error("archive_max_bytes: 99999999T\n" MINIMAL_QUEUE,
                    "1:20: \"archive_max_bytes\" is too large, got \"99999999T\"", "size overflow");
        check_error("log: loud\n" MINIMAL_QUEUE,
                    "1:6: \"log\" must be auto, journal, syslog or stderr, got \"loud\"", "log: bad choice");
        check_error("log: [a]\n" MINIMAL_QUEUE,
                    "1:6: \"log\" must be auto, journal, syslog or stderr, got a list", "log: a list");
        check_error(MINIMAL_QUEUE "    watch: fanotify\n",
                    "5:12: \"watch\" in queue \"q\" must be auto, inotify or poll, got \"fanotify\"", "watch: bad");
        check_error(MINIMAL_QUEUE "    poll_interval: 0s\n",
                    "5:20: \"poll_interval\" in queue \"q\" must be longer than zero, got \"0s\"", "poll_interval 0");
        check_error(MINIMAL_QUEUE "    ready_marker: sub/.ready\n",
                    "5:19: \"ready_marker\" in queue \"q\" must be a plain file name without '/', like .ready, "
                    "got \"sub/.ready\"", "ready_marker with a slash");
        check_error(MINIMAL_QUEUE "    ignore: \"*.tmp\"\n",
                    "5:13: \"ignore\" in queue \"q\" must be a list of file name patterns like [\"*.tmp\", \".*\"], "
                    "got \"*.tmp\"", "ignore must be a list");
        check_error(MINIMAL_QUEUE "    ignore:\n      - \"*.tmp\"\n      - {a: b}\n",
                    "7:9: \"ignore\" in queue \"q\" must list file name patterns (strings like \"*.tmp\"), "
                    "got a mapping", "ignore item at its own position");
        check_error(MINIMAL_QUEUE "    group: no-such-group-pdfspool-t\n",
                    "5:12: \"group\" in queue \"q\" must be the name of an existing group (see getent group), "
                    "got \"no-such-group-pdfspool-t\"", "group that does not exist");
        check_error(MINIMAL_QUEUE "    file_mode: 0999\n",
                    "5:16: \"file_mode\" in queue \"q\" must be an octal permission mode from 0000 to 0777 with a "
                    "leading 0, like 0640, got \"0999\"", "file_mode not octal");
        check_error(MINIMAL_QUEUE "    dir_mode: 755\n",
                    "5:15: \"dir_mode\" in queue \"q\" must be an octal permission mode from 0000 to 0777 with a "
                    "leading 0, like 0640, got \"755\"", "mode without leading 0 is ambiguous");
        check_error(MINIMAL_QUEUE "    file_mode: 04755\n",
                    "5:16: \"file_mode\" in queue \"q\" must be an octal permission mode from 0000 to 0777 with a "
                    "leading 0, like 0640, got \"04755\"", "mode above 0777");

        /* Structure. */
        check_error("", "1:1: the file is empty; expected a mapping with at least \"queues\"", "empty file");
        check_error("# nothing\n", "1:1: the file is empty; expected a mapping with at least \"queues\"",
                    "only comments");
        check_error("- a\n- b\n",
                    "1:1: the top level must be a mapping of keys (state_dir, workers, job_timeout, worker_memory, "
                    "worker_max_jobs, thumbnail_size, stop_grace, rescan_interval, min_free, log, archive_max_entries, "
                    "archive_max_bytes, archive_max_ratio, metrics_file, executor, slurm, queues, profiles), got a list", "top level is a list");
        check_error("workers: 2\nlog: auto\nworkers: 3\n" MINIMAL_QUEUE,
                    "3:1: duplicate key \"workers\" (already given at line 1)", "duplicate top-level key");
        check_error(MINIMAL_QUEUE "    settle: 1s\n    settle: 2s\n",
                    "6:5: duplicate key \"settle\" in queue \"q\" (already given at line 5)", "duplicate queue key");
        check_error(MINIMAL_QUEUE "  q:\n    inbox: @/in2\n    outbox: @/out2\n",
                    "5:3: duplicate queue \"q\" (already defined at line 2)", "duplicate queue name");
        check_error("workers: 2\n",
                    "1:1: no \"queues\" key; expected at least one queue with an inbox and an outbox",
                    "no queues at all");
        check_error("queues: {}\n",
                    "1:9: \"queues\" must map at least one queue name to its settings (a mapping with inbox and "
                    "outbox), got an empty mapping", "empty queues mapping");
        check_error("queues:\nworkers: 2\n",
                    "1:1: \"queues\" must map at least one queue name to its settings (a mapping with inbox and "
                    "outbox), got nothing", "queues with no value");
        check_error("queues:\n  q:\n    outbox: @/out\n",
                    "2:3: queue \"q\" has no \"inbox\" (required: the absolute path of the folder where PDF files "
                    "are dropped)", "missing inbox");
        check_error("queues:\n  q:\n    inbox: @/in\n",
                    "2:3: queue \"q\" has no \"outbox\" (required: the absolute path of the folder where results "
                    "are written)", "missing outbox");
        check_error("queues:\n  q: /srv/in\n",
                    "2:6: queue \"q\" must be a mapping of its settings (inbox, outbox, ...), got \"/srv/in\"",
                    "queue that is not a mapping");
        check_error("queues:\n  .hidden:\n    inbox: @/in\n    outbox: @/out\n",
                    "2:3: queue name \".hidden\" must be 1 to 64 characters from A-Z a-z 0-9 _ . - and must not "
                    "start with '.'", "queue name starting with a dot");
        check_error("queues:\n  \"a b\":\n    inbox: @/in\n    outbox: @/out\n",
                    "2:3: queue name \"a b\" must be 1 to 64 characters from A-Z a-z 0-9 _ . - and must not "
                    "start with '.'", "queue name with a space");
        check_error(long_name,
                    "2:3: queue name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" must be 1 "
                    "to 64 characters from A-Z a-z 0-9 _ . - and must not start with '.'", "queue name of 65 chars");
        free(long_name);
        long_name = xasprintf("queues:\n  %.*s:\n    inbox: @/in\n    outbox: @/out\n", 64,
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        check_loads(long_name, "queue name of 64 chars");
        free(long_name);
        check_error(MINIMAL_QUEUE "---\nworkers: 2\n", "6:1: a second YAML document; expected exactly one",
                    "second document");
        check_error("? [a, b]\n: 1\n" MINIMAL_QUEUE, "1:3: keys must be plain names, got a list", "list as key");
}

static void test_yaml_errors(void) {
        struct config *c = NULL;
        char *error = NULL, *want;
        int r;

        r = load_text("workers: 2\n\tlog: auto\n" MINIMAL_QUEUE, &c, &error);
        want = xasprintf("%s:2:1: invalid YAML: found a tab character that violates indentation "
                         "(while scanning a plain scalar at line 1, column 10)", conf_path);
        is_str(error, want, "tab indentation: libyaml's problem and context at 2:1");
        free(want);
        free(error);
        error = NULL;

        is_int(r, -EINVAL, "YAML syntax error: -EINVAL");
        r = load_text("workers: [1, 2\nlog: auto\n", &c, &error);
        want = xasprintf("%s:2:4: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence "
                         "at line 1, column 10)", conf_path);
        is_str(error, want, "unclosed flow sequence, with context");
        free(want);
        free(error);
        error = NULL;

        r = load_text("log: auto\nworkers: \xff\n" MINIMAL_QUEUE, &c, &error);
        want = xasprintf("%s:2:10: invalid YAML: invalid leading UTF-8 octet (byte value 255); "
                         "expected UTF-8 text", conf_path);
        is_str(error, want, "bad UTF-8 byte: line and column from libyaml's byte offset");
        free(want);
        free(error);
        error = NULL;

        r = load_text("a: *nowhere\n", &c, &error);
        ok(r == -EINVAL && error && strstr(error, "found undefined alias") != NULL, "undefined alias");
        free(error);
        error = NULL;

        want = xasprintf("%s/does-not-exist.yaml", tmp);
        r = config_load(want, &c, &error);
        is_int(r, -ENOENT, "missing file: -ENOENT");
        free(want);
        want = xasprintf("%s/does-not-exist.yaml: cannot open: No such file or directory", tmp);
        is_str(error, want, "missing file: message");
        ok(c == NULL, "ret untouched on failure");
        free(want);
        free(error);
        r = config_load(tmp, &c, NULL);
        is_int(r, -EISDIR, "a directory instead of a file, ret_error NULL is allowed");
}

static void test_paths(void) {
        char *p;

        check_error("queues:\n  q:\n    inbox: srv/in\n    outbox: @/out\n",
                    "3:12: \"inbox\" in queue \"q\" must be an absolute path (starting with /), got \"srv/in\"",
                    "relative path");
        check_error("queues:\n  q:\n    inbox: /srv/../in\n    outbox: @/out\n",
                    "3:12: \"inbox\" in queue \"q\" must be a normalised path without \".\" or \"..\" components, "
                    "got \"/srv/../in\"", "path with ..");
        check_error("queues:\n  q:\n    inbox: /srv/./in\n    outbox: @/out\n",
                    "3:12: \"inbox\" in queue \"q\" must be a normalised path without \".\" or \"..\" components, "
                    "got \"/srv/./in\"", "path with .");
        check_error("queues:\n  q:\n    inbox: /srv//in\n    outbox: @/out\n",
                    "3:12: \"inbox\" in queue \"q\" must be a normalised path without empty components (\"//\"), "
                    "got \"/srv//in\"", "path with //");
        check_error("state_dir: /\n" MINIMAL_QUEUE,
                    "1:12: \"state_dir\" must not be the root directory, got \"/\"", "root as state_dir");
        check_error("state_dir: \"\"\n" MINIMAL_QUEUE,
                    "1:12: \"state_dir\" must be an absolute path (starting with /), got \"\"", "empty path");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/in/\n",
                    "4:13: outbox \"/srv/in\" of queue \"q\" (line 4) is the same folder as inbox \"/srv/in\" of "
                    "queue \"q\" (line 3); every inbox, outbox and state_dir must be a separate folder, none inside "
                    "another", "inbox equals outbox");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/in/out\n",
                    "4:13: outbox \"/srv/in/out\" of queue \"q\" (line 4) lies inside inbox \"/srv/in\" of "
                    "queue \"q\" (line 3); every inbox, outbox and state_dir must be a separate folder, none inside "
                    "another", "outbox inside inbox");
        check_error("queues:\n  q:\n    outbox: /srv/q/out\n    inbox: /srv/q\n",
                    "4:12: inbox \"/srv/q\" of queue \"q\" (line 4) contains outbox \"/srv/q/out\" of "
                    "queue \"q\" (line 3); every inbox, outbox and state_dir must be a separate folder, none inside "
                    "another", "inbox containing outbox");
        check_error("queues:\n  q:\n    inbox: /var/lib/pdfspool/in\n    outbox: /srv/out\n",
                    "3:12: inbox \"/var/lib/pdfspool/in\" of queue \"q\" (line 3) lies inside state_dir "
                    "\"/var/lib/pdfspool\" (the default); every inbox, outbox and state_dir must be a separate "
                    "folder, none inside another", "inbox inside the default state_dir");
        check_error("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/out\nstate_dir: /srv/out/state\n",
                    "5:12: state_dir \"/srv/out/state\" (line 5) lies inside outbox \"/srv/out\" of queue \"q\" "
                    "(line 4); every inbox, outbox and state_dir must be a separate folder, none inside another",
                    "state_dir inside an outbox");
        check_error("queues:\n  a:\n    inbox: /srv/in\n    outbox: /srv/a\n"
                    "  b:\n    inbox: /srv/in\n    outbox: /srv/b\n",
                    "6:12: inbox \"/srv/in\" of queue \"b\" (line 6) is the same folder as inbox \"/srv/in\" of "
                    "queue \"a\" (line 3); every inbox, outbox and state_dir must be a separate folder, none inside "
                    "another", "two queues cannot share an inbox");
        check_error("queues:\n  a:\n    inbox: /srv/a/in\n    outbox: /srv/a/out\n"
                    "  b:\n    inbox: /srv/b/in\n    outbox: /srv/a\n",
                    "7:13: outbox \"/srv/a\" of queue \"b\" (line 7) contains inbox \"/srv/a/in\" of "
                    "queue \"a\" (line 3); every inbox, outbox and state_dir must be a separate folder, none inside "
                    "another", "one queue's folder inside another's");
        check_loads("queues:\n  q:\n    inbox: /srv/in\n    outbox: /srv/inbox\n", "/srv/in and /srv/inbox are apart");
        check_loads("queues:\n  q:\n    inbox: @/no/such/inbox\n    outbox: @/no/such/outbox\n"
                    "state_dir: @/no/state\n", "missing inbox, outbox and state_dir are fine");

        p = xasprintf("%s/file", tmp);
        write_file(p, "not a folder\n");
        free(p);
        check_error("queues:\n  q:\n    inbox: \"@/file\"\n    outbox: @/out\n",
                    "3:12: \"inbox\" in queue \"q\" exists but is not a directory, got \"@/file\"",
                    "inbox that is a file");
        check_error("queues:\n  q:\n    inbox: @/in\n    outbox: \"@/file/out\"\n",
                    "4:13: \"outbox\" in queue \"q\" can never be a directory: part of it is a file, "
                    "got \"@/file/out\"", "outbox below a file");

        p = xasprintf("%s/real", tmp);
        if (mkdir(p, 0755) < 0)
                bail_out("mkdir %s: %m", p);
        free(p);
        p = xasprintf("%s/link", tmp);
        if (symlink("real", p) < 0)
                bail_out("symlink %s: %m", p);
        free(p);
        check_loads("queues:\n  q:\n    inbox: @/link\n    outbox: @/out\n", "inbox through a symlink to a folder");
        check_error("queues:\n  q:\n    inbox: \"@/link/in\"\n    outbox: \"@/real/in\"\n",
                    "4:13: outbox \"@/real/in\" of queue \"q\" (line 4) is the same folder as inbox \"@/link/in\" of "
                    "queue \"q\" (line 3) once symbolic links are resolved; every inbox, outbox and state_dir must "
                    "be a separate folder, none inside another", "same folder under two spellings");
}

static void test_durations(void) {
        static const struct {
                const char *text;
                int r;
                uint64_t usec;
        } table[] = {
                { "500ms", 0, 500 * USEC_PER_MSEC },
                { "2s", 0, 2 * USEC_PER_SEC },
                { "5m", 0, 300 * USEC_PER_SEC },
                { "1h", 0, 3600 * USEC_PER_SEC },
                { "1d", 0, 86400 * USEC_PER_SEC },
                { "1m30s", 0, 90 * USEC_PER_SEC },
                { "1h 30m", 0, 5400 * USEC_PER_SEC },
                { "1d2h3m4s5ms", 0, (86400 + 7200 + 180 + 4) * USEC_PER_SEC + 5 * USEC_PER_MSEC },
                { "2", 0, 2 * USEC_PER_SEC },
                { "2.5", 0, 2500 * USEC_PER_MSEC },
                { "0.25s", 0, 250 * USEC_PER_MSEC },
                { "1.5h", 0, 5400 * USEC_PER_SEC },
                { "0", 0, 0 },
                { "0ms", 0, 0 },
                { "", -EINVAL, 0 },
                { "-1s", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "1m30", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "1.s", -EINVAL, 0 },
                { "2 s", -EINVAL, 0 },
                { " 2s", -EINVAL, 0 },
                { "1S", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "99999999999999999999s", -ERANGE, 0 },
                { "213503982d", 0, 213503982ULL * 86400 * USEC_PER_SEC },
                { "213503983d", -ERANGE, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint64_t usec = 0;
                int r = config_parse_duration(table[i].text, &usec);

                if (table[i].r == 0)
                        ok(r == 0 && usec == table[i].usec, "duration \"%s\" = %" PRIu64 " us (got r=%d, %" PRIu64 ")",
                           table[i].text, table[i].usec, r, usec);
                else
                        is_int(r, table[i].r, "duration \"%s\" refused", table[i].text);
        }
}

static void test_sizes(void) {
        static const struct {
                const char *text;
                int r;
                uint64_t bytes;
        } table[] = {
                { "1024", 0, 1024 },
                { "0", 0, 0 },
                { "100B", 0, 100 },
                { "1K", 0, 1024 },
                { "1k", 0, 1024 },
                { "512M", 0, 512ULL << 20 },
                { "2G", 0, 2ULL << 30 },
                { "4GiB", 0, 4ULL << 30 },
                { "3MB", 0, 3ULL << 20 },
                { "1T", 0, 1ULL << 40 },
                { "1.5K", 0, 1536 },
                { "16777215T", 0, 16777215ULL << 40 },
                { "", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "-1G", -EINVAL, 0 },
                { "1X", -EINVAL, 0 },
                { "1.5", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { "1GiBs", -EINVAL, 0 },
                { "1 G", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
                { "16777216T", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint64_t bytes = 0;
                int r = config_parse_size(table[i].text, &bytes);

                if (table[i].r == 0)
                        ok(r == 0 && bytes == table[i].bytes, "size \"%s\" = %" PRIu64 " (got r=%d, %" PRIu64 ")",
                           table[i].text, table[i].bytes, r, bytes);
                else
                        is_int(r, table[i].r, "size \"%s\" refused", table[i].text);
        }
}

/* The shipped example must load and must say what the defaults are. */
static void test_example(void) {
        const char *srcdir = getenv("top_srcdir");
        char *path = xasprintf("%s/etc/pdfspool.yaml", srcdir && *srcdir ? srcdir : ".");
        struct config *c = NULL;
        const struct queue_config *q;
        char *error = NULL;
        int r;

        if (access(path, R_OK) < 0) {
                skip("%s not found (set top_srcdir)", path);
                free(path);
                return;
        }
        r = config_load(path, &c, &error);
        if (!is_int(r, 0, "etc/pdfspool.yaml loads")) {
                diag("%s", error ? error : "(no message)");
                free(error);
                free(path);
                return;
        }
        is_str(c->state_dir, "/var/lib/pdfspool", "example: state_dir");
        is_int(c->job_timeout_usec, 300 * USEC_PER_SEC, "example: job_timeout is the default");
        is_int(c->archive_max_bytes, 4LL << 30, "example: archive_max_bytes is the default");
        q = config_find_queue(c, "datasheets");
        ok(q != NULL, "example: queue datasheets");
        if (q) {
                is_str(q->inbox, "/srv/pdfspool/datasheets/inbox", "example: inbox");
                is_str(q->outbox, "/srv/pdfspool/datasheets/outbox", "example: outbox");
                is_int(q->n_ignore, 13, "example: ignore list is the default list");
                is_str(q->ignore[1], ".~lock.*#", "example: ignore patterns as documented");
                is_int(q->dir_mode, 0755, "example: dir_mode");
        }
        is_int(c->n_queues, 1, "example: one queue");
        config_free(c);
        free(path);
}

static void cleanup(void) {
        const char *names[] = { "pdfspool.yaml", "file", "link", "real" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char *p = xasprintf("%s/%s", tmp, names[i]);

                if (unlink(p) < 0)
                        (void) rmdir(p);
                free(p);
        }
        (void) rmdir(tmp);
}

/* hours: a daily window; when it is open, and when that changes. */
static void test_hours(void) {
        struct config *c = NULL;
        char *error = NULL;
        int r = load_text("queues:\n  q:\n    inbox: @/h/in\n    outbox: @/h/out\n    hours: 22:00-06:30\n", &c, &error);

        ok(r == 0 && c && c->queues[0].hours.set && c->queues[0].hours.start == 22 * 60 &&
           c->queues[0].hours.end == 6 * 60 + 30, "hours: 22:00-06:30 is read as minutes 1320-390");
        if (r == 0) {
                /* Local noon of today, and 23:00 */
                time_t t = time(NULL);
                struct tm tm;
                localtime_r(&t, &tm);
                tm.tm_hour = 12, tm.tm_min = 0, tm.tm_sec = 0, tm.tm_isdst = -1;
                uint64_t noon = (uint64_t) mktime(&tm) * USEC_PER_SEC, next = 0;
                ok(!config_hours_open(&c->queues[0].hours, noon, &next), "hours 22:00-06:30: closed at noon");
                is_int((int64_t) ((next - noon) / USEC_PER_SEC / 60), 10 * 60, "... opens 10 hours later");
                uint64_t late = noon + 11 * 3600 * USEC_PER_SEC;
                ok(config_hours_open(&c->queues[0].hours, late, &next), "... open at 23:00 (over midnight)");
                is_int((int64_t) ((next - late) / USEC_PER_SEC / 60), 7 * 60 + 30, "... closes at 06:30");
        }
        config_free(c);
        free(error);
        struct hours always = {};
        uint64_t next = 1;
        ok(config_hours_open(&always, 0, &next) && next == 0, "no hours: always open, never changes");
        check_error("queues:\n  q:\n    inbox: @/h/in\n    outbox: @/h/out\n    hours: 9-17\n",
                    "5:12: \"hours\" in queue \"q\" must be a daily window of local time like 22:00-06:00 "
                    "(start-end, HH:MM), got \"9-17\"", "hours without minutes");
        check_error("queues:\n  q:\n    inbox: @/h/in\n    outbox: @/h/out\n    hours: 08:00-08:00\n",
                    "5:12: \"hours\" in queue \"q\" must be a daily window of local time like 22:00-06:00 "
                    "(start-end, HH:MM), got \"08:00-08:00\"", "an empty window");
        uint64_t t0 = 0;
        ok(parse_rfc3339("2026-12-07T22:00:00Z", &t0) == 0 && t0 == 1796680800ULL * USEC_PER_SEC,
           "parse_rfc3339: UTC");
        ok(parse_rfc3339("2026-12-07T23:00+01:00", &t0) == 0 && t0 == 1796680800ULL * USEC_PER_SEC,
           "parse_rfc3339: an offset, no seconds");
        ok(parse_rfc3339("2026-12-07", &t0) < 0 && parse_rfc3339("tomorrow", &t0) < 0 &&
           parse_rfc3339("2026-12-07T22:00:00Zjunk", &t0) < 0, "parse_rfc3339: refuses a date alone and junk");
}

/* Profiles: read, the built-in default kept, and each mistake at its place. */
static void test_profiles(void) {
        static const char *const head = "profiles:\n  p:\n";
        static const char *const tail = "queues:\n  q:\n    inbox: @/in\n    outbox: @/out\n    profile: p\n";
        struct config *c = NULL;
        char *error = NULL, *text;
        int r;

        text = xasprintf("%s    outputs: [meta, stext]\n    thumbs: {size: 99}\n    filters:\n"
                         "      - command: [/bin/true, x]\n        when: text_layer != full\n        timeout: 5s\n%s",
                         head, tail);
        r = load_text(text, &c, &error);
        free(text);
        const struct profile *p = r == 0 ? config_find_profile(c, "p") : NULL;
        ok(p && p->on[PROFILE_META] && p->on[PROFILE_STEXT] && !p->on[PROFILE_TEXT] && p->thumb_size == 99 &&
           p->n_filters == 1 && strcmp(p->filters[0].name, "true") == 0 &&
           p->filters[0].when == PROFILE_WHEN_NOT_FULL && p->filters[0].timeout_usec == 5 * USEC_PER_SEC,
           "a profile is read: outputs, thumbs, a filter named after its program");
        ok(r == 0 && config_find_profile(c, NULL) && config_find_profile(c, NULL)->on[PROFILE_TEXT],
           "the built-in default stays");
        ok(r == 0 && strcmp(c->queues[0].profile, "p") == 0, "the queue's profile");
        config_free(c);
        free(error);

        text = xasprintf("%s    outputs: [outline]\n%s", head, tail);
        check_error(text, "3:14: output \"outline\" in profile \"p\" is part of meta.json: list \"meta\" too",
                    "outline without meta");
        free(text);
        text = xasprintf("%s    filters:\n      - name: x\n%s", head, tail);
        check_error(text, "4:9: a filter in profile \"p\" has no \"command\" (required: the program's absolute "
                    "path and its arguments, as a list)", "a filter without a command");
        free(text);
        text = xasprintf("%s    filters:\n      - command: [/bin/true]\n        when: pages > 2\n%s", head, tail);
        check_error(text, "5:15: \"when\" of a filter in profile \"p\" must be text_layer != full, "
                    "text_layer == none, text_layer == full or always, got \"pages > 2\"", "a filter's unknown condition");
        free(text);
        text = xasprintf("%s    pages: {pages: \"3-1\"}\n%s", head, tail);
        check_error(text, "3:20: \"pages.pages\" in profile \"p\" must be a list of pages like 1, 1-3, 2,5-7, 3- "
                    "or all, got \"3-1\"", "a page list backwards");
        free(text);
}

/* executor: and the slurm: block (issue 13) */
static void test_executor(void) {
        struct config *c = NULL;
        char *error = NULL;
        int r = load_text("executor: slurm\n"
                          "slurm:\n  partition: pdf\n  account: lab\n  qos: normal\n  time_limit: 30m\n"
                          "  mem_per_cpu: 2G\n  cpus_per_task: 2\n  sbatch_options: [--constraint=ssd, -N1]\n"
                          "  max_jobs: 40\n  pdfs_per_task: 32\n  poll_interval: 500ms\n"
                          "queues:\n  a:\n    inbox: @/a-in\n    outbox: @/a-out\n"
                          "  b:\n    inbox: @/b-in\n    outbox: @/b-out\n    executor: local\n",
                          &c, &error);

        if (!ok(r == 0 && c, "executor: slurm with a slurm: block loads"))
                diag("%s", error ? error : "");
        if (c) {
                const struct slurm_config *sc = &c->slurm;
                ok(c->queues[0].executor == EXECUTOR_SLURM, "a queue that says nothing takes the top level's executor");
                ok(c->queues[1].executor == EXECUTOR_LOCAL, "a queue's own executor wins");
                ok(sc->partition && strcmp(sc->partition, "pdf") == 0 && strcmp(sc->account, "lab") == 0 &&
                   strcmp(sc->qos, "normal") == 0, "partition, account, qos");
                ok(sc->time_limit_usec == 1800 * USEC_PER_SEC && sc->mem_per_cpu == 2ULL << 30 && sc->mem == 0 &&
                   sc->cpus_per_task == 2, "time_limit, mem_per_cpu, cpus_per_task");
                ok(sc->sbatch_options && strcmp(sc->sbatch_options[0], "--constraint=ssd") == 0 &&
                   strcmp(sc->sbatch_options[1], "-N1") == 0 && !sc->sbatch_options[2], "sbatch_options as a list");
                ok(sc->max_jobs == 40 && sc->pdfs_per_task == 32 && sc->poll_interval_usec == 500 * USEC_PER_MSEC,
                   "max_jobs, pdfs_per_task, poll_interval");
        }
        config_free(c);
        free(error);
        c = NULL;
        error = NULL;
        r = load_text(MINIMAL_QUEUE, &c, &error);
        ok(r == 0 && c && c->queues[0].executor == EXECUTOR_LOCAL && c->slurm.max_jobs == 16 &&
           c->slurm.pdfs_per_task == 8 && c->slurm.cpus_per_task == 1, "defaults: local; max_jobs 16, pdfs_per_task 8");
        config_free(c);
        free(error);
        check_error("executor: cloud\n" MINIMAL_QUEUE, "1:11: \"executor\" must be local or slurm, got \"cloud\"",
                    "executor: cloud");
        check_error("slurm:\n  partition: -x\n" MINIMAL_QUEUE,
                    "2:14: \"partition\" must be one word (no spaces, not starting with '-'), got \"-x\"",
                    "slurm: a partition that would read as an option");
        check_error("slurm:\n  pdfs: 3\n" MINIMAL_QUEUE,
                    "2:3: unknown key \"pdfs\" (expected one of: partition, account, qos, time_limit, mem_per_cpu, mem, "
                    "cpus_per_task, sbatch_options, max_jobs, pdfs_per_task, poll_interval)",
                    "slurm: unknown key");
}

int main(void) {
        const char *tmpdir = getenv("TMPDIR");

        tmp = xasprintf("%s/config-t.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
        if (!mkdtemp(tmp))
                bail_out("mkdtemp %s: %m", tmp);
        conf_path = xasprintf("%s/pdfspool.yaml", tmp);

        test_defaults();
        test_every_key();
        test_key_errors();
        test_yaml_errors();
        test_paths();
        test_durations();
        test_sizes();
        test_example();
        test_hours();
        test_profiles();
        test_executor();

        cleanup();
        free(conf_path);
        free(tmp);
        return done_testing();
}
