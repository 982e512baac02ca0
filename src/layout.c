/* layout.c: positioned text of one page, and its reading order across columns
 * (see layout.h). Pure C on plain structs, so it is tested without mupdf. */
#include "layout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A gap this many times the font size ends a span: wider than a word space
 * (about 0.25-0.35 em, a bit more in justified text), narrower than the gap
 * between two table columns or two text columns. */
#define SPAN_GAP_EM 0.6f
/* A gap wider than this (but narrower than a span gap) is a word space. */
#define WORD_GAP_EM 0.15f
/* Gutters: at least this wide, inside the middle of the page, with this many
 * prose lines (at least PROSE_CHARS long) on each side. */
#define GUTTER_MIN_PT 6.0f
#define GUTTER_MIN_SIDE_LINES 4
#define PROSE_CHARS 25
#define MAX_GUTTERS 3
#define COVERAGE_BINS 2048

void layout_page_init(struct layout_page *p, int number, float width, float height) {
        memset(p, 0, sizeof(*p));
        p->number = number;
        p->width = width > 0 && isfinite(width) ? width : 612;
        p->height = height > 0 && isfinite(height) ? height : 792;
}

void layout_page_done(struct layout_page *p) {
        free(p->buf);
        free(p->spans);
        free(p->lines);
        free(p->order);
        memset(p, 0, sizeof(*p));
}

static bool buf_put(struct layout_page *p, const char *s, size_t n) {
        if (p->buf_len + n + 1 > LAYOUT_MAX_CHARS_PER_PAGE) {
                p->truncated = true;
                return false;
        }
        if (p->buf_len + n + 1 > p->buf_cap) {
                p->buf_cap = p->buf_cap ? p->buf_cap * 2 : 4096;
                while (p->buf_cap < p->buf_len + n + 1)
                        p->buf_cap *= 2;
                p->buf = xrealloc(p->buf, p->buf_cap);
        }
        memcpy(p->buf + p->buf_len, s, n);
        p->buf_len += n;
        p->buf[p->buf_len] = 0;
        return true;
}

static struct layout_line *current_line(struct layout_page *p) {
        return p->in_line ? &p->lines[p->n_lines - 1] : NULL;
}

void layout_line_begin(struct layout_page *p, int block) {
        struct layout_line *l;

        layout_line_end(p);
        if (p->n_lines >= LAYOUT_MAX_LINES_PER_PAGE) {
                p->truncated = true;
                return;
        }
        if (p->n_lines == p->cap_lines) {
                p->cap_lines = p->cap_lines ? p->cap_lines * 2 : 64;
                p->lines = xrealloc(p->lines, p->cap_lines * sizeof(*p->lines));
        }
        l = &p->lines[p->n_lines++];
        memset(l, 0, sizeof(*l));
        l->block = block;
        l->first_span = p->n_spans;
        l->bold = true;
        p->in_line = true;
        p->pending_space = false;
}

static bool span_open(struct layout_page *p, struct layout_line *l, float x0, float y0, float baseline) {
        struct layout_span *s;

        if (p->n_spans >= LAYOUT_MAX_SPANS_PER_PAGE || p->buf_len + 2 > LAYOUT_MAX_CHARS_PER_PAGE) {
                p->truncated = true;
                return false;
        }
        /* Each span's text is followed by its own NUL. */
        if (p->n_spans > 0 && !buf_put(p, "", 1))
                return false;
        if (p->n_spans == p->cap_spans) {
                p->cap_spans = p->cap_spans ? p->cap_spans * 2 : 256;
                p->spans = xrealloc(p->spans, p->cap_spans * sizeof(*p->spans));
        }
        s = &p->spans[p->n_spans++];
        memset(s, 0, sizeof(*s));
        s->x0 = s->x1 = x0;
        s->y0 = s->y1 = y0;
        s->baseline = baseline;
        s->text = p->buf_len;
        s->bold = true;
        s->line = p->n_lines - 1;
        l->n_spans++;
        return true;
}

