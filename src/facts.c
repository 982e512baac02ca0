/* facts.c: a datasheet's facts from its positioned text (see facts.h).
 *
 * Each page leaves a digest: part-number-shaped tokens with where they were
 * seen (page 1's large title text, the lines repeated at the top and bottom
 * of pages, an ordering-information section), vendor mentions by weight,
 * the best temperature and supply ranges by the words around them, package
 * names, revision and date candidates, and page 1's title lines for the
 * description. Decisions are made once, at the end, from the whole digest.
 * Only the first FACTS_SCAN_PAGES pages are read: datasheets say who and
 * what they are up front, and a hostile page count must not cost time. */
#include "facts.h"

#include "tables.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "vendors.h"
#include "wording.h"

#define FACTS_SCAN_PAGES 60
#define MAX_TOKENS 3000
#define MAX_TITLE_LINES 120
#define MAX_PACKAGES 64
#define MAX_LINE 512            /* bytes of a line looked at */
#define MAX_SOURCE 160          /* bytes of a source quoted in facts.json */
#define EDGE_FRACTION 0.08f     /* top and bottom of a page: headers and footers */
#define ORDERING_LINES 80       /* lines after an ordering heading that belong to it */
#define MAX_OTHER_PARTS 24
#define MAX_PACKAGES_OUT 8
#define MAX_PIN_MENTION 400

struct token {
        char *text;
        unsigned count;
        int first_page;
        char *source;
        float title;            /* best size on page 1 relative to the largest text there */
        unsigned edge_pages;    /* pages whose header or footer has it */
        int last_edge_page;
        unsigned ordering;      /* seen in an ordering-information section */
        bool doc_code;          /* next to a date or revision in a footer: a document number */
        unsigned title_rank;    /* 1 = the first part number in page 1's title text, 0 = not in it */
};

struct range {
        bool found;
        double min, max, score;
        int page;
        char *source;
};

/* Candidate ranges, the best few by score: a datasheet that covers several
 * grades or modes states several, and the widest of the good ones is the
 * part family's. */
#define MAX_RANGES 16
struct range_set {
        struct range items[MAX_RANGES];
        unsigned n;
};

struct text_fact {
        bool found;
        char value[64];
        int page, priority;
        char *source;
};

struct package {
        char value[32];
        unsigned count;
        int page;
        int pins;
        char *source;
};

struct title_line {
        char *text;
        float size, y0, y1;
};

#define TOKEN_HASH_SIZE 4096        /* > MAX_TOKENS: open addressing never fills */

struct facts {
        struct token *tokens;
        unsigned n_tokens, cap_tokens;
        unsigned token_hash[TOKEN_HASH_SIZE];   /* token index + 1, 0 = free */
        double vendor_score[128];
        int vendor_page[128];
        double vendor_best_weight[128];
        char *vendor_source[128];
        struct range_set temperature, voltage;
        struct text_fact revision, date;
        struct package packages[MAX_PACKAGES];
        unsigned n_packages;
        unsigned pin_mentions[MAX_PIN_MENTION + 1];    /* "14-lead", "24 pins": how often each count */
        struct title_line title_lines[MAX_TITLE_LINES];
        unsigned n_title_lines;
        float page1_max_size, page1_height;
        float page1_body_size;          /* the size most of page 1's text has */
        unsigned title_tokens;          /* part numbers seen in page 1's title text so far */
        int ordering_left;
        char *meta_title, *meta_subject, *meta_author;
};

static char *dup_source(const char *s) {
        size_t n = strlen(s);

        if (n > MAX_SOURCE) {
                n = MAX_SOURCE;
                while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                        n--;
        }
        return xstrndup(s, n);
}

struct facts *facts_new(void) {
        return xcalloc(1, sizeof(struct facts));
}

void facts_free(struct facts *f) {
        unsigned i;

        if (!f)
                return;
        for (i = 0; i < f->n_tokens; i++) {
                free(f->tokens[i].text);
                free(f->tokens[i].source);
        }
        free(f->tokens);
        for (i = 0; i < 128; i++)
                free(f->vendor_source[i]);
        for (i = 0; i < f->temperature.n; i++)
                free(f->temperature.items[i].source);
        for (i = 0; i < f->voltage.n; i++)
                free(f->voltage.items[i].source);
        free(f->revision.source);
        free(f->date.source);
        for (i = 0; i < f->n_packages; i++)
                free(f->packages[i].source);
        for (i = 0; i < f->n_title_lines; i++)
                free(f->title_lines[i].text);
        free(f->meta_title);
        free(f->meta_subject);
        free(f->meta_author);
        free(f);
}

void facts_set_metadata(struct facts *f, const char *title, const char *subject, const char *author) {
        free(f->meta_title);
        free(f->meta_subject);
        free(f->meta_author);
        f->meta_title = title ? dup_source(title) : NULL;
        f->meta_subject = subject ? dup_source(subject) : NULL;
        f->meta_author = author ? dup_source(author) : NULL;
}

/* ---- text helpers ---- */

static bool contains_nocase(const char *hay, const char *needle) {
        return strcasestr(hay, needle) != NULL;
}

/* ---- part-number tokens ---- */

static struct token *token_get(struct facts *f, const char *text) {
        unsigned h = 5381, slot;
        const char *c;
        struct token *t;

