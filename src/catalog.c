/* catalog.c: a batch's parts catalog and the comparison of two batches (see catalog.h). */
#include "catalog.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "fsutil.h"
#include "util.h"

#define MAX_TABLE_FILE (4 * 1024 * 1024)
#define TABLES_MAX_FIELDS 64

static const char *const columns[] = {
        "part_number", "manufacturer", "description", "package", "packages", "temperature_min",
        "temperature_max", "voltage_min", "voltage_max", "datasheet", "revision", "date", "page", "job",
};

void catalog_part_key(const char *part, char *buf, size_t size) {
        size_t n = 0;

        for (; *part && n + 1 < size; part++)
                if (!isspace((unsigned char) *part))
                        buf[n++] = (char) toupper((unsigned char) *part);
        buf[n] = 0;
}

static const char *value_of(json_t *facts, const char *key) {
        return json_string_value(json_object_get(json_object_get(facts, key), "value"));
}

/* One row for PART from a job's FACTS. */
static json_t *make_row(json_t *facts, json_t *part, const char *job, const char *datasheet, bool primary) {
        json_t *row = json_object(), *packages = json_array(), *p, *t, *v;
        const char *s;
        size_t i;

        json_object_set_new(row, "part_number", json_incref(json_object_get(part, "value")));
        if ((s = value_of(facts, "manufacturer")))
                json_object_set_new(row, "manufacturer", json_string(s));
        if ((s = value_of(facts, "description")))
                json_object_set_new(row, "description", json_string(s));
        json_array_foreach(json_object_get(facts, "packages"), i, p)
                if (json_is_string(json_object_get(p, "value")))
                        json_array_append(packages, json_object_get(p, "value"));
        if (json_array_size(packages) > 0)
                json_object_set(row, "package", json_array_get(packages, 0));
        json_object_set_new(row, "packages", packages);
        t = json_object_get(facts, "temperature");
        if (json_is_number(json_object_get(t, "min")) && json_is_number(json_object_get(t, "max"))) {
                json_object_set(row, "temperature_min", json_object_get(t, "min"));
                json_object_set(row, "temperature_max", json_object_get(t, "max"));
        }
        v = json_object_get(facts, "supply_voltage");
        if (json_is_number(json_object_get(v, "min")) && json_is_number(json_object_get(v, "max"))) {
                json_object_set(row, "voltage_min", json_object_get(v, "min"));
                json_object_set(row, "voltage_max", json_object_get(v, "max"));
        }
        json_object_set_new(row, "datasheet", json_string(datasheet));
        if ((s = value_of(facts, "revision")))
                json_object_set_new(row, "revision", json_string(s));
        if ((s = value_of(facts, "date")))
                json_object_set_new(row, "date", json_string(s));
        if (json_is_integer(json_object_get(part, "page")))
                json_object_set(row, "page", json_object_get(part, "page"));
        json_object_set_new(row, "job", json_string(job));
        json_object_set_new(row, "primary", json_boolean(primary));
        return row;
}

/* The PDF's name in the job folder, from its status.json; else the folder's name. */
static char *datasheet_of(int job_fd, const char *job) {
        char *text = NULL, *out;
        json_t *status;
        const char *original;
        size_t len;

        if (fs_read_file(job_fd, "status.json", 64 * 1024, &text, &len) < 0)
                return xasprintf("%s.pdf", job);
        status = json_loadb(text, len, 0, NULL);
        free(text);
        original = json_string_value(json_object_get(status, "original"));
        out = original && !strchr(original, '/') ? xasprintf("%s/%s", job, original) : xasprintf("%s.pdf", job);
        json_decref(status);
        return out;
}

struct walk {
        json_t *rows;           /* object: part key -> row */
        unsigned jobs;
};