static size_t utf8_encode(int c, char out[4]) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xC0 | c >> 6);
                out[1] = (char) (0x80 | (c & 0x3F));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xE0 | c >> 12);
                out[1] = (char) (0x80 | (c >> 6 & 0x3F));
                out[2] = (char) (0x80 | (c & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | c >> 18);
        out[1] = (char) (0x80 | (c >> 12 & 0x3F));
        out[2] = (char) (0x80 | (c >> 6 & 0x3F));
        out[3] = (char) (0x80 | (c & 0x3F));
        return 4;
}

void layout_char_add(struct layout_page *p, int c, float x0, float y0, float x1, float y1,
                     float baseline, float size, bool bold) {
        struct layout_line *l = current_line(p);
        struct layout_span *s;
        char enc[4];
        float gap, em;

        if (!l)
                return;
        if (!isfinite(x0) || !isfinite(x1) || !isfinite(y0) || !isfinite(y1) || !isfinite(size))
                return;
        if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                c = 0xFFFD;
        if (c == ' ' || c == '\t' || c == 0xA0 || c < 0x20 || c == 0x7F) {
                p->pending_space = true;
                return;
        }
        s = l->n_spans > 0 ? &p->spans[l->first_span + l->n_spans - 1] : NULL;
        em = fmaxf(size, p->last_size);
        if (em <= 0)
                em = 10;
        gap = s ? x0 - p->last_x1 : 0;
        if (!s || gap > SPAN_GAP_EM * em || gap < -2 * em) {
                if (!span_open(p, l, x0, y0, baseline))
                        return;
                s = &p->spans[p->n_spans - 1];
        } else if (p->pending_space || gap > WORD_GAP_EM * em) {
                if (!buf_put(p, " ", 1))
                        return;
        }
        p->pending_space = false;
        if (!buf_put(p, enc, utf8_encode(c, enc)))
                return;
        s->len = p->buf_len - s->text;
        s->x0 = fminf(s->x0, x0);
        s->x1 = fmaxf(s->x1, x1);
        s->y0 = fminf(s->y0, y0);
        s->y1 = fmaxf(s->y1, y1);
        s->size = fmaxf(s->size, size);
        s->bold = s->bold && bold;
        p->last_x1 = x1;
        p->last_size = size;
}

void layout_line_end(struct layout_page *p) {
        struct layout_line *l = current_line(p);
        unsigned i;

        if (!l)
                return;
        p->in_line = false;
        p->pending_space = false;
        if (l->n_spans == 0) {
                p->n_lines--;
                return;
        }
        for (i = 0; i < l->n_spans; i++) {
                const struct layout_span *s = &p->spans[l->first_span + i];

                if (i == 0) {
                        l->x0 = s->x0, l->x1 = s->x1, l->y0 = s->y0, l->y1 = s->y1;
                        l->baseline = s->baseline;
                } else {
                        l->x0 = fminf(l->x0, s->x0), l->x1 = fmaxf(l->x1, s->x1);
                        l->y0 = fminf(l->y0, s->y0), l->y1 = fmaxf(l->y1, s->y1);
                }
                l->size = fmaxf(l->size, s->size);
                l->bold = l->bold && s->bold;
        }
}

const char *layout_span_text(const struct layout_page *p, const struct layout_span *s) {
        return p->buf + s->text;
}

char *layout_line_text(const struct layout_page *p, const struct layout_line *l, char *buf, size_t size) {
        size_t n = 0, k;
        unsigned i;

        if (size == 0)
                return buf;
        for (i = 0; i < l->n_spans && n + 1 < size; i++) {
                const struct layout_span *s = &p->spans[l->first_span + i];

                if (i > 0)
                        buf[n++] = ' ';
                k = s->len < size - 1 - n ? s->len : size - 1 - n;
                /* Never cut inside a UTF-8 sequence. */
                while (k > 0 && k < s->len && ((unsigned char) p->buf[s->text + k] & 0xC0) == 0x80)
                        k--;
                memcpy(buf + n, p->buf + s->text, k);
                n += k;
        }
        buf[n < size ? n : size - 1] = 0;
        return buf;
}