        for (c = text; *c; c++)
                h = h * 33 + (unsigned char) *c;
        for (slot = h % TOKEN_HASH_SIZE; f->token_hash[slot]; slot = (slot + 1) % TOKEN_HASH_SIZE)
                if (strcmp(f->tokens[f->token_hash[slot] - 1].text, text) == 0)
                        return &f->tokens[f->token_hash[slot] - 1];
        if (f->n_tokens >= MAX_TOKENS)
                return NULL;
        f->token_hash[slot] = f->n_tokens + 1;
        if (f->n_tokens == f->cap_tokens) {
                f->cap_tokens = f->cap_tokens ? f->cap_tokens * 2 : 128;
                f->tokens = xrealloc(f->tokens, f->cap_tokens * sizeof(*f->tokens));
        }
        t = &f->tokens[f->n_tokens++];
        memset(t, 0, sizeof(*t));
        t->text = xstrdup(text);
        t->last_edge_page = -1;
        return t;
}

/* ---- packages ---- */

static void package_add(struct facts *f, const char *value, int pins, int page, const char *source) {
        unsigned i;
        struct package *p;

        for (i = 0; i < f->n_packages; i++)
                if (strcmp(f->packages[i].value, value) == 0) {
                        f->packages[i].count++;
                        return;
                }
        if (f->n_packages >= MAX_PACKAGES)
                return;
        p = &f->packages[f->n_packages++];
        memset(p, 0, sizeof(*p));
        (void) snprintf(p->value, sizeof(p->value), "%s", value);
        p->count = 1;
        p->pins = pins;
        p->page = page;
        p->source = dup_source(source);
}

/* "(10)": digits and the closing parenthesis, a pin count; "(50/Tube)" is not. */
static bool closes_count(const char *p) {
        while (isdigit((unsigned char) *p))
                p++;
        return *p == ')';
}

/* Digits at P, a space, then WORD. */
static bool count_then_word(const char *p, const char *word) {
        while (isdigit((unsigned char) *p))
                p++;
        return *p == ' ' && strncasecmp(p + 1, word, strlen(word)) == 0;
}

/* Packages in LINE (normalised): "QFN-32", "QFN32", "VSSOP (10)", "SOT-23-5",
 * "32-pin QFN", "8-lead SOIC". */
static void scan_packages(struct facts *f, const char *line, const char *source, int page) {
        const char *p;

        for (p = line; *p; p++) {
                size_t n;
                const char *fam;
                char family[16], value[32];
                int pins = 0;
                const char *q;

                if (p > line && (isalnum((unsigned char) p[-1]) || p[-1] == '-'))
                        continue;
                fam = wording_package_family_at(p, &n);
                if (!fam)
                        continue;
                (void) snprintf(family, sizeof(family), "%s", fam);
                if (strcmp(family, "SOT23") == 0)
                        strcpy(family, "SOT-23");
                else if (strcmp(family, "SC70") == 0)
                        strcpy(family, "SC-70");
                q = p + n;
                if (*q == '-' && isdigit((unsigned char) q[1]))
                        q++;
                else if (*q == ' ' && q[1] == '(' && isdigit((unsigned char) q[2]) && closes_count(q + 2))
                        q += 2;
                else if (*q == '(' && isdigit((unsigned char) q[1]) && closes_count(q + 1))
                        q++;
                else if (*q == ' ' && isdigit((unsigned char) q[1]) && count_then_word(q + 1, "package"))
                        q++;            /* "QFN 24 Package" */
                if (isdigit((unsigned char) *q)) {
                        pins = atoi(q);
                        while (isdigit((unsigned char) *q))
                                q++;
                }
                /* "QFNX" is a word, not a package; "TSOP753" is a part, not 753 pins */
                if (isalpha((unsigned char) *q) && !(pins > 0 && (q[0] == 'L' || q[0] == 'N') && !isalnum((unsigned char) q[1])))
                        continue;
                if (pins > 400 || (pins > 0 && pins < 2))
                        continue;
                if (pins == 0) {
                        /* "32-pin QFN", "8-lead SOIC": the count before it */
                        const char *b = p;

                        while (b > line && b[-1] == ' ')
                                b--;
                        if (b - line >= 5 && (strncasecmp(b - 4, "-pin", 4) == 0 || strncasecmp(b - 4, " pin", 4) == 0 ||
                                              strncasecmp(b - 5, "-lead", 5) == 0 || strncasecmp(b - 5, " lead", 5) == 0 ||
                                              strncasecmp(b - 5, "-ball", 5) == 0)) {
                                const char *d = b - (b[-1] == 'n' ? 4 : 5);

                                while (d > line && isdigit((unsigned char) d[-1]))
                                        d--;
                                pins = atoi(d);
                                if (pins > 400)
                                        pins = 0;
                        }
                }
                /* a family without a count, only where the line speaks of packages or pins */
                if (pins == 0 && !contains_nocase(line, "package") && !contains_nocase(line, "pin") &&
                    !contains_nocase(line, "lead"))
                        continue;
                if (pins > 0)
                        (void) snprintf(value, sizeof(value), "%s-%d", family, pins);
                else
                        (void) snprintf(value, sizeof(value), "%s", family);
                package_add(f, value, pins, page, source);
                p += n - 1;
        }
}

/* "14-lead", "24-pin", "32 pins", "14-terminal", "64-ball" in LINE, counted. */
static void scan_pin_mentions(struct facts *f, const char *line) {
        static const char *const words[] = { "-pin", " pin", "-lead", " lead", "-terminal", " terminal", "-ball", NULL };
        const char *p;
        size_t i;

        for (p = line; *p; p++) {
                int n;

                if (!isdigit((unsigned char) *p) || (p > line && (isalnum((unsigned char) p[-1]) || p[-1] == '.')))
                        continue;
                n = atoi(p);
                while (isdigit((unsigned char) *p))
                        p++;
                for (i = 0; words[i]; i++)
                        if (strncasecmp(p, words[i], strlen(words[i])) == 0 && !isalpha((unsigned char) p[strlen(words[i])]))
                                break;
                if (words[i] && n >= 2 && n <= MAX_PIN_MENTION)
                        f->pin_mentions[n]++;
                if (!*p)
                        break;
        }
}