static void add_job(struct walk *w, json_t *facts, const char *job, const char *datasheet) {
        json_t *primary = json_object_get(facts, "part_number"), *p, *existing;
        char key[128];
        size_t i;

        if (json_is_string(json_object_get(primary, "value"))) {
                catalog_part_key(json_string_value(json_object_get(primary, "value")), key, sizeof(key));
                existing = json_object_get(w->rows, key);
                if (!existing || !json_is_true(json_object_get(existing, "primary")))
                        json_object_set_new(w->rows, key, make_row(facts, primary, job, datasheet, true));
        }
        json_array_foreach(json_object_get(facts, "other_part_numbers"), i, p) {
                if (!json_is_string(json_object_get(p, "value")))
                        continue;
                catalog_part_key(json_string_value(json_object_get(p, "value")), key, sizeof(key));
                if (!json_object_get(w->rows, key))
                        json_object_set_new(w->rows, key, make_row(facts, p, job, datasheet, false));
        }
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Walk DIR_FD (PATH inside the batch, "" at the top) for job folders holding facts.json. */
static int walk_dir(struct walk *w, int dir_fd, const char *path, int depth) {
        char **names = NULL, *text = NULL;
        size_t n = 0, cap = 0, i, len;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        r = fs_read_file(dir_fd, "facts.json", CATALOG_MAX_FACTS_BYTES, &text, &len);
        if (r == 0 && depth > 0) {
                json_t *facts = json_loadb(text, len, 0, NULL);
                char *datasheet = datasheet_of(dir_fd, path);

                free(text);
                if (json_is_object(facts) && w->jobs < CATALOG_MAX_JOBS) {
                        add_job(w, facts, path, datasheet);
                        w->jobs++;
                }
                json_decref(facts);
                free(datasheet);
                return 0;       /* a job folder: nothing below it is another job */
        }
        free(text);
        if (r < 0 && r != -ENOENT)
                return r;
        if (depth >= CATALOG_MAX_DEPTH)
                return 0;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        /* sorted, so "the first job" is the same on every run */
        for (errno = 0; (de = readdir(d)); errno = 0) {
                if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
                        continue;
                if (depth == 0 && strcmp(de->d_name, "rejected") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        names = xrealloc(names, cap * sizeof(*names));
                }
                names[n++] = xstrdup(de->d_name);
        }
        r = errno ? -errno : 0;
        closedir(d);
        if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(names, n, sizeof(*names), compare_names);
        for (i = 0; i < n && r == 0; i++) {
                char *sub = *path ? xasprintf("%s/%s", path, names[i]) : xstrdup(names[i]);
                int sub_fd = openat(dir_fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (sub_fd < 0) {
                        /* gone meanwhile, or not a folder: nothing to read there */
                        if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
                                r = -errno;
                } else {
                        r = walk_dir(w, sub_fd, sub, depth + 1);
                        close(sub_fd);
                }
                free(sub);
        }
        for (i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static int compare_rows(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int catalog_collect(int batch_fd, json_t **ret_rows) {
        struct walk w = { .rows = json_object() };
        const char **keys;
        const char *key;
        json_t *row, *out;
        size_t n = 0, i;
        int r;

        if (!w.rows)
                return -ENOMEM;
        r = walk_dir(&w, batch_fd, "", 0);
        if (r < 0) {
                json_decref(w.rows);
                return r;
        }
        keys = xmalloc((json_object_size(w.rows) + 1) * sizeof(*keys));
        json_object_foreach(w.rows, key, row)
                keys[n++] = key;
        if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(keys, n, sizeof(*keys), compare_rows);
        out = json_array();
        for (i = 0; i < n; i++)
                json_array_append(out, json_object_get(w.rows, keys[i]));
        free(keys);
        json_decref(w.rows);
        *ret_rows = out;
        return 0;
}

/* A row's COLUMN as text ("" when absent); numbers as printed by %g. */
static const char *cell(json_t *row, const char *column, char *buf, size_t size) {
        json_t *v = json_object_get(row, column);

        if (json_is_string(v))
                return json_string_value(v);
        if (json_is_integer(v)) {
                (void) snprintf(buf, size, "%lld", (long long) json_integer_value(v));
                return buf;
        }
        if (json_is_real(v)) {
                (void) snprintf(buf, size, "%g", json_real_value(v));
                return buf;
        }
        if (json_is_array(v)) {
                size_t i, n = 0;
                json_t *e;

                buf[0] = 0;
                json_array_foreach(v, i, e)
                        if (json_is_string(e))
                                n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? ";" : "", json_string_value(e));
                return buf;
        }
        return "";
}

static int write_sqlite(int batch_fd, json_t *rows, mode_t mode, gid_t gid) {
        char path[128], sql[1024], buf[14][512], tmp[64];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        json_t *row;
        size_t i, c, n = 0;
        int r = 0;

        /* One writer's own name (two children may rebuild one batch's catalog at
         * once); a temp name (fsutil.c), so that what a killed writer leaves,
         * with sqlite's -journal beside it, goes at the next start. */
        (void) snprintf(tmp, sizeof(tmp), ".parts.sqlite.tmp-%d", (int) getpid());
        (void) unlinkat(batch_fd, tmp, 0);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", batch_fd, tmp);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
                r = -EIO;
                goto out;
        }
        /* KiCad's field names: MPN is the key, Symbol and Footprint are for the user to fill */
        if (sqlite3_exec(db,
                         "PRAGMA synchronous=FULL; BEGIN;"
                         "CREATE TABLE parts (MPN TEXT PRIMARY KEY, Manufacturer TEXT, Description TEXT,"
                         " Package TEXT, Datasheet TEXT, Symbol TEXT, Footprint TEXT, Revision TEXT, Date TEXT,"
                         " TemperatureMin TEXT, TemperatureMax TEXT, VoltageMin TEXT, VoltageMax TEXT, Job TEXT);",
                         NULL, NULL, NULL) != SQLITE_OK) {
                r = -EIO;
                goto out;
        }
        (void) snprintf(sql, sizeof(sql),
                        "INSERT OR IGNORE INTO parts (MPN, Manufacturer, Description, Package, Datasheet, Symbol,"
                        " Footprint, Revision, Date, TemperatureMin, TemperatureMax, VoltageMin, VoltageMax, Job)"
                        " VALUES (?, ?, ?, ?, ?, '', '', ?, ?, ?, ?, ?, ?, ?)");
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
                r = -EIO;
                goto out;
        }
        json_array_foreach(rows, i, row) {
                static const char *const cols[] = { "part_number", "manufacturer", "description", "package", "datasheet",
                                                    "revision", "date", "temperature_min", "temperature_max",
                                                    "voltage_min", "voltage_max", "job" };

                for (c = 0; c < ELEMENTSOF(cols); c++)
                        sqlite3_bind_text(st, (int) c + 1, cell(row, cols[c], buf[c], sizeof(buf[c])), -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) != SQLITE_DONE) {
                        r = -EIO;
                        goto out;
                }
                sqlite3_reset(st);
                n++;
        }
        if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
                r = -EIO;
out:
        sqlite3_finalize(st);
        if (db && sqlite3_close(db) != SQLITE_OK && r == 0)
                r = -EIO;
        if (r == 0)
                r = fs_set_owner(batch_fd, tmp, mode, gid);
        if (r == 0 && renameat(batch_fd, tmp, batch_fd, "parts.sqlite") < 0)
                r = -errno;
        if (r < 0) {
                char journal[80];
                (void) snprintf(journal, sizeof(journal), "%s-journal", tmp);
                (void) unlinkat(batch_fd, tmp, 0);
                (void) unlinkat(batch_fd, journal, 0);
        }
        return r;
}

/* KiCad 7+ database library (docs.kicad.org, "Database Libraries"): ODBC only,
 * so it points at parts.sqlite through the SQLite ODBC driver; ${CWD} is the
 * folder of the .kicad_dbl file. */
static json_t *kicad_dbl(void) {
        json_t *fields = json_array();
        static const struct {
                const char *column, *name;
                bool on_add;
        } f[] = {
                { "MPN", "MPN", false },
                { "Manufacturer", "Manufacturer", false },
                { "Package", "Package", false },
                { "Datasheet", "Datasheet", false },
                { "Revision", "Revision", false },
        };
        size_t i;

        for (i = 0; i < ELEMENTSOF(f); i++)
                json_array_append_new(fields, json_pack("{s:s, s:s, s:b, s:b, s:b}", "column", f[i].column, "name", f[i].name,
                                                        "visible_on_add", f[i].on_add, "visible_in_chooser", true,
                                                        "show_name", true));
        return json_pack("{s:{s:i}, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i, s:s}, s:[{s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s}}]}",
                         "meta", "version", 0,
                         "name", "pdfspool parts", "description", "Parts found in a pdfspool batch's datasheets",
                         "source", "type", "odbc", "dsn", "", "username", "", "password", "", "timeout_seconds", 2,
                         "connection_string", "Driver={SQLite3};Database=${CWD}/parts.sqlite",
                         "libraries", "name", "Parts", "table", "parts", "key", "MPN", "symbols", "Symbol",
                         "footprints", "Footprint", "fields", fields, "properties", "description", "Description");
}

int catalog_rebuild(int batch_fd, mode_t mode, gid_t gid) {
        struct csv_buf csv = { 0 };
        json_t *rows = NULL, *row, *dbl;
        char *jsonl = NULL, buf[ELEMENTSOF(columns)][512];
        size_t len = 0, i, c;
        int r;

        r = catalog_collect(batch_fd, &rows);
        if (r < 0)
                return r;
        csv_append_record(&csv, columns, ELEMENTSOF(columns));
        json_array_foreach(rows, i, row) {
                const char *fields[ELEMENTSOF(columns)];
                char *line;

                for (c = 0; c < ELEMENTSOF(columns); c++)
                        fields[c] = cell(row, columns[c], buf[c], sizeof(buf[c]));
                csv_append_record(&csv, fields, ELEMENTSOF(columns));
                (void) json_object_del(row, "primary");
                line = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(10));
                if (!line) {
                        r = -ENOMEM;
                        goto out;
                }
                jsonl = xrealloc(jsonl, len + strlen(line) + 2);
                memcpy(jsonl + len, line, strlen(line));
                len += strlen(line);
                jsonl[len++] = '\n';
                free(line);
        }
        r = fs_write_atomic(batch_fd, "parts.csv", csv.data, csv.len, mode, gid, 0);
        if (r == 0)
                r = fs_write_atomic(batch_fd, "parts.jsonl", jsonl ? jsonl : "", len, mode, gid, 0);
        if (r == 0)
                r = write_sqlite(batch_fd, rows, mode, gid);
        if (r == 0) {
                dbl = kicad_dbl();
                r = dbl ? fs_write_json(batch_fd, "parts.kicad_dbl", dbl, mode, gid, FS_WRITE_PRETTY) : -ENOMEM;
                json_decref(dbl);
        }
        if (r == 0 && fsync(batch_fd) < 0)
                r = -errno;
out:
        csv_buf_free(&csv);
        free(jsonl);
        json_decref(rows);
        return r;
}