/* ---- columns ---- */

struct gutter {
        float x0, x1;
};

static unsigned line_chars(const struct layout_page *p, const struct layout_line *l) {
        size_t n = 0;
        unsigned i;

        for (i = 0; i < l->n_spans; i++)
                n += p->spans[l->first_span + i].len + 1;
        return (unsigned) n;
}

/* Is [x0,x1] a gutter: prose lines ending before it and starting after it,
 * few lines crossing it? */
static bool gutter_holds(const struct layout_page *p, float x0, float x1) {
        unsigned left = 0, right = 0, crossing = 0, i;

        for (i = 0; i < p->n_lines; i++) {
                const struct layout_line *l = &p->lines[i];
                bool prose = line_chars(p, l) >= PROSE_CHARS && l->x1 - l->x0 >= 0.15f * p->width;

                if (l->x1 <= x0 + 0.5f)
                        left += prose;
                else if (l->x0 >= x1 - 0.5f)
                        right += prose;
                else {
                        unsigned k;

                        for (k = 0; k < l->n_spans; k++) {
                                const struct layout_span *s = &p->spans[l->first_span + k];

                                if (s->x0 < x1 && s->x1 > x0) {
                                        crossing++;
                                        break;
                                }
                                if (k + 1 == l->n_spans) {
                                        /* split by the gutter: counts on both sides */
                                        left += prose, right += prose;
                                }
                        }
                }
        }
        return left >= GUTTER_MIN_SIDE_LINES && right >= GUTTER_MIN_SIDE_LINES &&
               crossing * 3 <= (left < right ? left : right);
}

static unsigned find_gutters(const struct layout_page *p, struct gutter *g) {
        static unsigned short coverage[COVERAGE_BINS];
        float scale = COVERAGE_BINS / p->width;
        unsigned n = 0, i, limit;
        int b, lo = (int) (0.15f * COVERAGE_BINS), hi = (int) (0.85f * COVERAGE_BINS);

        if (p->n_lines < 2 * GUTTER_MIN_SIDE_LINES)
                return 0;
        memset(coverage, 0, sizeof(coverage));
        for (i = 0; i < p->n_spans; i++) {
                int a = (int) floorf(p->spans[i].x0 * scale), z = (int) ceilf(p->spans[i].x1 * scale);

                if (a < 0)
                        a = 0;
                if (z > COVERAGE_BINS)
                        z = COVERAGE_BINS;
                for (b = a; b < z; b++)
                        if (coverage[b] < 0xFFFF)
                                coverage[b]++;
        }
        /* Full-width titles cross a real gutter: allow some coverage. */
        limit = p->n_lines / 12 + 1;
        for (b = lo; b < hi && n < MAX_GUTTERS;) {
                int start;

                if (coverage[b] > limit) {
                        b++;
                        continue;
                }
                start = b;
                while (b < hi && coverage[b] <= limit)
                        b++;
                if ((b - start) / scale >= GUTTER_MIN_PT && gutter_holds(p, start / scale, b / scale)) {
                        g[n].x0 = start / scale;
                        g[n].x1 = b / scale;
                        n++;
                }
        }
        return n;
}

static int region_of(const struct gutter *g, unsigned n, float x) {
        unsigned i;

        for (i = 0; i < n; i++)
                if (x < g[i].x0)
                        return (int) i + 1;
        return (int) n + 1;
}

/* Set L's column; split it (appending lines) where its spans fall into
 * different columns with no span across a gutter. */