/* ---- ranges: temperature and supply voltage ---- */

static double context_score(const char *line, const char *const *good, const double *gw, const char *const *bad, const double *bw) {
        double s = 0;
        size_t i;

        for (i = 0; good[i]; i++)
                if (contains_nocase(line, good[i]))
                        s += gw[i];
        for (i = 0; bad[i]; i++)
                if (contains_nocase(line, bad[i]))
                        s -= bw[i];
        return s;
}

static void range_offer(struct range_set *set, double min, double max, double score, int page, const char *source) {
        struct range *r = NULL;
        unsigned i;

        for (i = 0; i < set->n; i++)
                if (set->items[i].min == min && set->items[i].max == max) {
                        if (set->items[i].score >= score)
                                return;
                        r = &set->items[i];
                }
        if (!r && set->n < MAX_RANGES)
                r = &set->items[set->n++];
        for (i = 0; !r && i < set->n; i++)
                if (set->items[i].score < score && (!r || set->items[i].score < r->score))
                        r = &set->items[i];
        if (!r)
                return;
        free(r->source);
        r->found = true;
        r->min = min;
        r->max = max;
        r->score = score;
        r->page = page;
        r->source = dup_source(source);
}

/* Where the next range may start: after the word at P (so that "-40" is not
 * found again as "40"). */
static const char *past_word(const char *p) {
        while (*p && *p != ' ')
                p++;
        return p;
}

/* The widest of the candidates that score within MARGIN of the best, NULL if none. */
static const struct range *range_choose(const struct range_set *set, double margin) {
        const struct range *best = NULL, *chosen = NULL;
        unsigned i;

        for (i = 0; i < set->n; i++)
                if (!best || set->items[i].score > best->score)
                        best = &set->items[i];
        for (i = 0; best && i < set->n; i++) {
                const struct range *r = &set->items[i];

                if (r->score < best->score - margin)
                        continue;
                if (!chosen || r->max - r->min > chosen->max - chosen->min ||
                    (r->max - r->min == chosen->max - chosen->min && r->score > chosen->score))
                        chosen = r;
        }
        return chosen;
}

static void scan_ranges(struct facts *f, const char *norm, const char *source, int page, bool edge) {
        static const char *const t_good[] = { "operat", "ambient", "T A", "TA ", "temperature range", "industrial", "automotive", NULL };
        static const double t_gw[] = { 3, 2, 1, 1, 2, 1, 1 };
        static const char *const t_bad[] = { "storage", "junction", "solder", "reflow", "lead temp", "TSTG", "T STG", "TJ", "T J", "peak", NULL };
        static const double t_bw[] = { 6, 4, 6, 6, 6, 6, 6, 3, 3, 3 };
        static const char *const v_good[] = { "supply", "VDD", "VCC", "V DD", "V CC", "VIN", "V IN", "operating voltage", "power", "VBAT", "VS ", NULL };
        static const double v_gw[] = { 3, 2, 2, 2, 2, 1, 1, 3, 1, 1, 1 };
        static const char *const v_bad[] = { "I/O", "IO ", "VDDIO", "VDDI ", "absolute", "maximum rating", "output", "logic", "threshold", "input high", "input low", "VIH", "VIL", "VOH", "VOL", "ripple", "reference", "ESD", NULL };
        static const double v_bw[] = { 3, 3, 3, 3, 4, 4, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 4 };
        double a, b, s;
        const char *at;

        if (edge)
                return;
        /* every range in the line, each judged by the words around it */
        for (at = norm; wording_range(at, 'C', &a, &b, &at); at = past_word(at))
                if (a >= -70 && a <= 40 && b >= 50 && b <= 260) {
                        s = context_score(norm, t_good, t_gw, t_bad, t_bw) + (page == 1 ? 2 : 0) + (page <= 3 ? 1 : 0);
                        if (s > 0)
                                range_offer(&f->temperature, a, b, s, page, source);
                }
        for (at = norm; wording_range(at, 'V', &a, &b, &at); at = past_word(at))
                if (a >= 0.8 && b <= 60) {
                        char near[96];
                        size_t before = (size_t) (at - norm) < 30 ? (size_t) (at - norm) : 30;

                        (void) snprintf(near, sizeof(near), "%.*s", (int) (before + 50), at - before);
                        s = context_score(near, v_good, v_gw, v_bad, v_bw) + (page == 1 ? 2 : 0) + (page <= 3 ? 1 : 0);
                        if (s > 1)
                                range_offer(&f->voltage, a, b, s, page, source);
                }
}

/* ---- ranges from tables ---- */

/* The number a cell holds ("–40", "+85", "5.5"), false when none. */
static bool cell_number(const char *cell, double *ret) {
        char norm[64], *end;
        const char *p = norm;

        if (!cell)
                return false;
        wording_normalize(cell, norm, sizeof(norm));
        while (*p == ' ')
                p++;
        *ret = strtod(p, &end);
        return end != p && isfinite(*ret);
}

static int column_named(const char *const *header, unsigned n, const char *const *names) {
        unsigned c;
        size_t k;

        for (c = 1; c < n; c++)
                for (k = 0; header[c] && names[k]; k++)
                        if (strncasecmp(header[c], names[k], strlen(names[k])) == 0)
                                return (int) c;
        return -1;
}