void catalog_print(FILE *out, json_t *rows, bool json) {
        char b1[64], b2[64], b3[64], b4[64], b5[512];
        json_t *row;
        size_t i;

        if (!json)
                fprintf(out, "%-20s %-22s %-14s %-13s %-13s %s\n", "PART", "MANUFACTURER", "PACKAGE", "TEMP", "SUPPLY", "DATASHEET");
        json_array_foreach(rows, i, row) {
                char temp[32] = "-", volt[32] = "-";

                if (json) {
                        char *line = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(10));

                        if (line)
                                fprintf(out, "%s\n", line);
                        free(line);
                        continue;
                }
                if (json_object_get(row, "temperature_min"))
                        (void) snprintf(temp, sizeof(temp), "%s..%s", cell(row, "temperature_min", b1, sizeof(b1)),
                                        cell(row, "temperature_max", b2, sizeof(b2)));
                if (json_object_get(row, "voltage_min"))
                        (void) snprintf(volt, sizeof(volt), "%s..%sV", cell(row, "voltage_min", b3, sizeof(b3)),
                                        cell(row, "voltage_max", b4, sizeof(b4)));
                fprintf(out, "%-20s %-22s %-14s %-13s %-13s %s\n", cell(row, "part_number", b5, sizeof(b5)),
                        json_string_value(json_object_get(row, "manufacturer")) ?: "-",
                        json_string_value(json_object_get(row, "package")) ?: "-", temp, volt,
                        json_string_value(json_object_get(row, "datasheet")) ?: "-");
        }
}

