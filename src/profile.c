/* profile.c: processing profiles: their defaults, their options set by name
 * (one set of rules for the configuration, manifests and the job message),
 * page lists, and filter conditions. */
#include "profile.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const profile_output_names[_PROFILE_OUTPUT_MAX] = {
        [PROFILE_META] = "meta", [PROFILE_TEXT] = "text", [PROFILE_STEXT] = "stext",
        [PROFILE_OUTLINE] = "outline", [PROFILE_THUMBS] = "thumbs", [PROFILE_PAGES] = "pages",
        [PROFILE_FACTS] = "facts", [PROFILE_TABLES] = "tables", [PROFILE_FILTERS] = "filters",
};

static const char *const format_names[] = { [PROFILE_PNG] = "png", [PROFILE_JPEG] = "jpeg" };

void profile_init_default(struct profile *p, const char *name) {
        *p = (struct profile) {
                .name = xstrdup(name ? name : PROFILE_DEFAULT),
                .thumb_pages = xstrdup("1"),
                .page_pages = xstrdup("all"),
                .dpi = 150,
        };
        p->on[PROFILE_META] = p->on[PROFILE_TEXT] = p->on[PROFILE_OUTLINE] = p->on[PROFILE_THUMBS] = true;
        p->on[PROFILE_FACTS] = p->on[PROFILE_TABLES] = p->on[PROFILE_FILTERS] = true;
}

void profile_copy(struct profile *to, const struct profile *from) {
        *to = *from;
        to->name = xstrdup(from->name);
        to->thumb_pages = xstrdup(from->thumb_pages);
        to->page_pages = xstrdup(from->page_pages);
        to->filters = from->n_filters ? xcalloc(from->n_filters, sizeof(*to->filters)) : NULL;
        for (size_t i = 0; i < from->n_filters; i++) {
                to->filters[i] = from->filters[i];
                to->filters[i].name = xstrdup(from->filters[i].name);
                to->filters[i].argv = strv_copy(from->filters[i].argv);
        }
}

void profile_done(struct profile *p) {
        if (!p)
                return;
        free(p->name);
        free(p->thumb_pages);
        free(p->page_pages);
        for (size_t i = 0; i < p->n_filters; i++) {
                free(p->filters[i].name);
                strv_free(p->filters[i].argv);
        }
        free(p->filters);
        *p = (struct profile) {};
}

static int parse_bool(const char *s, bool *ret) {
        static const char *const names[] = { "off", "on", "false", "true", "no", "yes" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = i % 2 == 1;
                        return 0;
                }
        return -EINVAL;
}

static int parse_number(const char *s, unsigned min, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
                return -EINVAL;
        v = strtoul(s, &end, 10);
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

static int parse_format(const char *s, enum profile_format *ret) {
        if (strcmp(s, "png") == 0)
                *ret = PROFILE_PNG;
        else if (strcmp(s, "jpeg") == 0 || strcmp(s, "jpg") == 0)
                *ret = PROFILE_JPEG;
        else
                return -EINVAL;
        return 0;
}

/* One element of a page list: N, N-M or N-; *ret_last is INT_MAX for "N-". */
static bool parse_range(const char *s, size_t len, int *ret_first, int *ret_last) {
        char buf[32];
        int first, last, n = 0;

        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, s, len);
        buf[len] = 0;
        if (strspn(buf, "0123456789-") != len || buf[0] == '-')
                return false;
        if (sscanf(buf, "%9d-%9d%n", &first, &last, &n) == 2 && (size_t) n == len)
                ;
        else if (sscanf(buf, "%9d-%n", &first, &n) == 1 && (size_t) n == len)
                last = INT_MAX;
        else if (sscanf(buf, "%9d%n", &first, &n) == 1 && (size_t) n == len)
                last = first;
        else
                return false;
        if (first < 1 || last < first)
                return false;
        *ret_first = first;
        *ret_last = last;
        return true;
}

/* Read the page list SPEC: is it valid, and is PAGE in it (*ret_has)? */
static bool pages_scan(const char *spec, int page, bool *ret_has) {
        *ret_has = false;
        if (!spec || !*spec || strlen(spec) > PROFILE_PAGES_MAX_TEXT)
                return false;
        if (strcmp(spec, "all") == 0) {
                *ret_has = true;
                return true;
        }
        for (const char *s = spec;;) {
                const char *end = strchrnul(s, ',');
                int first, last;
                if (!parse_range(s, (size_t) (end - s), &first, &last))
                        return false;
                *ret_has = *ret_has || (page >= first && page <= last);
                if (!*end)
                        return true;
                s = end + 1;
        }
}

bool profile_pages_valid(const char *spec) {
        bool has;

        return pages_scan(spec, 0, &has);
}

bool profile_pages_has(const char *spec, int page, int n_pages) {
        bool has;

        return page >= 1 && page <= n_pages && pages_scan(spec, page, &has) && has;
}

#define PAGES_WHY "must be a list of pages like 1, 1-3, 2,5-7, 3- or all"