void facts_add_table_row(struct facts *f, int kind, int page, const char *const *header, const char *const *cells,
                         unsigned n) {
        static const char *const min_names[] = { "min", NULL }, *const max_names[] = { "max", NULL };
        static const char *const unit_names[] = { "unit", NULL };
        char row[256] = "";
        int cmin = column_named(header, n, min_names), cmax = column_named(header, n, max_names);
        int cunit = column_named(header, n, unit_names);
        double a, b;
        unsigned c;

        if (cmin < 0 || cmax < 0 || !cell_number(cells[cmin], &a) || !cell_number(cells[cmax], &b) || a >= b)
                return;
        /* the row's name: the cells before the Min column (parameter, symbol, conditions) */
        for (c = 0; c < (unsigned) cmin && c < n; c++)
                if (cells[c])
                        (void) snprintf(row + strlen(row), sizeof(row) - strlen(row), "%s%s", row[0] ? " " : "", cells[c]);
        if (contains_nocase(row, "temperature") && !contains_nocase(row, "storage") && !contains_nocase(row, "junction") &&
            !contains_nocase(row, "solder") && !contains_nocase(row, "lead") &&
            (contains_nocase(row, "operat") || contains_nocase(row, "ambient")) &&
            (cunit < 0 || !cells[cunit] || strstr(cells[cunit], "C")) && a >= -70 && a <= 40 && b >= 50 && b <= 260)
                range_offer(&f->temperature, a, b, kind == TABLE_ABSOLUTE_MAXIMUM_RATINGS ? 5 : 7, page, row);
        /* an absolute maximum is no operating range */
        if (kind != TABLE_ABSOLUTE_MAXIMUM_RATINGS && contains_nocase(row, "supply") &&
            !contains_nocase(row, "I/O") && !contains_nocase(row, "VDDIO") && !contains_nocase(row, "current") &&
            !contains_nocase(row, "ripple") && !contains_nocase(row, "rejection") && !contains_nocase(row, "rise") &&
            (cunit < 0 || !cells[cunit] || strcmp(cells[cunit], "V") == 0) && a >= 0.8 && b <= 60)
                range_offer(&f->voltage, a, b, 7, page, row);
}

/* ---- revision and date ---- */

static void text_offer(struct text_fact *t, const char *value, int priority, int page, const char *source) {
        if (t->found && t->priority >= priority)
                return;
        t->found = true;
        (void) snprintf(t->value, sizeof(t->value), "%s", value);
        t->priority = priority;
        t->page = page;
        free(t->source);
        t->source = dup_source(source);
}

static void scan_revision(struct facts *f, const char *norm, const char *source, int page, bool edge,
                          char words[][WORDING_WORD_MAX], unsigned n_words) {
        unsigned i;

        /* another document's revision (a package drawing, a bus specification,
         * a tool), or one inside running text */
        if (contains_nocase(norm, "drawing") || contains_nocase(norm, "specification") ||
            contains_nocase(norm, "studio") || contains_nocase(norm, " or later") || (strlen(norm) > 100 && !edge))
                return;
        for (i = 0; i < n_words; i++) {
                const char *w = words[i];
                char value[40];
                size_t n = strlen(w);

                /* "Rev. D", "Rev 1.2", "Revision 3", "REV.C", "Rev1.1" */
                if (strncasecmp(w, "rev", 3) == 0 && strncasecmp(w, "revised", 7) != 0 &&
                    strncasecmp(w, "review", 6) != 0) {
                        const char *v = NULL;

                        if (strcasecmp(w, "rev") == 0 || strcasecmp(w, "rev.") == 0 || strcasecmp(w, "revision") == 0 ||
                            strcasecmp(w, "version") == 0)
                                v = i + 1 < n_words ? words[i + 1] : NULL;
                        else if (strncasecmp(w, "rev.", 4) == 0)
                                v = w + 4;
                        else if (isdigit((unsigned char) w[3]))
                                v = w + 3;
                        if (v && *v == '.')
                                v++;
                        if (v && strlen(v) <= 6 && *v &&
                            (isdigit((unsigned char) v[0]) || (isupper((unsigned char) v[0]) && strlen(v) <= 2 &&
                                                               (v[1] == 0 || isdigit((unsigned char) v[1]))))) {
                                (void) snprintf(value, sizeof(value), "%s", v);
                                text_offer(&f->revision, value, (edge ? 3 : 2) + (page == 1), page, source);
                        }
                }
                /* "V1.1" alone on a title page or in a footer */
                if ((page == 1 || edge) && (w[0] == 'V' || w[0] == 'v') && isdigit((unsigned char) w[1]) &&
                    strchr(w, '.') && n <= 6 && strspn(w + 1, "0123456789.") == n - 1 && !contains_nocase(norm, " V ") &&
                    !(i + 1 < n_words && (words[i + 1][0] == 'V' || words[i + 1][0] == 'v'))) {
                        text_offer(&f->revision, w + 1, 1, page, source);
                }
                /* TI literature numbers: SBAS444D, the last letter the revision */
                if ((page == 1 || edge) && n >= 8 && n <= 9 && w[0] == 'S' && isupper((unsigned char) w[1]) &&
                    isupper((unsigned char) w[2]) && isupper((unsigned char) w[3]) && strspn(w + 4, "0123456789") == n - 5 &&
                    isupper((unsigned char) w[n - 1])) {
                        value[0] = w[n - 1];
                        value[1] = 0;
                        text_offer(&f->revision, value, 2, page, source);
                }
        }
}