/* ---- comparing two batches ---- */

static json_t *rows_by_key(json_t *rows) {
        json_t *by = json_object(), *row;
        char key[128];
        size_t i;

        json_array_foreach(rows, i, row) {
                catalog_part_key(json_string_value(json_object_get(row, "part_number")) ?: "", key, sizeof(key));
                json_object_set(by, key, row);
        }
        return by;
}

/* The job's tables as {kind: {row key: {column: value}}}, NULL when it has none. */
static json_t *load_tables(int batch_fd, const char *job) {
        char *text = NULL;
        size_t len, i;
        json_t *index, *t, *out;
        int job_fd, r;

        job_fd = openat(batch_fd, job, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (job_fd < 0)
                return NULL;
        r = fs_read_file(job_fd, "tables.json", CATALOG_MAX_FACTS_BYTES, &text, &len);
        index = r == 0 ? json_loadb(text, len, 0, NULL) : NULL;
        free(text);
        out = json_object();
        json_array_foreach(json_object_get(index, "tables"), i, t) {
                const char *kind = json_string_value(json_object_get(t, "kind"));
                const char *file = json_string_value(json_object_get(t, "file"));
                json_t *cols = json_object_get(t, "columns"), *by_kind;
                char *data = NULL, **fields;
                const char *p;
                size_t n_fields;
                unsigned row_no;

                if (!kind || !file || strstr(file, ".."))
                        continue;
                if (fs_read_file(job_fd, file, MAX_TABLE_FILE, &data, &len) < 0)
                        continue;
                by_kind = json_object_get(out, kind);
                if (!by_kind) {
                        by_kind = json_object();
                        json_object_set_new(out, kind, by_kind);
                }
                p = data;
                for (row_no = 0; (n_fields = csv_next_record(&p, &fields, TABLES_MAX_FIELDS)) > 0; row_no++) {
                        json_t *row;
                        char key[256];
                        size_t c;

                        /* rows are matched by their first two cells (parameter, symbol) */
                        (void) snprintf(key, sizeof(key), "%s | %s", fields[0], n_fields > 1 ? fields[1] : "");
                        row = json_object();
                        for (c = 2; row_no > 0 && c < n_fields && c < json_array_size(cols); c++)
                                json_object_set_new(row, json_string_value(json_array_get(cols, c)) ?: "", json_string(fields[c]));
                        if (row_no > 0 && !json_object_get(by_kind, key))
                                json_object_set_new(by_kind, key, row);
                        else
                                json_decref(row);
                        for (c = 0; c < n_fields; c++)
                                free(fields[c]);
                        free(fields);
                }
                free(data);
        }
        json_decref(index);
        close(job_fd);
        return out;
}

static void diff_tables(json_t *changes, int fd_a, int fd_b, const char *job_a, const char *job_b) {
        json_t *ta = load_tables(fd_a, job_a), *tb = load_tables(fd_b, job_b), *rows_a, *row_a, *v;
        const char *kind, *key, *col;

        json_object_foreach(ta, kind, rows_a) {
                json_t *rows_b = json_object_get(tb, kind);

                if (!rows_b)
                        continue;
                json_object_foreach(rows_a, key, row_a) {
                        json_t *row_b = json_object_get(rows_b, key);

                        if (!row_b)
                                continue;
                        json_object_foreach(row_a, col, v) {
                                json_t *w = json_object_get(row_b, col);

                                if (!w || json_equal(v, w) || json_array_size(changes) >= CATALOG_MAX_DIFF_CHANGES)
                                        continue;
                                json_array_append_new(changes, json_pack("{s:s, s:s, s:s, s:O, s:O}", "kind", kind, "row", key,
                                                                         "column", col, "old", v, "new", w));
                        }
                }
        }
        json_decref(ta);
        json_decref(tb);
}

json_t *catalog_diff(json_t *a, json_t *b, int batch_a_fd, int batch_b_fd) {
        static const char *const compared[] = { "manufacturer", "description", "package", "packages", "temperature_min",
                                                "temperature_max", "voltage_min", "voltage_max", "revision", "date" };
        json_t *by_a = rows_by_key(a), *by_b = rows_by_key(b), *out, *row_a, *row_b;
        json_t *added = json_array(), *removed = json_array(), *changed = json_array();
        const char *key;
        size_t i;

        json_object_foreach(by_a, key, row_a) {
                json_t *facts, *tables;

                row_b = json_object_get(by_b, key);
                if (!row_b) {
                        json_array_append(removed, row_a);
                        continue;
                }
                facts = json_object();
                for (i = 0; i < ELEMENTSOF(compared); i++) {
                        json_t *va = json_object_get(row_a, compared[i]), *vb = json_object_get(row_b, compared[i]);

                        if ((va || vb) && !(va && vb && json_equal(va, vb)))
                                json_object_set_new(facts, compared[i], json_pack("{s:O?, s:O?}", "old", va, "new", vb));
                }
                tables = json_array();
                if (batch_a_fd >= 0 && batch_b_fd >= 0) {
                        const char *ja = json_string_value(json_object_get(row_a, "job"));
                        const char *jb = json_string_value(json_object_get(row_b, "job"));

                        if (ja && jb)
                                diff_tables(tables, batch_a_fd, batch_b_fd, ja, jb);
                }
                if (json_object_size(facts) > 0 || json_array_size(tables) > 0)
                        json_array_append_new(changed, json_pack("{s:O, s:o, s:o}", "part_number",
                                                                 json_object_get(row_b, "part_number"), "facts", facts,
                                                                 "tables", tables));
                else {
                        json_decref(facts);
                        json_decref(tables);
                }
        }
        json_object_foreach(by_b, key, row_b)
                if (!json_object_get(by_a, key))
                        json_array_append(added, row_b);
        out = json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed, "changed", changed);
        json_decref(by_a);
        json_decref(by_b);
        return out;
}