static void assign_columns(struct layout_page *p, unsigned index, const struct gutter *g, unsigned n) {
        struct layout_line *l = &p->lines[index];
        unsigned k, j;
        int prev = 0;

        for (k = 0; k < l->n_spans; k++) {
                const struct layout_span *s = &p->spans[l->first_span + k];
                int r = region_of(g, n, (s->x0 + s->x1) / 2);

                for (j = 0; j < n; j++)
                        if (s->x0 < g[j].x1 && s->x1 > g[j].x0) {
                                l->column = 0;
                                return;
                        }
                /* spans out of x order: do not split, read it whole */
                if (r < prev) {
                        l->column = 0;
                        return;
                }
                prev = r;
        }
        /* Now split at region changes, left to right. */
        l->column = region_of(g, n, (p->spans[l->first_span].x0 + p->spans[l->first_span].x1) / 2);
        for (k = 1; k < l->n_spans; k++) {
                const struct layout_span *s = &p->spans[l->first_span + k];
                int r = region_of(g, n, (s->x0 + s->x1) / 2);
                struct layout_line *nl;
                unsigned rest;

                if (r == l->column)
                        continue;
                if (p->n_lines >= LAYOUT_MAX_LINES_PER_PAGE) {
                        l->column = 0;
                        return;
                }
                if (p->n_lines == p->cap_lines) {
                        p->cap_lines *= 2;
                        p->lines = xrealloc(p->lines, p->cap_lines * sizeof(*p->lines));
                        l = &p->lines[index];
                }
                rest = l->n_spans - k;
                nl = &p->lines[p->n_lines];
                *nl = *l;
                nl->first_span = l->first_span + k;
                nl->n_spans = rest;
                l->n_spans = k;
                /* recompute both boxes */
                for (j = 0; j < 2; j++) {
                        struct layout_line *t = j == 0 ? l : nl;
                        unsigned m;

                        t->x0 = p->spans[t->first_span].x0;
                        t->x1 = p->spans[t->first_span].x1;
                        for (m = 0; m < t->n_spans; m++) {
                                struct layout_span *s2 = &p->spans[t->first_span + m];

                                t->x0 = fminf(t->x0, s2->x0);
                                t->x1 = fmaxf(t->x1, s2->x1);
                                s2->line = j == 0 ? index : p->n_lines;
                        }
                }
                nl->column = r;
                p->n_lines++;
                index = p->n_lines - 1;
                l = &p->lines[index];
                k = 0;
        }
}

static const struct layout_page *sort_page;

static int compare_baseline(const void *a, const void *b) {
        const struct layout_line *x = &sort_page->lines[*(const unsigned *) a];
        const struct layout_line *y = &sort_page->lines[*(const unsigned *) b];

        if (fabsf(x->baseline - y->baseline) > 1.0f)
                return x->baseline < y->baseline ? -1 : 1;
        return x->x0 < y->x0 ? -1 : x->x0 > y->x0;
}

static int compare_column(const void *a, const void *b) {
        const struct layout_line *x = &sort_page->lines[*(const unsigned *) a];
        const struct layout_line *y = &sort_page->lines[*(const unsigned *) b];

        if (x->column != y->column)
                return x->column - y->column;
        return compare_baseline(a, b);
}

void layout_page_order(struct layout_page *p) {
        struct gutter g[MAX_GUTTERS];
        unsigned n, i, start, n_before;

        layout_line_end(p);
        n = find_gutters(p, g);
        n_before = p->n_lines;
        for (i = 0; i < n_before; i++)
                p->lines[i].column = n > 0 ? -1 : 0;
        for (i = 0; i < n_before && n > 0; i++)
                assign_columns(p, i, g, n);

        free(p->order);
        p->order = xmalloc((p->n_lines ? p->n_lines : 1) * sizeof(*p->order));
        for (i = 0; i < p->n_lines; i++)
                p->order[i] = i;
        if (n == 0)
                return;         /* one column: mupdf's order */

        sort_page = p;
        if (p->n_lines > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(p->order, p->n_lines, sizeof(*p->order), compare_baseline);
        /* Between two full-width lines, each column top to bottom. */
        for (start = 0, i = 0; i <= p->n_lines; i++)
                if (i == p->n_lines || p->lines[p->order[i]].column == 0) {
                        if (i > start)
                                qsort(p->order + start, i - start, sizeof(*p->order), compare_column);
                        start = i + 1;
                }
        sort_page = NULL;
}