static void scan_date(struct facts *f, const char *norm, const char *source, int page, bool edge,
                      char words[][WORDING_WORD_MAX], unsigned n_words) {
        unsigned i;
        int priority = contains_nocase(norm, "revised") ? 5 : contains_nocase(norm, "rev") || contains_nocase(norm, "date") ? 4 : edge ? 3 : page == 1 ? 2 : 0;

        if (priority == 0 || page > 3)
                return;
        for (i = 0; i < n_words; i++) {
                int y, m = 0, d = 0;
                char value[16];
                const char *w = words[i];

                if (wording_year(w, &y)) {
                        /* "December 2016", "Dec 5, 2016", "5 December 2016" */
                        if (i >= 1 && (m = wording_month(words[i - 1])) == 0 && i >= 2)
                                m = wording_month(words[i - 2]);
                        if (m == 0)
                                continue;
                } else if (strchr(w, '-') && strchr(w, '-') != strrchr(w, '-') &&
                           (m = wording_month_dashed(w, &y)) > 0) {
                        /* 26-Apr-2018, 11-May-15 */
                } else if (i >= 2 && strncasecmp(words[i - 2], "rev", 3) == 0 && strlen(w) >= 4 && strlen(w) <= 5 && strchr(w, '/') &&
                           sscanf(w, "%2d/%2d", &m, &y) == 2 && m >= 1 && m <= 12 && strlen(strchr(w, '/') + 1) == 2) {
                        /* "Rev 7; 3/15": month and two-digit year next to a revision */
                        y += y < 85 ? 2000 : 1900;
                } else if (strlen(w) >= 7 && strlen(w) <= 10 && (w[4] == '-' || w[4] == '/' || w[4] == '.') &&
                           sscanf(w, "%4d%*c%2d%*c%2d", &y, &m, &d) >= 2) {
                        /* 2018-12, 2018/12/05, 2018.12.05 */
                        if (y < 1985 || y > 2039 || m < 1 || m > 12)
                                continue;
                } else
                        continue;
                (void) snprintf(value, sizeof(value), "%04d-%02d", y, m);
                /* Among equals, the latest date: a revision history lists older ones. */
                text_offer(&f->date, value, priority * 100000 + y * 13 + m, page, source);
        }
}

/* ---- a page ---- */

static bool ordering_heading(const char *line) {
        return (contains_nocase(line, "ordering information") || contains_nocase(line, "ordering guide") ||
                contains_nocase(line, "order information") || contains_nocase(line, "ordering code") ||
                contains_nocase(line, "part numbering") || contains_nocase(line, "device information") ||
                contains_nocase(line, "order number") || contains_nocase(line, "ordering part")) &&
               strlen(line) < 60;
}

/* LINE as printed (the source), NORM with its dashes made ASCII (matched). */
static void vendor_scan(struct facts *f, const char *line, const char *norm, int page, bool edge) {
        size_t i, n = vendors_count();
        bool copyright;
        int matches[128];

        if (n > 128 || vendors_match_all(norm, matches) == 0)
                return;
        copyright = contains_nocase(line, "copyright") || strstr(line, "\xC2\xA9") || contains_nocase(line, "(c)");
        for (i = 0; i < n; i++) {
                int m = matches[i];
                double w;

                if (m == 0 || (m == 1 && !edge && !copyright))
                        continue;
                w = m == 3 ? 3 : m == 2 ? 2 : 1;
                if (copyright)
                        w *= 2;
                if (page == 1)
                        w *= 2;
                else if (edge)
                        w *= 1.0;
                else
                        w *= 0.3;
                /* the source: where it is named most strongly, first */
                if (w > f->vendor_best_weight[i]) {
                        f->vendor_best_weight[i] = w;
                        free(f->vendor_source[i]);
                        f->vendor_source[i] = dup_source(line);
                        f->vendor_page[i] = page;
                }
                /* a vendor named on every page counts, but not without end */
                if (f->vendor_score[i] < 200)
                        f->vendor_score[i] += w;
        }
}

