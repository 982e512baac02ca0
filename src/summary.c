/* summary.c: the batch summary page (index.html), made from the outbox files
 * people see, so that it says what they would find there.
 *
 * Throughput counts only time in which a job of the batch was running (the
 * union of the jobs' start-to-end intervals): time the daemon was stopped is
 * not counted against it. */
#include "summary.h"
#include "fsutil.h"
#include "model.h"
#include "status.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUMMARY_SLOWEST 5

static void html(FILE *f, const char *s) {
        for (; s && *s; s++)
                switch (*s) {
                case '&': fputs("&amp;", f); break;
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '"': fputs("&quot;", f); break;
                case '\'': fputs("&#39;", f); break;
                default: fputc(*s, f);
                }
}

/* A relative link: every byte but unreserved ones and '/' percent-encoded. */
static void url(FILE *f, const char *s) {
        for (; s && *s; s++) {
                unsigned char c = (unsigned char) *s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c))
                        fputc(c, f);
                else
                        fprintf(f, "%%%02X", c);
        }
}

static const char *str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static long long num(const json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

/* RFC 3339 from a status file -> seconds since the epoch, 0 if none. */
static double parse_time(const char *s) {
        struct tm tm = {};
        const char *rest;
        double frac = 0;

        if (!s || !(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
                return 0;
        if (*rest == '.')
                frac = strtod(rest, NULL);
        return (double) timegm(&tm) + frac;
}

static int compare_job(const void *a, const void *b) {
        const char *x = str(*(json_t *const *) a, "job"), *y = str(*(json_t *const *) b, "job");
        return strcmp(x ? x : "", y ? y : "");
}

static int compare_seconds(const void *a, const void *b) {
        double x = json_number_value(json_object_get(*(json_t *const *) a, "seconds"));
        double y = json_number_value(json_object_get(*(json_t *const *) b, "seconds"));
        return x < y ? 1 : x > y ? -1 : compare_job(a, b);
}

struct interval { double start, end; };

static int compare_interval(const void *a, const void *b) {
        double x = ((const struct interval *) a)->start, y = ((const struct interval *) b)->start;
        return x < y ? -1 : x > y;
}

/* Seconds in which at least one job ran. */
static double busy_seconds(json_t **jobs, size_t n) {
        struct interval *iv = xcalloc(n ? n : 1, sizeof(*iv));
        size_t k = 0;
        double total = 0, start = 0, end = 0;

        for (size_t i = 0; i < n; i++) {
                double s = parse_time(str(jobs[i], "started")), e = parse_time(str(jobs[i], "finished"));
                if (s > 0 && e >= s)
                        iv[k++] = (struct interval) { s, e };
        }
        qsort(iv, k, sizeof(*iv), compare_interval);
        for (size_t i = 0; i < k; i++) {
                if (i == 0 || iv[i].start > end) {
                        total += end - start;
                        start = iv[i].start;
                        end = iv[i].end;
                } else if (iv[i].end > end)
                        end = iv[i].end;
        }
        if (k > 0)
                total += end - start;
        free(iv);
        return total;
}

static void fact(FILE *f, const json_t *facts, const char *key, const char *label) {
        const json_t *v = json_object_get(facts, key);
        const char *text = str(v, "value");

        if (json_is_array(v)) {
                size_t i;
                json_t *e;
                fprintf(f, "<div><b>%s:</b> ", label);
                json_array_foreach(v, i, e) {
                        if (i >= 8) {
                                fputs(", …", f);
                                break;
                        }
                        fputs(i ? ", " : "", f);
                        html(f, str(e, "value"));
                }
                fputs("</div>", f);
        } else if (text) {
                fprintf(f, "<div><b>%s:</b> ", label);
                html(f, text);
                fputs("</div>", f);
        } else if (json_is_number(json_object_get(v, "value")))
                fprintf(f, "<div><b>%s:</b> %g</div>", label, json_number_value(json_object_get(v, "value")));
        else if (json_object_get(v, "min") || json_object_get(v, "max")) {
                fprintf(f, "<div><b>%s:</b> %g … %g ", label, json_number_value(json_object_get(v, "min")),
                        json_number_value(json_object_get(v, "max")));
                html(f, str(v, "unit"));
                fputs("</div>", f);
        }
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Links to each file in the job's folder (its outputs and original). */
static void job_links(FILE *f, int batch_fd, const char *job) {
        DIR *d = fs_opendir_at(batch_fd, job);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;

        if (!d)
                return;
        while ((de = readdir(d)) && n < 64)
                if (de->d_type == DT_REG && de->d_name[0] != '.' && strcmp(de->d_name, STATUS_FILE) != 0) {
                        names = xrealloc(names, (n + 1) * sizeof(char *));
                        names[n++] = xstrdup(de->d_name);
                }
        closedir(d);
        if (n > 0) /* qsort(NULL, 0, ...) is undefined (UBSan): a running job's folder is empty */
                qsort(names, n, sizeof(char *), compare_names);
        for (size_t i = 0; i < n; i++) {
                fputs("<a href=\"", f);
                url(f, job);
                fputc('/', f);
                url(f, names[i]);
                fputs("\">", f);
                html(f, names[i]);
                fputs("</a> ", f);
                free(names[i]);
        }
        free(names);
}

static void job_row(FILE *f, int batch_fd, const json_t *j) {
        const char *name = str(j, "job"), *state = str(j, "state"), *error = str(j, "error");
        /* A profile may make thumb.jpg, or thumbs of several pages (profile.h). */
        static const char *const thumbs[] = { OUTPUT_THUMB, OUTPUT_THUMB_JPEG, OUTPUT_THUMBS_DIR "/0001.png",
                                              OUTPUT_THUMBS_DIR "/0001.jpg" };
        char *thumb = NULL;
        bool has_thumb = false;
        for (size_t k = 0; !has_thumb && k < ELEMENTSOF(thumbs); k++) {
                free(thumb);
                thumb = xasprintf("%s/%s", name ? name : "", thumbs[k]);
                has_thumb = faccessat(batch_fd, thumb, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        }
        char *facts_path = xasprintf("%s/facts.json", name ? name : "");
        json_t *facts = status_load(batch_fd, facts_path);

        fprintf(f, "<tr class=\"job %s\"><td class=\"thumb\">", state ? state : "");
        if (has_thumb) {
                fputs("<a href=\"", f);
                url(f, thumb);
                fputs("\"><img loading=\"lazy\" alt=\"\" src=\"", f);
                url(f, thumb);
                fputs("\"></a>", f);
        }
        fputs("</td><td><a href=\"", f);
        url(f, name);
        fputs("/\">", f);
        html(f, name);
        fputs("</a><div class=\"src\">", f);
        html(f, str(j, "source"));
        fprintf(f, "</div></td><td class=\"state\">");
        html(f, state);
        fprintf(f, "</td><td class=\"n\">%lld</td><td class=\"n\">%.2f</td><td>", num(j, "pages"),
                json_number_value(json_object_get(j, "seconds")));
        if (error) {
                fputs("<div class=\"err\">", f);
                html(f, error);
                fputs("</div>", f);
        }
        if (json_is_object(facts)) {
                fact(f, facts, "manufacturer", "Manufacturer");
                fact(f, facts, "part_number", "Part");
                fact(f, facts, "description", "Description");
                fact(f, facts, "packages", "Packages");
                fact(f, facts, "temperature", "Temperature");
                fact(f, facts, "supply_voltage", "Supply");
        }
        fputs("</td><td class=\"links\">", f);
        job_links(f, batch_fd, name ? name : "");
        fputs("</td></tr>\n", f);
        json_decref(facts);
        free(facts_path);
        free(thumb);
}

static const char style[] =
        "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;background:#fff}"
        "h1{font-size:1.4em;margin:0 0 .5em}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#f0f0f0}.n{text-align:right}.thumb img{max-width:96px;max-height:128px;border:1px solid #ccc}"
        ".err{color:#a00}.src{color:#666;font-size:.9em}.state{font-weight:bold}"
        "tr.failed .state{color:#a00}tr.done .state{color:#070}tr.canceled .state{color:#777}"
        ".stats td{border:none;padding:2px 12px 2px 0}.links a{margin-right:.5em}";

int summary_write(int outbox_fd, const char *batch, mode_t mode, gid_t gid) {
        int bfd = openat(outbox_fd, batch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;
        char *buf = NULL;
        size_t len = 0;

        if (bfd < 0)
                return -errno;
        json_t *b = status_load(bfd, STATUS_FILE);
        if (!json_is_object(b)) {
                json_decref(b);
                close(bfd);
                return -ENOENT;
        }
        json_t *list = json_array();
        status_collect_jobs(bfd, "", list, 0);
        size_t n = json_array_size(list);
        json_t **jobs = xcalloc(n ? n : 1, sizeof(json_t *));
        for (size_t i = 0; i < n; i++)
                jobs[i] = json_array_get(list, i);
        qsort(jobs, n, sizeof(json_t *), compare_job);

        const char *state = str(b, "state");
        bool finished = state && (strcmp(state, "done") == 0 || strcmp(state, "canceled") == 0);
        json_t *counts = json_object_get(b, "jobs");
        double busy = busy_seconds(jobs, n);
        double wall = 0, created = parse_time(str(b, "started")), end = parse_time(str(b, finished ? "finished" : "updated"));
        if (created > 0 && end > created)
                wall = end - created;
        long long pages = num(b, "pages_done");

        FILE *f = open_memstream(&buf, &len);
        if (!f) {
                r = -errno;
                goto out;
        }
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">", f);
        /* Refreshed by the browser while the batch runs: no script needed. */
        if (!finished)
                fputs("<meta http-equiv=\"refresh\" content=\"10\">", f);
        fputs("<title>", f);
        html(f, batch);
        fprintf(f, ": pdfspool</title><style>%s</style></head><body>\n<h1>Batch ", style);
        html(f, batch);
        fputs("</h1>\n<table class=\"stats\"><tr><td>State</td><td><b>", f);
        html(f, state);
        fputs("</b></td></tr><tr><td>Queue</td><td>", f);
        html(f, str(b, "queue"));
        fputs("</td></tr><tr><td>Jobs</td><td>", f);
        static const char *const states[] = { "total", "done", "failed", "queued", "processing", "canceled", "skipped" };
        for (size_t i = 0; i < ELEMENTSOF(states); i++)
                fprintf(f, "%s%lld %s", i ? ", " : "", num(counts, states[i]), states[i]);
        fprintf(f, "</td></tr><tr><td>Pages</td><td>%lld</td></tr>"
                   "<tr><td>Wall time</td><td>%.1f s</td></tr>"
                   "<tr><td>Processing time</td><td>%.1f s (while a job ran)</td></tr>"
                   "<tr><td>Pages/s</td><td>%.2f</td></tr><tr><td>Created</td><td>",
                pages, wall, busy, busy > 0 ? (double) pages / busy : 0.0);
        html(f, str(b, "created"));
        fputs("</td></tr><tr><td>Finished</td><td>", f);
        html(f, str(b, "finished") ? str(b, "finished") : "not yet");
        fputs("</td></tr></table>\n", f);

        json_t **slow = xcalloc(n ? n : 1, sizeof(json_t *));
        memcpy(slow, jobs, n * sizeof(json_t *));
        qsort(slow, n, sizeof(json_t *), compare_seconds);
        fputs("<h2>Slowest jobs</h2><ol>", f);
        for (size_t i = 0; i < n && i < SUMMARY_SLOWEST; i++) {
                if (json_number_value(json_object_get(slow[i], "seconds")) <= 0)
                        break;
                fputs("<li>", f);
                html(f, str(slow[i], "job"));
                fprintf(f, ": %.2f s, %lld page%s</li>", json_number_value(json_object_get(slow[i], "seconds")),
                        num(slow[i], "pages"), num(slow[i], "pages") == 1 ? "" : "s");
        }
        fputs("</ol>\n", f);
        free(slow);

        fprintf(f, "<h2>Jobs</h2><table id=\"jobs\"><thead><tr><th></th><th>Job</th><th>State</th><th>Pages</th>"
                   "<th>Seconds</th><th>Error / facts</th><th>Files</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < n; i++)
                job_row(f, bfd, jobs[i]);
        fputs("</tbody></table>\n", f);
        json_t *skipped = json_object_get(b, "skipped");
        if (json_array_size(skipped) > 0) {
                size_t i;
                json_t *s;
                fputs("<h2>Skipped</h2><ul>", f);
                json_array_foreach(skipped, i, s) {
                        fputs("<li>", f);
                        html(f, str(s, "source"));
                        fputs(": ", f);
                        html(f, str(s, "reason"));
                        fputs("</li>", f);
                }
                fputs("</ul>\n", f);
        }
        fputs("</body></html>\n", f);
        r = fclose(f) == 0 ? 0 : -ENOMEM;
        if (r == 0)
                r = fs_write_atomic(bfd, SUMMARY_FILE, buf, len, mode, gid, 0);
out:
        free(buf);
        free(jobs);
        json_decref(list);
        json_decref(b);
        close(bfd);
        return r;
}