int profile_set(struct profile *p, const char *key, const char *value, const char **ret_why) {
        const char *why = NULL;
        int r = 0;

        for (size_t i = 0; i < _PROFILE_OUTPUT_MAX; i++)
                if (strcmp(key, profile_output_names[i]) == 0) {
                        r = parse_bool(value, &p->on[i]);
                        why = "must be on or off (true/false, yes/no)";
                        goto finish;
                }
        if (strcmp(key, "thumbs.pages") == 0 || strcmp(key, "pages.pages") == 0) {
                char **target = key[0] == 't' ? &p->thumb_pages : &p->page_pages;
                why = PAGES_WHY;
                if (!profile_pages_valid(value))
                        r = -EINVAL;
                else {
                        free(*target);
                        *target = xstrdup(value);
                }
        } else if (strcmp(key, "thumbs.size") == 0) {
                why = "must be a number of pixels from 16 to 4096";
                r = parse_number(value, PROFILE_THUMB_MIN, PROFILE_THUMB_MAX, &p->thumb_size);
        } else if (strcmp(key, "pages.dpi") == 0) {
                why = "must be a resolution in dots per inch from 10 to 1200";
                r = parse_number(value, PROFILE_DPI_MIN, PROFILE_DPI_MAX, &p->dpi);
        } else if (strcmp(key, "thumbs.format") == 0 || strcmp(key, "pages.format") == 0) {
                why = "must be png or jpeg";
                r = parse_format(value, key[0] == 't' ? &p->thumb_format : &p->page_format);
        } else
                return -ENOENT;
finish:
        if (r < 0) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

char *profile_option_list(void) {
        char *s = xstrdup("");
        for (size_t i = 0; i < _PROFILE_OUTPUT_MAX; i++) {
                char *t = xasprintf("%s%s, ", s, profile_output_names[i]);
                free(s);
                s = t;
        }
        char *t = xasprintf("%sthumbs.pages, thumbs.size, thumbs.format, pages.pages, pages.dpi, pages.format", s);
        free(s);
        return t;
}

static const char *const when_names[] = {
        [PROFILE_WHEN_ALWAYS] = "always", [PROFILE_WHEN_NOT_FULL] = "text_layer != full",
        [PROFILE_WHEN_NONE] = "text_layer == none", [PROFILE_WHEN_FULL] = "text_layer == full",
};

int profile_when_parse(const char *s, enum profile_when *ret) {
        char norm[64];
        size_t n = 0;

        /* Spaces do not matter: "text_layer!=full" is the same condition. */
        for (; *s && n + 1 < sizeof(norm); s++)
                if (*s != ' ')
                        norm[n++] = *s;
        norm[n] = 0;
        for (size_t i = 0; i < ELEMENTSOF(when_names); i++) {
                char want[64];
                size_t m = 0;
                for (const char *w = when_names[i]; *w; w++)
                        if (*w != ' ')
                                want[m++] = *w;
                want[m] = 0;
                if (strcmp(norm, want) == 0) {
                        *ret = (enum profile_when) i;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *profile_when_to_string(enum profile_when w) {
        return w < ELEMENTSOF(when_names) ? when_names[w] : "always";
}

bool profile_when_matches(enum profile_when w, const char *text_layer) {
        bool full = text_layer && strcmp(text_layer, "full") == 0;
        bool none = !text_layer || strcmp(text_layer, "none") == 0;

        switch (w) {
        case PROFILE_WHEN_NOT_FULL:
                return !full;
        case PROFILE_WHEN_NONE:
                return none;
        case PROFILE_WHEN_FULL:
                return full;
        default:
                return true;
        }
}

json_t *profile_outputs_to_json(const struct profile *p) {
        json_t *o = json_object();

        for (size_t i = 0; i < _PROFILE_OUTPUT_MAX; i++)
                if (i != PROFILE_FILTERS)
                        json_object_set_new(o, profile_output_names[i], json_boolean(p->on[i]));
        json_object_set_new(o, "thumbs.pages", json_string(p->thumb_pages));
        json_object_set_new(o, "thumbs.size", json_integer(p->thumb_size));
        json_object_set_new(o, "thumbs.format", json_string(format_names[p->thumb_format]));
        json_object_set_new(o, "pages.pages", json_string(p->page_pages));
        json_object_set_new(o, "pages.dpi", json_integer(p->dpi));
        json_object_set_new(o, "pages.format", json_string(format_names[p->page_format]));
        return o;
}

int profile_outputs_from_json(json_t *o, struct profile *p, const char **ret_why) {
        const char *key;
        json_t *v;

        if (!json_is_object(o)) {
                *ret_why = "\"outputs\" must be an object";
                return -EINVAL;
        }
        json_object_foreach(o, key, v) {
                char buf[32];
                const char *text = buf;
                if (json_is_boolean(v))
                        text = json_is_true(v) ? "on" : "off";
                else if (json_is_integer(v))
                        (void) snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
                else if (json_is_string(v))
                        text = json_string_value(v);
                else {
                        *ret_why = "an output option must be a boolean, a number or a string";
                        return -EINVAL;
                }
                /* thumbs.size 0: the configuration's size, which the daemon fills in. */
                if (strcmp(key, "thumbs.size") == 0 && strcmp(text, "0") == 0)
                        continue;
                int r = profile_set(p, key, text, ret_why);
                if (r == -ENOENT)
                        *ret_why = "unknown output option";
                if (r < 0)
                        return -EINVAL;
        }
        return 0;
}