void facts_add_page(struct facts *f, const struct layout_page *p) {
        static char text[MAX_LINE], norm[MAX_LINE], words[64][WORDING_WORD_MAX];
        unsigned i, k, n_words;

        if (p->number > FACTS_SCAN_PAGES)
                return;
        if (p->number == 1) {
                static unsigned chars_by_size[400];     /* half-point bins */
                unsigned best = 0;

                memset(chars_by_size, 0, sizeof(chars_by_size));
                f->page1_height = p->height;
                for (i = 0; i < p->n_lines; i++)
                        if (p->lines[i].n_spans > 0 && p->lines[i].size > 0 && p->lines[i].size < 200) {
                                unsigned bin = (unsigned) (p->lines[i].size * 2);

                                f->page1_max_size = fmaxf(f->page1_max_size, p->lines[i].size);
                                for (k = 0; k < p->lines[i].n_spans; k++)
                                        chars_by_size[bin] += (unsigned) p->spans[p->lines[i].first_span + k].len;
                                if (chars_by_size[bin] > chars_by_size[best])
                                        best = bin;
                        }
                f->page1_body_size = best / 2.0f;
        }
        for (i = 0; i < p->n_lines; i++) {
                const struct layout_line *l = &p->lines[p->order[i]];
                bool edge = l->y1 < EDGE_FRACTION * p->height || l->y0 > (1 - EDGE_FRACTION) * p->height;
                float title = 0;

                layout_line_text(p, l, text, sizeof(text));
                wording_normalize(text, norm, sizeof(norm));
                if (p->number == 1 && f->page1_max_size > 0 && l->size >= 0.5f * f->page1_max_size &&
                    l->y0 < 0.6f * p->height)
                        title = l->size / f->page1_max_size;
                if (p->number == 1 && f->n_title_lines < MAX_TITLE_LINES && l->y0 < 0.5f * p->height && !edge) {
                        struct title_line *t = &f->title_lines[f->n_title_lines++];

                        t->text = dup_source(text);
                        t->size = l->size;
                        t->y0 = l->y0;
                        t->y1 = l->y1;
                }
                if (ordering_heading(norm))
                        f->ordering_left = ORDERING_LINES;
                else if (f->ordering_left > 0)
                        f->ordering_left--;

                n_words = wording_words(norm, words, ELEMENTSOF(words));
                n_words = wording_split_slashed(words, n_words, ELEMENTSOF(words));
                for (k = 0; k < n_words; k++) {
                        struct token *t;

                        if (!wording_part_shaped(words[k]))
                                continue;
                        t = token_get(f, words[k]);
                        if (!t)
                                continue;
                        t->count++;
                        if (!t->source || (title > t->title)) {
                                free(t->source);
                                t->source = dup_source(text);
                                t->first_page = t->first_page && title <= t->title ? t->first_page : p->number;
                        }
                        if (title > t->title)
                                t->title = title;
                        if (title >= 0.6f && t->title_rank == 0)
                                t->title_rank = ++f->title_tokens;
                        if (edge && t->last_edge_page != p->number) {
                                t->edge_pages++;
                                t->last_edge_page = p->number;
                                if (contains_nocase(norm, "rev") || wording_month(k + 1 < n_words ? words[k + 1] : "") ||
                                    (k + 2 < n_words && wording_month(words[k + 2])))
                                        t->doc_code = true;
                        }
                        if (f->ordering_left > 0)
                                t->ordering++;
                }
                /* Past the first pages a vendor counts little: look only where it is
                 * usually named (headers, footers, addresses, copyright lines). */
                if (p->number <= 3 || edge || strstr(text, "www") || strstr(text, "\xC2\xA9") || strstr(text, "opyright"))
                        vendor_scan(f, text, norm, p->number, edge);
                scan_ranges(f, norm, text, p->number, edge);
                if (p->number <= 3)
                        scan_pin_mentions(f, norm);
                if (p->number <= 3 || edge)
                        scan_packages(f, norm, text, p->number);
                else if (f->ordering_left > 0 || contains_nocase(norm, "package"))
                        scan_packages(f, norm, text, p->number);
                if (p->number <= 2 || edge || contains_nocase(norm, "rev"))
                        scan_revision(f, norm, text, p->number, edge, words, n_words);
                scan_date(f, norm, text, p->number, edge, words, n_words);
        }
}

/* ---- decisions ---- */

static double clamp01(double v) {
        return v < 0.05 ? 0.05 : v > 0.99 ? 0.99 : round(v * 100) / 100;
}

static json_t *fact(const char *value, int page, const char *source, double confidence) {
        return json_pack("{s:s, s:i, s:s, s:f}", "value", value, "page", page, "source", source ? source : "",
                         "confidence", clamp01(confidence));
}

static bool doc_code_shaped(const char *s) {
        size_t n = strlen(s);

        size_t letters = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");

        /* Microchip DS40001234, TDK DS-000193, TI SBAS444D: document numbers */
        if (letters >= 2 && letters <= 3 && s[letters] == '-' && strspn(s + letters + 1, "0123456789") >= 5)
                return true;
        if (n >= 8 && strncmp(s, "DS", 2) == 0 && strspn(s + 2, "0123456789") >= 5)
                return true;
        if (n >= 7 && n <= 9 && s[0] == 'S' && isupper((unsigned char) s[1]) && isupper((unsigned char) s[2]) &&
            isupper((unsigned char) s[3]) && strspn(s + 4, "0123456789") >= 3)
                return true;
        return false;
}

static double token_score(const struct facts *f, const struct token *t) {
        double s = 0;

        if (t->title >= 0.6f)
                s += 8 * t->title * t->title;
        /* "AP63356/AP63357": the title names the primary part first */
        if (t->title_rank == 1)
                s += 1.5;
        s += 1.5 * fmin(t->edge_pages, 8) / 2;
        s += log2(1 + t->count);
        if (t->ordering)
                s += 1;
        if (f->meta_title && strstr(f->meta_title, t->text))
                s += 1.5;
        if (f->meta_subject && strstr(f->meta_subject, t->text))
                s += 1;
        if (t->doc_code || doc_code_shaped(t->text))
                s -= 8;
        if (strlen(t->text) < 5 && t->title < 0.6f)
                s -= 10;
        if (vendor_normalize(t->text))
                s -= 10;
        return s;
}

static bool common_stem(const char *a, const char *b, size_t n) {
        return strncasecmp(a, b, n) == 0;
}