static void print_value(FILE *out, json_t *v) {
        char *s;

        if (!v) {
                fputs("-", out);
                return;
        }
        if (json_is_string(v)) {
                fputs(json_string_value(v), out);
                return;
        }
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
        fputs(s ? s : "?", out);
        free(s);
}

void catalog_print_diff(FILE *out, json_t *diff, bool json) {
        json_t *row, *c, *change, *t;
        const char *key;
        size_t i, k;

        if (json) {
                char *s = json_dumps(diff, JSON_INDENT(2) | JSON_REAL_PRECISION(10));

                if (s)
                        fprintf(out, "%s\n", s);
                free(s);
                return;
        }
        json_array_foreach(json_object_get(diff, "removed"), i, row)
                fprintf(out, "- %s (%s)\n", json_string_value(json_object_get(row, "part_number")) ?: "?",
                        json_string_value(json_object_get(row, "datasheet")) ?: "?");
        json_array_foreach(json_object_get(diff, "added"), i, row)
                fprintf(out, "+ %s (%s)\n", json_string_value(json_object_get(row, "part_number")) ?: "?",
                        json_string_value(json_object_get(row, "datasheet")) ?: "?");
        json_array_foreach(json_object_get(diff, "changed"), i, c) {
                fprintf(out, "~ %s\n", json_string_value(json_object_get(c, "part_number")) ?: "?");
                json_object_foreach(json_object_get(c, "facts"), key, change) {
                        fprintf(out, "    %s: ", key);
                        print_value(out, json_object_get(change, "old"));
                        fputs(" -> ", out);
                        print_value(out, json_object_get(change, "new"));
                        fputc('\n', out);
                }
                json_array_foreach(json_object_get(c, "tables"), k, t) {
                        fprintf(out, "    %s [%s] %s: ", json_string_value(json_object_get(t, "kind")),
                                json_string_value(json_object_get(t, "row")), json_string_value(json_object_get(t, "column")));
                        print_value(out, json_object_get(t, "old"));
                        fputs(" -> ", out);
                        print_value(out, json_object_get(t, "new"));
                        fputc('\n', out);
                }
        }
}
