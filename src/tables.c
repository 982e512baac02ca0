/* tables.c: datasheet tables rebuilt from text positions (see tables.h). */
#include "tables.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "fsutil.h"
#include "util.h"

/* Rows share a baseline within this fraction of the font size. */
#define ROW_TOLERANCE_EM 0.4f
/* A table ends at a vertical gap wider than this many rows. */
#define TABLE_GAP_EM 4.0f
/* The header row is among the first few rows under the heading. */
#define HEADER_SEARCH_ROWS 6
#define MAX_HEADING 160

struct table {
        enum table_kind kind;
        char title[MAX_HEADING];
        int page;
        unsigned n_columns, n_rows;     /* rows[0] is the header */
        char **cells;                   /* n_rows * n_columns, NULL = empty */
};

struct tables {
        struct table items[TABLES_MAX];
        unsigned n;
};

static const char *const kind_names[] = {
        "absolute_maximum_ratings", "recommended_operating_conditions", "electrical_characteristics",
        "pin_descriptions",
};

const char *table_kind_name(enum table_kind kind) {
        return kind < TABLE_KIND_COUNT ? kind_names[kind] : "unknown";
}

struct tables *tables_new(void) {
        return xcalloc(1, sizeof(struct tables));
}

static void table_clear(struct table *t) {
        unsigned i;

        for (i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        t->cells = NULL;
        t->n_rows = 0;
}

void tables_free(struct tables *t) {
        unsigned i;

        if (!t)
                return;
        for (i = 0; i < t->n; i++)
                table_clear(&t->items[i]);
        free(t);
}

unsigned tables_count(const struct tables *t) {
        return t ? t->n : 0;
}

/* ---- headings ---- */

int tables_heading_kind(const char *line) {
        static const struct {
                const char *phrase;
                enum table_kind kind;
        } phrases[] = {
                { "absolute maximum ratings", TABLE_ABSOLUTE_MAXIMUM_RATINGS },
                { "absolute maximum rating", TABLE_ABSOLUTE_MAXIMUM_RATINGS },
                { "absolute maximum", TABLE_ABSOLUTE_MAXIMUM_RATINGS },
                { "maximum ratings", TABLE_ABSOLUTE_MAXIMUM_RATINGS },
                { "recommended operating conditions", TABLE_RECOMMENDED_OPERATING_CONDITIONS },
                { "recommended operating condition", TABLE_RECOMMENDED_OPERATING_CONDITIONS },
                { "recommended operating ratings", TABLE_RECOMMENDED_OPERATING_CONDITIONS },
                { "operating conditions", TABLE_RECOMMENDED_OPERATING_CONDITIONS },
                { "dc electrical characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical characteristic", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical specifications", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical and optical characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "optical and electrical characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical performance", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical optical characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical parameter", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "basic characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical specification", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "dc characteristics", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "electrical parameters", TABLE_ELECTRICAL_CHARACTERISTICS },
                { "pin descriptions", TABLE_PIN_DESCRIPTIONS },
                { "pin description", TABLE_PIN_DESCRIPTIONS },
                { "pin functions", TABLE_PIN_DESCRIPTIONS },
                { "pin function", TABLE_PIN_DESCRIPTIONS },
                { "pin configuration and functions", TABLE_PIN_DESCRIPTIONS },
                { "pin definitions", TABLE_PIN_DESCRIPTIONS },
                { "pin definition", TABLE_PIN_DESCRIPTIONS },
                { "pin assignments", TABLE_PIN_DESCRIPTIONS },
                { "pin assignment", TABLE_PIN_DESCRIPTIONS },
                { "terminal functions", TABLE_PIN_DESCRIPTIONS },
                { "pinout description", TABLE_PIN_DESCRIPTIONS },
                { "pin-out description", TABLE_PIN_DESCRIPTIONS },
                { "pin out description", TABLE_PIN_DESCRIPTIONS },
                { "pin list", TABLE_PIN_DESCRIPTIONS },
        };
        const char *p = line, *rest;
        size_t i, n = strlen(line);
        bool caption = false;

        if (n == 0 || n > 100 || strstr(line, "..") || strstr(line, ". ."))
                return -1;
        /* numbering before the words: "7.1 ", "Table 3. ", "Table 2-1: ", "3) " */
        while (*p == ' ')
                p++;
        if (strncasecmp(p, "table", 5) == 0 && !isalpha((unsigned char) p[5])) {
                p += 5;
                while (*p == ' ')
                        p++;
                caption = isdigit((unsigned char) *p);
        }
        while (*p && (isdigit((unsigned char) *p) || *p == '.' || *p == '-' || *p == ':' || *p == ')' || *p == ' '))
                p++;
        for (i = 0; i < ELEMENTSOF(phrases); i++) {
                size_t k = strlen(phrases[i].phrase);
                const char *at = p;

                /* a caption or a short heading may say more first: "Table 3. SKY65313-21
                 * Absolute Maximum Ratings", "ACOUSTIC & ELECTRICAL SPECIFICATIONS" */
                if ((caption || strlen(line) <= 60) && strncasecmp(p, phrases[i].phrase, k) != 0) {
                        at = strcasestr(p, phrases[i].phrase);
                        if (!at || at - p > 40)
                                continue;
                        p = at;
                }
                if (strncasecmp(at, phrases[i].phrase, k) != 0)
                        continue;
                rest = p + k;
                while (*rest == ' ')
                        rest++;
                /* the conditions in parentheses: "Electrical Characteristics (TA = 25 °C, ...)" */
                if (*rest == '(' || strncmp(rest, "\xEF\xBC\x88", 3) == 0)
                        return phrases[i].kind;
                /* not a sentence, not a table of contents entry ending in a page number */
                if (strchr(rest, '.') && strstr(rest, ". ") != NULL)
                        return -1;
                n = strlen(rest);
                while (n > 0 && rest[n - 1] == ' ')
                        n--;
                if (n > 0 && isdigit((unsigned char) rest[n - 1]) && strlen(rest) < 8 && n > 1 && rest[n - 2] == ' ')
                        return -1;
                if (strlen(rest) > 60)
                        return -1;
                return phrases[i].kind;
        }
        /* "SPECIFICATIONS" alone heads the electrical characteristics (ADI) */
        n = strlen(p);
        while (n > 0 && p[n - 1] == ' ')
                n--;
        if ((n == 14 && strncasecmp(p, "specifications", 14) == 0) ||
            (n == 24 && strncasecmp(p, "electrical specifications", 24) == 0))
                return TABLE_ELECTRICAL_CHARACTERISTICS;
        return -1;
}

/* ---- rows from baselines ---- */

struct row {
        float baseline, y0, y1, size;
        unsigned first, n;      /* into the sorted span index array */
};

static const struct layout_page *sort_page;

static int compare_span_position(const void *a, const void *b) {
        const struct layout_span *x = &sort_page->spans[*(const unsigned *) a];
        const struct layout_span *y = &sort_page->spans[*(const unsigned *) b];

        if (fabsf(x->baseline - y->baseline) > 0.01f)
                return x->baseline < y->baseline ? -1 : 1;
        return x->x0 < y->x0 ? -1 : x->x0 > y->x0;
}

static int compare_span_x(const void *a, const void *b) {
        const struct layout_span *x = &sort_page->spans[*(const unsigned *) a];
        const struct layout_span *y = &sort_page->spans[*(const unsigned *) b];

        return x->x0 < y->x0 ? -1 : x->x0 > y->x0;
}

static bool is_heading_line(const struct layout_page *p, const struct layout_line *l, char *buf, size_t size) {
        layout_line_text(p, l, buf, size);
        return tables_heading_kind(buf) >= 0;
}

/* A line that ends a table: a footnote or a note under it. */
static bool is_note(const char *s) {
        return strncmp(s, "(1)", 3) == 0 || strncasecmp(s, "note", 4) == 0 || strncmp(s, "1. ", 3) == 0 ||
               strncmp(s, "* ", 2) == 0;
}

static char *cell_join(char *old, const char *add) {
        size_t a = old ? strlen(old) : 0, b = strlen(add);
        char *s;

        if (a + b + 2 > TABLES_MAX_CELL)
                return old;
        s = xrealloc(old, a + b + 2);
        if (a > 0)
                s[a++] = ' ';
        memcpy(s + a, add, b + 1);
        return s;
}

static unsigned column_of(const float *c0, const float *c1, unsigned n, const struct layout_span *s) {
        unsigned i, best = 0;
        float best_overlap = -1, best_distance = 1e9f;

        for (i = 0; i < n; i++) {
                float overlap = fminf(c1[i], s->x1) - fmaxf(c0[i], s->x0);
                float distance = fabsf((c0[i] + c1[i]) / 2 - (s->x0 + s->x1) / 2);

                if (overlap > 0 && overlap > best_overlap) {
                        best_overlap = overlap;
                        best = i;
                } else if (best_overlap <= 0 && distance < best_distance) {
                        best_distance = distance;
                        best = i;
                }
        }
        return best;
}

/* A list of ratings without a header row: "VCC to GND ....... -0.3V to +6V"
 * (a dot leader between name and value) or a name and a value far apart on
 * each line. Two columns, named Parameter and Rating (the document names
 * none); at least three such rows, or nothing. */
static void build_pairs_table(struct tables *ts, const struct layout_page *p, enum table_kind kind, const char *title,
                              const struct row *rows, unsigned n_rows, const unsigned *idx) {
        char **cells = xcalloc((size_t) (TABLES_MAX_ROWS + 1) * 2, sizeof(*cells));
        unsigned r, out_rows = 1, pairs = 0;
        float last_y1 = rows[0].y0;
        struct table *t;

        cells[0] = xstrdup("Parameter");
        cells[1] = xstrdup("Rating");
        for (r = 0; r < n_rows && out_rows <= TABLES_MAX_ROWS; r++) {
                const struct layout_span *first = &p->spans[idx[rows[r].first]];
                const char *text = layout_span_text(p, first), *leader = strstr(text, "....");
                char **dst = cells + (size_t) out_rows * 2;
                unsigned k;

                if (rows[r].y0 - last_y1 > TABLE_GAP_EM * rows[r].size || is_note(text) ||
                    (rows[r].n == 1 && !leader && first->len > 80))
                        break;
                last_y1 = rows[r].y1;
                if (rows[r].n == 1 && leader) {
                        const char *value = leader;

                        while (*value == '.' || *value == ' ')
                                value++;
                        while (leader > text && leader[-1] == ' ')
                                leader--;
                        if (!*value)
                                continue;
                        dst[0] = xstrndup(text, (size_t) (leader - text));
                        dst[1] = xstrdup(value);
                } else if (rows[r].n >= 2) {
                        dst[0] = xstrdup(text);
                        for (k = 1; k < rows[r].n; k++)
                                dst[1] = cell_join(dst[1], layout_span_text(p, &p->spans[idx[rows[r].first + k]]));
                } else
                        continue;
                out_rows++;
                pairs++;
        }
        if (pairs < 3 || ts->n >= TABLES_MAX) {
                for (r = 0; r < out_rows * 2; r++)
                        free(cells[r]);
                free(cells);
                return;
        }
        t = &ts->items[ts->n++];
        t->kind = kind;
        (void) snprintf(t->title, sizeof(t->title), "%s", title);
        t->page = p->number;
        t->n_columns = 2;
        t->n_rows = out_rows;
        t->cells = cells;
}

/* The table under heading line H on page P, between y TOP and BOTTOM and x X0..X1. */
static void build_table(struct tables *ts, const struct layout_page *p, enum table_kind kind, const char *title,
                        float top, float bottom, float x0, float x1) {
        unsigned *idx = NULL, n_idx = 0, i, r, n_rows = 0, header = (unsigned) -1, n_cols;
        struct row *rows = NULL;
        float c0[TABLES_MAX_COLUMNS] = { 0 }, c1[TABLES_MAX_COLUMNS] = { 0 };
        struct table *t;
        char **cells = NULL;
        unsigned out_rows = 0;
        bool blank_first = false;
        float last_y1 = top;

        if (ts->n >= TABLES_MAX)
                return;
        idx = xmalloc((p->n_spans ? p->n_spans : 1) * sizeof(*idx));
        for (i = 0; i < p->n_spans; i++) {
                const struct layout_span *s = &p->spans[i];

                if (s->len == 0 || s->y0 < top || s->baseline > bottom || s->x1 < x0 || s->x0 > x1)
                        continue;
                idx[n_idx++] = i;
        }
        sort_page = p;
        qsort(idx, n_idx, sizeof(*idx), compare_span_position);
        rows = xmalloc((n_idx ? n_idx : 1) * sizeof(*rows));
        for (i = 0; i < n_idx; i++) {
                const struct layout_span *s = &p->spans[idx[i]];
                float tol = ROW_TOLERANCE_EM * (s->size > 0 ? s->size : 8);

                if (n_rows > 0 && fabsf(s->baseline - rows[n_rows - 1].baseline) <= tol) {
                        rows[n_rows - 1].n++;
                        rows[n_rows - 1].y0 = fminf(rows[n_rows - 1].y0, s->y0);
                        rows[n_rows - 1].y1 = fmaxf(rows[n_rows - 1].y1, s->y1);
                        continue;
                }
                rows[n_rows].baseline = s->baseline;
                rows[n_rows].y0 = s->y0;
                rows[n_rows].y1 = s->y1;
                rows[n_rows].size = s->size > 0 ? s->size : 8;
                rows[n_rows].first = i;
                rows[n_rows].n = 1;
                n_rows++;
        }
        for (r = 0; r < n_rows; r++)
                qsort(idx + rows[r].first, rows[r].n, sizeof(*idx), compare_span_x);

        for (r = 0; r < n_rows && r < HEADER_SEARCH_ROWS; r++)
                if (rows[r].n >= 3 || (kind == TABLE_PIN_DESCRIPTIONS && rows[r].n >= 2)) {
                        header = r;
                        break;
                }
        if (header == (unsigned) -1) {
                build_pairs_table(ts, p, kind, title, rows, n_rows, idx);
                goto out;
        }
        n_cols = rows[header].n < TABLES_MAX_COLUMNS ? rows[header].n : TABLES_MAX_COLUMNS;
        for (i = 0; i < n_cols; i++) {
                const struct layout_span *s = &p->spans[idx[rows[header].first + i]];

                c0[i] = s->x0;
                c1[i] = s->x1;
        }
        /* A header with nothing over the parameter names ("MIN MAX UNIT"):
         * the rows reach further left than the header, and get a column of
         * their own with an empty header cell. */
        {
                float left = c0[0];
                unsigned seen = 0, outside = 0;

                for (r = header + 1; r < n_rows && seen < 12; r++) {
                        const struct layout_span *first = &p->spans[idx[rows[r].first]];

                        if (rows[r].n < 2)
                                continue;
                        seen++;
                        if (first->x1 < c0[0] - 5) {
                                outside++;
                                left = fminf(left, first->x0);
                        }
                }
                /* most rows start with a cell left of the whole header */
                blank_first = seen > 0 && outside * 2 > seen && n_cols < TABLES_MAX_COLUMNS;
                if (blank_first) {
                        memmove(c0 + 1, c0, n_cols * sizeof(*c0));
                        memmove(c1 + 1, c1, n_cols * sizeof(*c1));
                        c0[0] = left;
                        c1[0] = c0[1] - 2;
                        n_cols++;
                }
        }
        /* The first column holds names that reach from its left edge to the
         * next column: widen it, so they overlap it rather than their neighbour. */
        if (n_cols > 1)
                c1[0] = fmaxf(c1[0], c0[1] - 2);
        cells = xcalloc((size_t) (TABLES_MAX_ROWS + 1) * n_cols, sizeof(*cells));
        for (i = 0; i < n_cols; i++)
                cells[i] = blank_first && i == 0 ? xstrdup("")
                                                 : xstrdup(layout_span_text(p, &p->spans[idx[rows[header].first + i - blank_first]]));
        out_rows = 1;
        last_y1 = rows[header].y1;

        for (r = header + 1; r < n_rows; r++) {
                const struct row *row = &rows[r];
                const struct layout_span *first = &p->spans[idx[row->first]];
                unsigned filled = 0, k, col0 = column_of(c0, c1, n_cols, first);
                bool continuation;
                char **dst;

                if (row->y0 - last_y1 > TABLE_GAP_EM * row->size)
                        break;
                if (is_note(layout_span_text(p, first)) && (row->n == 1 || first->x0 < c0[0] + 5))
                        break;
                if (row->n == 1 && first->len > 80)
                        break;          /* a paragraph under the table */
                if (strncasecmp(layout_span_text(p, first), "table ", 6) == 0 &&
                    isdigit((unsigned char) layout_span_text(p, first)[6]))
                        break;          /* the caption of the next table */
                /* A wrapped cell: one piece, close under the row above. */
                continuation = out_rows > 1 && row->n == 1 && row->y0 - last_y1 < 0.5f * row->size;
                if (!continuation) {
                        if (out_rows > TABLES_MAX_ROWS)
                                break;
                        out_rows++;
                }
                dst = cells + (size_t) (out_rows - 1) * n_cols;
                for (k = 0; k < row->n; k++) {
                        const struct layout_span *s = &p->spans[idx[row->first + k]];
                        unsigned c = column_of(c0, c1, n_cols, s);

                        dst[c] = cell_join(dst[c], layout_span_text(p, s));
                        filled++;
                }
                (void) col0;
                (void) filled;
                last_y1 = row->y1;
        }
        if (out_rows < 2) {
                for (i = 0; i < n_cols; i++)
                        free(cells[i]);
                free(cells);
                goto out;
        }
        t = &ts->items[ts->n++];
        t->kind = kind;
        (void) snprintf(t->title, sizeof(t->title), "%s", title);
        t->page = p->number;
        t->n_columns = n_cols;
        t->n_rows = out_rows;
        t->cells = cells;
out:
        free(rows);
        free(idx);
        sort_page = NULL;
}

void tables_add_page(struct tables *ts, const struct layout_page *p) {
        static char text[MAX_HEADING];
        unsigned i, j;

        for (i = 0; i < p->n_lines && ts->n < TABLES_MAX; i++) {
                const struct layout_line *h = &p->lines[p->order[i]];
                float bottom = 0.95f * p->height, x0 = 0, x1 = p->width;
                int kind;

                if (h->n_spans > 3)
                        continue;
                layout_line_text(p, h, text, sizeof(text));
                kind = tables_heading_kind(text);
                if (kind < 0)
                        continue;
                /* down to the next heading below it, in its column if it has one */
                for (j = 0; j < p->n_lines; j++) {
                        const struct layout_line *l = &p->lines[j];
                        char other[MAX_HEADING * 2];

                        if (l->y0 > h->y1 && l->y0 < bottom && l->n_spans <= 3 && is_heading_line(p, l, other, sizeof(other)))
                                bottom = l->y0 - 0.1f;
                }
                if (h->column > 0) {
                        x0 = h->x0 - 4;
                        for (j = 0; j < p->n_lines; j++)
                                if (p->lines[j].column == h->column)
                                        x1 = fmaxf(h->x1, p->lines[j].x1);
                        x1 = fmaxf(x1, h->x1) + 1;
                        if (x1 > p->width)
                                x1 = p->width;
                }
                build_table(ts, p, (enum table_kind) kind, text, h->y1 + 0.1f, bottom, x0, x1);
        }
}

void tables_foreach_row(const struct tables *ts, tables_row_fn fn, void *user) {
        unsigned i, r;

        for (i = 0; i < ts->n; i++) {
                const struct table *t = &ts->items[i];

                for (r = 1; r < t->n_rows; r++)
                        fn(user, t->kind, t->page, (const char *const *) t->cells,
                           (const char *const *) t->cells + (size_t) r * t->n_columns, t->n_columns);
        }
}

/* ---- output ---- */

static void slug(enum table_kind kind, char *buf, size_t size) {
        size_t i;

        (void) snprintf(buf, size, "%s", table_kind_name(kind));
        for (i = 0; buf[i]; i++)
                if (buf[i] == '_')
                        buf[i] = '-';
}

int tables_write(struct tables *ts, int dirfd, unsigned flags) {
        json_t *root = json_object(), *list = json_array();
        unsigned i, r;
        int ret = 0, tfd = -1;

        if (!root || !list) {
                json_decref(root);
                json_decref(list);
                return -ENOMEM;
        }
        json_object_set_new(root, "tables", list);
        if (ts->n > 0) {
                if (mkdirat(dirfd, "tables", 0755) < 0 && errno != EEXIST) {
                        ret = -errno;
                        goto out;
                }
                tfd = openat(dirfd, "tables", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (tfd < 0) {
                        ret = -errno;
                        goto out;
                }
        }
        for (i = 0; i < ts->n; i++) {
                struct table *t = &ts->items[i];
                struct csv_buf csv = { 0 };
                char name[80], kind[64];
                json_t *columns = json_array();

                slug(t->kind, kind, sizeof(kind));
                (void) snprintf(name, sizeof(name), "%02u-%s.csv", i + 1, kind);
                for (r = 0; r < t->n_rows; r++)
                        csv_append_record(&csv, (const char *const *) t->cells + (size_t) r * t->n_columns, t->n_columns);
                ret = fs_write_atomic(tfd, name, csv.data, csv.len, 0644, (gid_t) -1, flags & FS_WRITE_STAGED);
                csv_buf_free(&csv);
                if (ret < 0) {
                        json_decref(columns);
                        goto out;
                }
                for (r = 0; r < t->n_columns; r++)
                        json_array_append_new(columns, json_string(t->cells[r] ? t->cells[r] : ""));
                {
                        char file[96];

                        (void) snprintf(file, sizeof(file), "tables/%s", name);
                        json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:s, s:o, s:i}", "kind", table_kind_name(t->kind),
                                                              "title", t->title, "page", t->page, "file", file,
                                                              "columns", columns, "rows", (int) t->n_rows - 1));
                }
        }
        if (tfd >= 0 && !(flags & FS_WRITE_STAGED) && fsync(tfd) < 0) {
                ret = -errno;
                goto out;
        }
        ret = fs_write_json(dirfd, "tables.json", root, 0644, (gid_t) -1, FS_WRITE_PRETTY | (flags & FS_WRITE_STAGED));
out:
        if (tfd >= 0)
                (void) close(tfd);
        json_decref(root);
        return ret;
}