static void add_part_numbers(struct facts *f, json_t *out, size_t *ret_best) {
        double best = -1e9, s;
        size_t i, chosen = (size_t) -1;
        json_t *others;

        for (i = 0; i < f->n_tokens; i++) {
                s = token_score(f, &f->tokens[i]);
                /* between a family stem and a variant with a suffix, the shorter
                 * one seen as much: ADS1115 over ADS1115IDGSR */
                if (s > best || (chosen != (size_t) -1 && s >= best - 0.5 && strlen(f->tokens[i].text) >= 5 &&
                                 strncmp(f->tokens[chosen].text, f->tokens[i].text, strlen(f->tokens[i].text)) == 0)) {
                        best = s;
                        chosen = i;
                }
        }
        *ret_best = chosen;
        if (chosen == (size_t) -1 || best < 3)
                return;
        {
                const struct token *t = &f->tokens[chosen];

                json_object_set_new(out, "part_number", fact(t->text, t->first_page ? t->first_page : 1, t->source, best / 12));
        }

        others = json_array();
        for (i = 0; i < f->n_tokens && json_array_size(others) < MAX_OTHER_PARTS; i++) {
                const struct token *t = &f->tokens[i], *p = &f->tokens[chosen];
                double conf;

                if (i == chosen || t->doc_code || doc_code_shaped(t->text) || vendor_normalize(t->text))
                        continue;
                if (strncmp(t->text, p->text, strlen(p->text)) == 0 && t->count < 2 && t->ordering == 0)
                        continue;
                if (t->title >= 0.6f && strlen(t->text) >= 5)
                        conf = 0.7;
                else if (t->ordering && common_stem(t->text, p->text, 3))
                        conf = 0.6;
                else if (common_stem(t->text, p->text, 4) && t->count >= 3 && t->edge_pages > 0)
                        conf = 0.5;
                else
                        continue;
                json_array_append_new(others, fact(t->text, t->first_page ? t->first_page : 1, t->source, conf));
        }
        if (json_array_size(others) > 0)
                json_object_set_new(out, "other_part_numbers", others);
        else
                json_decref(others);
}

static void add_manufacturer(struct facts *f, json_t *out) {
        size_t i, best = (size_t) -1, n = vendors_count();
        double total = 0;

        for (i = 0; i < n && i < 128; i++) {
                total += f->vendor_score[i];
                if (f->vendor_score[i] > 0 && (best == (size_t) -1 || f->vendor_score[i] > f->vendor_score[best]))
                        best = i;
        }
        /* The document information's author, a weak signal on its own. */
        if (best == (size_t) -1 && f->meta_author) {
                const char *name = vendor_normalize(f->meta_author);

                if (name)
                        json_object_set_new(out, "manufacturer", fact(name, 1, f->meta_author, 0.3));
                return;
        }
        if (best == (size_t) -1 || f->vendor_score[best] < 2)
                return;
        json_object_set_new(out, "manufacturer",
                            fact(vendor_get(best)->name, f->vendor_page[best], f->vendor_source[best],
                                 0.4 + 0.5 * f->vendor_score[best] / total));
}

static bool vendor_scan_name(const char *line) {
        size_t i;

        for (i = 0; i < vendors_count(); i++)
                if (vendor_match(i, line) >= 2)
                        return true;
        return false;
}

/* The title without the part numbers it starts or ends with ("BMP390
 * Digital pressure sensor", "SKY65313-21: 900 MHz ...", "... Chip CH340"). */
static char *strip_part_numbers(const char *title, const char *part) {
        const char *start = title, *end = title + strlen(title);
        char word[WORDING_WORD_MAX];
        size_t n;

        for (;;) {
                n = strcspn(start, " ");
                if (n == 0 || n >= sizeof(word))
                        break;
                (void) snprintf(word, sizeof(word), "%.*s", (int) n, start);
                while (n > 0 && (word[n - 1] == ':' || word[n - 1] == ','))
                        word[--n] = 0;
                if (!wording_part_shaped(word) && !(part && strcasecmp(word, part) == 0))
                        break;
                start += strcspn(start, " ");
                while (*start == ' ' || *start == ':' || *start == '-')
                        start++;
        }
        for (;;) {
                const char *w = end;

                while (w > start && w[-1] != ' ')
                        w--;
                n = (size_t) (end - w);
                if (w == start || n == 0 || n >= sizeof(word))
                        break;
                (void) snprintf(word, sizeof(word), "%.*s", (int) n, w);
                if (!wording_part_shaped(word) && !(part && strcasecmp(word, part) == 0))
                        break;
                end = w;
                while (end > start && end[-1] == ' ')
                        end--;
        }
        /* nothing but part numbers: keep the title as it is */
        return end - start >= 3 ? xstrndup(start, (size_t) (end - start)) : xstrdup(title);
}

/* Page 1's title: the largest lines near the top with words, joined when they
 * wrap, without the part numbers and the vendor's name. */
static void add_description(struct facts *f, json_t *out, const char *part) {
        unsigned i, j, best_words = 0;
        float best_size = 0;
        char best[400] = "", cur[400];

        for (i = 0; i < f->n_title_lines; i = j) {
                const struct title_line *t = &f->title_lines[i];
                unsigned words = 0;
                const char *p;
                size_t n = 0;

                cur[0] = 0;
                for (j = i; j < f->n_title_lines; j++) {
                        const struct title_line *u = &f->title_lines[j];

                        if (fabsf(u->size - t->size) > 0.6f || (j > i && u->y0 - f->title_lines[j - 1].y1 > 1.2f * t->size) ||
                            (j > i && u->y0 < f->title_lines[j - 1].y0 - 1))
                                break;
                        n += (size_t) snprintf(cur + n, n < sizeof(cur) ? sizeof(cur) - n : 0, "%s%s", n ? " " : "", u->text);
                        if (n >= sizeof(cur))
                                n = sizeof(cur) - 1;
                }
                if (j == i)
                        j = i + 1;
                /* a title is larger than the body text */
                if (t->size < 0.45f * f->page1_max_size || t->size <= best_size || t->size < f->page1_body_size + 0.3f)
                        continue;
                if (strncasecmp(cur, "features", 8) == 0 || strncasecmp(cur, "description", 11) == 0 ||
                    strncasecmp(cur, "general description", 19) == 0 || strncasecmp(cur, "applications", 12) == 0 ||
                    (contains_nocase(cur, "datasheet") && strlen(cur) < 40) || contains_nocase(cur, "confidential") ||
                    contains_nocase(cur, "http") || contains_nocase(cur, "www."))
                        continue;
                for (p = cur; *p;) {
                        unsigned letters = 0;

                        while (*p == ' ')
                                p++;
                        while (*p && *p != ' ') {
                                letters += isalpha((unsigned char) *p) != 0;
                                p++;
                        }
                        if (letters >= 3)
                                words++;
                }
                if (words < 3 || strlen(cur) > 300)
                        continue;
                /* a numbered section heading, or the vendor's name and address */
                if ((isdigit((unsigned char) cur[0]) && strlen(cur) < 40 && strchr(cur, ' ') &&
                     isupper((unsigned char) strchr(cur, ' ')[1])) ||
                    (vendor_scan_name(cur) && words < 6))
                        continue;
                best_size = t->size;
                best_words = words;
                (void) snprintf(best, sizeof(best), "%s", cur);
        }
        if (best_words >= 3) {
                char *value = strip_part_numbers(best, part);

                json_object_set_new(out, "description", fact(value, 1, best, 0.6));
                free(value);
        }
}

