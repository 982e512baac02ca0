/* names.c: names are bytes; JSON wants UTF-8; outputs must not collide. */
#include "names.h"
#include "util.h"

#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *names_to_json_exact(const char *name) {
        size_t n = strlen(name);

        if (utf8_is_valid(name, n))
                return json_stringn(name, n);
        char *hex = xmalloc(2 * n + 1);
        for (size_t i = 0; i < n; i++)
                sprintf(hex + 2 * i, "%02x", (unsigned char) name[i]);
        json_t *j = json_pack("{s:s}", "hex", hex);
        free(hex);
        return j;
}

char *names_from_json_exact(const json_t *j) {
        if (json_is_string(j))
                return xstrdup(json_string_value(j));
        const char *hex = json_string_value(json_object_get(j, "hex"));
        if (!hex || strlen(hex) % 2 != 0)
                return NULL;
        size_t n = strlen(hex) / 2;
        char *out = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v == 0) {
                        free(out);
                        return NULL;
                }
                out[i] = (char) v;
        }
        out[n] = 0;
        return out;
}

/* A control character (C0, DEL, C1) at S, LEN bytes of valid UTF-8: a terminal
 * would act on it (ESC starts a sequence, a newline starts a new line). */
static bool is_control(const unsigned char *s, size_t len) {
        return (len == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

char *names_display(const char *name) {
        size_t n = strlen(name);
        char *out = xmalloc(4 * n + 1);
        size_t o = 0;

        for (size_t i = 0; i < n;) {
                /* Longest valid sequence at i, else one escaped byte. */
                size_t len = 0;
                for (size_t k = 1; k <= 4 && i + k <= n; k++)
                        if (utf8_is_valid(name + i, k)) {
                                len = k;
                                break;
                        }
                if (len > 0 && !is_control((const unsigned char *) name + i, len)) {
                        memcpy(out + o, name + i, len);
                        o += len;
                        i += len;
                } else
                        /* Invalid bytes and control characters are shown as the text \xNN. */
                        for (size_t k = 0; k < (len ? len : 1); k++, i++)
                                o += (size_t) sprintf(out + o, "\\x%02x", (unsigned char) name[i]);
        }
        out[o] = 0;
        return out;
}

json_t *names_to_json_display(const char *name) {
        char *d = names_display(name);
        json_t *j = json_string(d);
        free(d);
        return j;
}

char *names_normalize_relative(const char *path, size_t max_depth, enum names_path_problem *ret_problem) {
        size_t o = 0, depth = 0;
        char *out;

        *ret_problem = !path[0] ? NAMES_PATH_EMPTY : path[0] == '/' ? NAMES_PATH_ABSOLUTE : NAMES_PATH_OK;
        if (*ret_problem != NAMES_PATH_OK)
                return NULL;
        out = xmalloc(strlen(path) + 1);
        for (const char *c = path; *c;) {
                const char *end = strchrnul(c, '/');
                size_t n = (size_t) (end - c);

                if (n == 2 && c[0] == '.' && c[1] == '.')
                        *ret_problem = NAMES_PATH_DOTDOT;
                else if (n > 0 && !(n == 1 && c[0] == '.') && max_depth > 0 && ++depth > max_depth)
                        *ret_problem = NAMES_PATH_TOO_DEEP;
                if (*ret_problem != NAMES_PATH_OK) {
                        free(out);
                        return NULL;
                }
                if (n > 0 && !(n == 1 && c[0] == '.')) {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, c, n);
                        o += n;
                }
                c = *end ? end + 1 : end;
        }
        out[o] = 0;
        return out;
}

char *names_with_suffix(const char *base, unsigned n, bool keep_ext) {
        const char *slash = strrchr(base, '/');
        const char *last = slash ? slash + 1 : base;
        const char *dot = keep_ext ? strrchr(last, '.') : NULL;
        size_t stem = dot && dot != last ? (size_t) (dot - base) : strlen(base);
        const char *ext = base + stem;
        char suffix[16];

        snprintf(suffix, sizeof(suffix), "-%u", n);
        size_t room = NAME_MAX - strlen(suffix) - strlen(ext);
        size_t last_stem = stem - (size_t) (last - base);
        if (strlen(ext) + strlen(suffix) >= NAME_MAX)
                return xasprintf("%.*s%s", (int) (last - base), base, suffix); /* absurd extension: drop it */
        if (last_stem > room)
                stem -= last_stem - room;
        return xasprintf("%.*s%s%s", (int) stem, base, suffix, ext);
}

/* A name set is a binary tree of strings (tsearch): thousands of entries at most per batch. */
struct name_set {
        void *root;
};

static int compare(const void *a, const void *b) {
        return strcmp(a, b);
}

struct name_set *name_set_new(void) {
        return xcalloc(1, sizeof(struct name_set));
}

void name_set_free(struct name_set *s) {
        if (!s)
                return;
        tdestroy(s->root, free);
        free(s);
}

bool name_set_contains(const struct name_set *s, const char *path) {
        return tfind(path, &s->root, compare) != NULL;
}

void name_set_add(struct name_set *s, const char *path) {
        char *copy = xstrdup(path);
        char **found = tsearch(copy, &s->root, compare);
        if (!found)
                abort();
        if (*found != copy)
                free(copy);
}

static bool is_free(struct name_set *s, const char *name, const char *const *extras) {
        if (name_set_contains(s, name))
                return false;
        for (size_t i = 0; extras && extras[i]; i++) {
                char *p = xasprintf("%s/%s", name, extras[i]);
                bool taken = name_set_contains(s, p);
                free(p);
                if (taken)
                        return false;
        }
        return true;
}

char *name_set_claim_unique(struct name_set *s, const char *base, const char *const *extras, bool keep_ext) {
        char *name = xstrdup(base);

        for (unsigned i = 2; !is_free(s, name, extras); i++) {
                free(name);
                name = names_with_suffix(base, i, keep_ext);
        }
        name_set_add(s, name);
        for (size_t i = 0; extras && extras[i]; i++) {
                char *p = xasprintf("%s/%s", name, extras[i]);
                name_set_add(s, p);
                free(p);
        }
        return name;
}