/* The pin count the first pages name most ("14-lead"), 0 if none or a tie. */
static unsigned dominant_pin_mention(const struct facts *f) {
        unsigned n, best = 0, best_count = 0, tie = 0;

        for (n = 2; n <= MAX_PIN_MENTION; n++) {
                if (f->pin_mentions[n] > best_count) {
                        best = n;
                        best_count = f->pin_mentions[n];
                        tie = 0;
                } else if (f->pin_mentions[n] == best_count && best_count > 0)
                        tie = n;
        }
        return tie ? 0 : best;
}

static void add_packages(struct facts *f, json_t *out) {
        json_t *list = json_array();
        unsigned i, k, pins_seen = 0, mention = dominant_pin_mention(f);
        bool same_pins = true;
        int first = -1;

        /* Most seen first. A bare family ("LGA") takes the pin count the text
         * names ("14-lead"), else it is left out when a variant of it has a
         * count, and otherwise kept as it is. */
        for (k = 0; k < MAX_PACKAGES_OUT; k++) {
                int best = -1;
                char value[48];
                struct package *p;

                for (i = 0; i < f->n_packages; i++) {
                        if (f->packages[i].count == 0)
                                continue;
                        if (best < 0 || f->packages[i].count > f->packages[best].count)
                                best = (int) i;
                }
                if (best < 0)
                        break;
                p = &f->packages[best];
                (void) snprintf(value, sizeof(value), "%s", p->value);
                if (p->pins == 0) {
                        bool shadowed = false;

                        for (i = 0; i < f->n_packages; i++)
                                if (f->packages[i].pins > 0 && strncmp(f->packages[i].value, p->value, strlen(p->value)) == 0 &&
                                    f->packages[i].value[strlen(p->value)] == '-')
                                        shadowed = true;
                        if (shadowed) {
                                p->count = 0;
                                k--;
                                continue;
                        }
                        if (mention > 0) {
                                (void) snprintf(value, sizeof(value), "%s-%u", p->value, mention);
                                p->pins = (int) mention;
                        }
                }
                json_array_append_new(list, fact(value, p->page, p->source, p->count >= 2 ? 0.7 : 0.5));
                if (first < 0)
                        first = best;
                if (p->pins == 0 || (pins_seen && (unsigned) p->pins != pins_seen))
                        same_pins = false;
                pins_seen = (unsigned) p->pins;
                p->count = 0;
        }
        /* a pin count only when every package has the same one */
        if (first >= 0 && same_pins && pins_seen > 0)
                json_object_set_new(out, "pin_count",
                                    json_pack("{s:i, s:i, s:s, s:f}", "value", pins_seen, "page", f->packages[first].page,
                                              "source", f->packages[first].source, "confidence", 0.6));
        if (json_array_size(list) > 0)
                json_object_set_new(out, "packages", list);
        else
                json_decref(list);
}

static json_t *range_json(const struct range *r, const char *unit) {
        return json_pack("{s:f, s:f, s:s, s:i, s:s, s:f}", "min", r->min, "max", r->max, "unit", unit, "page", r->page,
                         "source", r->source, "confidence", clamp01(0.4 + r->score / 12));
}

json_t *facts_json(struct facts *f) {
        const struct range *r;
        json_t *out = json_object();
        size_t best;

        if (!out)
                return NULL;
        add_manufacturer(f, out);
        add_part_numbers(f, out, &best);
        add_description(f, out, best != (size_t) -1 ? f->tokens[best].text : NULL);
        if (f->revision.found)
                json_object_set_new(out, "revision", fact(f->revision.value, f->revision.page, f->revision.source,
                                                          0.4 + 0.1 * f->revision.priority));
        if (f->date.found)
                json_object_set_new(out, "date", fact(f->date.value, f->date.page, f->date.source,
                                                      f->date.priority >= 400000 ? 0.8 : 0.5));
        add_packages(f, out);
        /* temperature grades: the widest of the good ones; supplies: the best
         * placed (a second supply, SVDD or VDDIO, is often wider) */
        if ((r = range_choose(&f->temperature, 2)))
                json_object_set_new(out, "temperature", range_json(r, "\xC2\xB0" "C"));
        if ((r = range_choose(&f->voltage, 0)))
                json_object_set_new(out, "supply_voltage", range_json(r, "V"));
        return out;
}
