/* manifest.c: reads a *.batch.yaml manifest (libyaml document API) into
 * struct manifest, and computes the SHA-256 of a listed file (sha256.c).
 *
 * A manifest comes from whoever can write to the inbox, so it is checked as
 * hostile: its size, every key, every path (relative, no "..", listed once),
 * and each message points at the line and column to fix. */
#include "manifest.h"
#include "config.h"
#include "sha256.h"
#include "names.h"
#include "util.h"
#include "yamldoc.h"
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define DURATION_MAX (365ULL * 24 * 3600 * USEC_PER_SEC)
#define THUMBNAIL_MIN 16
#define THUMBNAIL_MAX 4096

_Static_assert(MANIFEST_MAX_DEPTH == 64 && MANIFEST_PATH_MAX == 4095, "the messages below say 64 and 4095");

static const char *const top_keys[] = { "batch", "files", "labels", "options", "profile", "password" };
static const char *const file_keys[] = { "path", "sha256", "password" };
static const char *const suffixes[] = { ".batch.yaml", ".batch.yml" };

struct loader {
        struct yamldoc doc;
        const char *self;           /* the manifest's own file name: it cannot list itself */
        /* tsearch: struct seen, the paths listed so far and every folder above
         * one; one tree, so that a path costs one descent per component */
        void *seen;
};

/* The calls on the loader's document (yamldoc.h) most used here, kept short. */
#define fail_at(l, ...) yamldoc_fail_at(&(l)->doc, __VA_ARGS__)
#define got(l, node) yamldoc_got(&(l)->doc, node)
#define node_at(l, index) yamldoc_node_at(&(l)->doc, index)

/* A path seen in "files", and where: for "listed twice" and "inside" messages. */
struct seen {
        char *path;
        bool listed;                /* else a folder above a listed path */
        char *example;              /* a folder above: the first listed path below it */
        size_t line;
};

/* ---- keys ---- */

/* Keys of MAP are text, each once, and (when KEYS is not NULL) one of KEYS.
 * WHAT names a key in messages ("key", "option", "label"), WHERE the mapping
 * ("" or " in a file entry"). */
static int check_keys(struct loader *l, const yaml_node_t *map, const char *const *keys, size_t n_keys,
                      const char *what, const char *where) {
        const struct yamldoc_keys known = { keys, n_keys, sizeof(*keys), true };
        const yaml_node_t *k = NULL, *prev = NULL;
        char *list;
        int r;

        switch (yamldoc_check_keys(&l->doc, map, &known, &k, &prev)) {
        case YAMLDOC_KEY_NOT_TEXT:
                return fail_at(l, &k->start_mark, "a %s%s must be plain text, got %s", what, where, got(l, k));
        case YAMLDOC_KEY_DUPLICATE:
                return fail_at(l, &k->start_mark, "duplicate %s %s%s (already given at line %zu)",
                               what, got(l, k), where, prev->start_mark.line + 1);
        case YAMLDOC_KEY_UNKNOWN:
                list = yamldoc_key_list(&known);
                r = fail_at(l, &k->start_mark, "unknown %s %s%s (expected one of: %s)", what, got(l, k),
                            where, list);
                free(list);
                return r;
        case YAMLDOC_KEYS_OK:
                break;
        }
        return 0;
}

/* ---- values ---- */

static int parse_batch(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, char **ret) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || !*s)
                return fail_at(l, yamldoc_value_mark(k, v), "\"batch\" must be a name for the batch's folder, got %s",
                               got(l, v));
        if (strchr(s, '/'))
                return fail_at(l, &v->start_mark, "\"batch\" must be a single folder name, without \"/\", got %s",
                               got(l, v));
        if (s[0] == '.')
                return fail_at(l, &v->start_mark, "\"batch\" must not start with \".\", got %s", got(l, v));
        if (v->data.scalar.length > MANIFEST_BATCH_NAME_MAX)
                return fail_at(l, &v->start_mark, "\"batch\" must be at most %d bytes long, got %s",
                               MANIFEST_BATCH_NAME_MAX, got(l, v));
        for (size_t i = 0; i < v->data.scalar.length; i++)
                if ((unsigned char) s[i] < ' ' || s[i] == 0x7f)
                        return fail_at(l, &v->start_mark, "\"batch\" must not contain control characters, got %s",
                                       got(l, v));
        *ret = xstrdup(s);
        return 0;
}

/* Relative, without ".." and without the inbox itself; "." and empty
 * components and a trailing "/" are dropped. NULL and *why when refused. */
static char *normalize_path(const yaml_node_t *v, const char **why) {
        static const char *const reasons[] = {
                [NAMES_PATH_EMPTY] = "a path must not be empty",
                [NAMES_PATH_ABSOLUTE] = "a path must be relative to the inbox, not start with \"/\"",
                [NAMES_PATH_DOTDOT] = "a path must not contain \"..\"",
                [NAMES_PATH_TOO_DEEP] = "a path must have at most 64 components",
        };
        const char *s = yamldoc_scalar(v);
        enum names_path_problem problem;

        if (!s || yamldoc_is_null(v) || !*s) {
                *why = reasons[NAMES_PATH_EMPTY];
                return NULL;
        }
        if (yamldoc_has_nul(v)) {
                *why = "a path must not contain a NUL byte";
                return NULL;
        }
        /* Bounded before any work on it: each folder above a listed path is
         * remembered (check_listed_once), so a path's cost grows with both. */
        if (v->data.scalar.length > MANIFEST_PATH_MAX) {
                *why = "a path must be at most 4095 bytes long";
                return NULL;
        }
        char *out = names_normalize_relative(s, MANIFEST_MAX_DEPTH, &problem);
        if (!out) {
                *why = reasons[problem];
                return NULL;
        }
        if (!out[0]) {
                *why = "a path must name a file or folder in the inbox, not the inbox itself";
                free(out);
                return NULL;
        }
        return out;
}

static int compare_seen(const void *a, const void *b) {
        return strcmp(((const struct seen *) a)->path, ((const struct seen *) b)->path);
}

static void free_seen(void *p) {
        struct seen *s = p;

        free(s->path);
        free(s->example);
        free(s);
}

/* The first LEN bytes of PATH as a listed path or a folder above EXAMPLE;
 * the entry that was there already if any (then nothing is added). */
static struct seen *add_seen(void **tree, const char *path, size_t len, bool listed, const char *example,
                             size_t line) {
        struct seen *s = xmalloc(sizeof(*s));
        struct seen **found;

        *s = (struct seen) { .path = xstrndup(path, len), .listed = listed, .line = line };
        found = tsearch(s, tree, compare_seen);
        if (!found)
                abort();
        if (*found != s) {
                free_seen(s);
                return *found;
        }
        s->example = example ? xstrdup(example) : NULL;
        return NULL;
}

/* Each file once: not twice, not inside a listed folder, not a folder above
 * one. O(components x log n) for each path, so O(n log n) for the list. */
static int check_listed_once(struct loader *l, const yaml_node_t *v, const char *path) {
        size_t line = v->start_mark.line + 1;
        struct seen *s;

        for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
                s = add_seen(&l->seen, path, (size_t) (slash - path), false, path, line);
                if (s && s->listed)
                        return fail_at(l, &v->start_mark, "\"%s\" is inside the folder \"%s\" listed at line %zu; "
                                       "list each file once", path, s->path, s->line);
        }
        s = add_seen(&l->seen, path, strlen(path), true, NULL, line);
        if (s && s->listed)
                return fail_at(l, &v->start_mark, "\"%s\" is listed twice (first at line %zu)", path, s->line);
        if (s)
                return fail_at(l, &v->start_mark, "\"%s\" contains \"%s\" listed at line %zu; list each file once",
                               path, s->example, s->line);
        return 0;
}

static int parse_path(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, char **ret) {
        const char *why = NULL;
        char *p;
        int r;

        if (v->type != YAML_SCALAR_NODE)
                return fail_at(l, &v->start_mark, "a path must be text, got %s", got(l, v));
        p = normalize_path(v, &why);
        if (!p)
                return fail_at(l, k ? yamldoc_value_mark(k, v) : &v->start_mark, "%s, got %s", why, got(l, v));
        if (strcmp(p, l->self) == 0) {
                free(p);
                return fail_at(l, &v->start_mark, "the manifest cannot list itself, got %s", got(l, v));
        }
        r = check_listed_once(l, v, p);
        if (r < 0) {
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

static int hex_digit(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int parse_sha256(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, unsigned char out[32]) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || v->data.scalar.length != 64)
                return fail_at(l, yamldoc_value_mark(k, v), "\"sha256\" must be 64 hexadecimal digits, got %s",
                               got(l, v));
        for (size_t i = 0; i < 32; i++) {
                int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return fail_at(l, &v->start_mark, "\"sha256\" must be 64 hexadecimal digits, got %s",
                                       got(l, v));
                out[i] = (unsigned char) (hi << 4 | lo);
        }
        return 0;
}

/* The password itself is never put into a message: only where it is. */
static int parse_password(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, char **ret) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || !*s || yamldoc_has_nul(v) || strlen(s) > MANIFEST_PASSWORD_MAX)
                return fail_at(l, yamldoc_value_mark(k, v), "\"password\" must be text of 1 to %d bytes",
                               MANIFEST_PASSWORD_MAX);
        free(*ret);
        *ret = xstrdup(s);
        return 0;
}

static int parse_file(struct loader *l, const yaml_node_t *item, struct manifest_file *f) {
        const yaml_node_t *path_key = NULL, *path_value = NULL;
        yaml_node_pair_t *pairs;
        size_t n;
        int r;

        if (item->type == YAML_SCALAR_NODE)
                return parse_path(l, NULL, item, &f->path);
        if (item->type != YAML_MAPPING_NODE)
                return fail_at(l, &item->start_mark, "each entry of \"files\" must be a path, or a mapping with "
                               "\"path\" and \"sha256\", got %s", got(l, item));
        r = check_keys(l, item, file_keys, ELEMENTSOF(file_keys), "key", " in a file entry");
        if (r < 0)
                return r;
        pairs = item->data.mapping.pairs.start;
        n = (size_t) (item->data.mapping.pairs.top - pairs);
        for (size_t i = 0; i < n; i++)
                if (strcmp(yamldoc_scalar(node_at(l, pairs[i].key)), "path") == 0) {
                        path_key = node_at(l, pairs[i].key);
                        path_value = node_at(l, pairs[i].value);
                }
        if (!path_key)
                return fail_at(l, &item->start_mark, "a file entry needs \"path\": the file or folder, relative "
                               "to the inbox");
        r = parse_path(l, path_key, path_value, &f->path);
        for (size_t i = 0; r == 0 && i < n; i++) {
                const yaml_node_t *k = node_at(l, pairs[i].key);
                if (strcmp(yamldoc_scalar(k), "sha256") == 0) {
                        r = parse_sha256(l, k, node_at(l, pairs[i].value), f->sha256);
                        f->has_sha256 = r == 0;
                } else if (strcmp(yamldoc_scalar(k), "password") == 0)
                        r = parse_password(l, k, node_at(l, pairs[i].value), &f->password);
        }
        return r;
}

static int parse_files(struct loader *l, struct manifest *m, const yaml_node_t *k, const yaml_node_t *v) {
        yaml_node_item_t *items;
        size_t n;

        if (yamldoc_is_null(v))
                return fail_at(l, &k->start_mark, "\"files\" is empty; list at least one file or folder");
        if (v->type != YAML_SEQUENCE_NODE)
                return fail_at(l, &v->start_mark, "\"files\" must be a list of paths relative to the inbox, got %s",
                               got(l, v));
        items = v->data.sequence.items.start;
        n = (size_t) (v->data.sequence.items.top - items);
        if (n == 0)
                return fail_at(l, &v->start_mark, "\"files\" is empty; list at least one file or folder");
        if (n > MANIFEST_MAX_FILES)
                return fail_at(l, &node_at(l, items[MANIFEST_MAX_FILES])->start_mark,
                               "more than %d files in one manifest; split the batch into several", MANIFEST_MAX_FILES);
        m->files = xcalloc(n, sizeof(*m->files));
        for (size_t i = 0; i < n; i++) {
                int r = parse_file(l, node_at(l, items[i]), &m->files[m->n_files]);
                if (r < 0) {
                        free(m->files[m->n_files].path);
                        return r;
                }
                m->n_files++;
        }
        return 0;
}

static int parse_labels(struct loader *l, struct manifest *m, const yaml_node_t *v) {
        yaml_node_pair_t *pairs;
        size_t n;
        int r;

        if (yamldoc_is_null(v))
                return 0;
        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, &v->start_mark, "\"labels\" must be a mapping of names to text, got %s", got(l, v));
        /* The limit first: the checks below look at every pair, and the keys'
         * check compares each with those before it. */
        pairs = v->data.mapping.pairs.start;
        n = (size_t) (v->data.mapping.pairs.top - pairs);
        if (n > MANIFEST_MAX_LABELS)
                return fail_at(l, &node_at(l, pairs[MANIFEST_MAX_LABELS].key)->start_mark,
                               "more than %d labels", MANIFEST_MAX_LABELS);
        r = check_keys(l, v, NULL, 0, "label", "");
        if (r < 0)
                return r;
        m->label_keys = xcalloc(n, sizeof(char *));
        m->label_values = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *key = node_at(l, pairs[i].key), *value = node_at(l, pairs[i].value);
                const char *name = yamldoc_scalar(key);

                if (key->data.scalar.length > MANIFEST_LABEL_KEY_MAX)
                        return fail_at(l, &key->start_mark, "a label name must be at most %d bytes long, got %s",
                                       MANIFEST_LABEL_KEY_MAX, got(l, key));
                if (!yamldoc_scalar(value) || yamldoc_is_null(value) || yamldoc_has_nul(value))
                        return fail_at(l, yamldoc_value_mark(key, value),
                                       "label \"%s\" must have text as its value, got %s", name, got(l, value));
                if (value->data.scalar.length > MANIFEST_LABEL_VALUE_MAX)
                        return fail_at(l, &value->start_mark, "label \"%s\" must be at most %d bytes long, got %s",
                                       name, MANIFEST_LABEL_VALUE_MAX, got(l, value));
                m->label_keys[i] = xstrdup(name);
                m->label_values[i] = xstrdup(yamldoc_scalar(value));
                m->n_labels++;
        }
        return 0;
}

static int parse_thumbnail_size(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, unsigned *ret) {
        const char *s = yamldoc_scalar(v);
        unsigned long n = 0;

        if (!s || yamldoc_is_null(v) || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6 ||
            (n = strtoul(s, NULL, 10)) < THUMBNAIL_MIN || n > THUMBNAIL_MAX)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "\"thumbnail_size\" must be a number of pixels from %d to %d, got %s",
                               THUMBNAIL_MIN, THUMBNAIL_MAX, got(l, v));
        *ret = (unsigned) n;
        return 0;
}

static int parse_job_timeout(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, uint64_t *ret) {
        uint64_t usec = 0;
        int r = yamldoc_scalar(v) && !yamldoc_is_null(v) ? config_parse_duration(yamldoc_scalar(v), &usec) : -EINVAL;

        if (r == -ERANGE || (r == 0 && usec > DURATION_MAX))
                return fail_at(l, &v->start_mark, "\"job_timeout\" must be at most 365d, got %s", got(l, v));
        if (r < 0)
                return fail_at(l, yamldoc_value_mark(k, v), "\"job_timeout\" must be a duration like 500ms, 2s, 5m, "
                               "1h, 1d or 1m30s (a bare number means seconds), got %s", got(l, v));
        if (usec == 0)
                return fail_at(l, &v->start_mark, "\"job_timeout\" must be longer than zero, got %s", got(l, v));
        *ret = usec;
        return 0;
}

static int parse_priority(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, int *ret) {
        const char *s = yamldoc_scalar(v);
        char *end = NULL;
        long n = s && !yamldoc_is_null(v) && *s ? strtol(s, &end, 10) : 0;

        if (!end || *end || n < MANIFEST_PRIORITY_MIN || n > MANIFEST_PRIORITY_MAX)
                return fail_at(l, yamldoc_value_mark(k, v), "\"priority\" must be a whole number from %d to %d "
                               "(higher runs first, 0 is the default), got %s", MANIFEST_PRIORITY_MIN,
                               MANIFEST_PRIORITY_MAX, got(l, v));
        *ret = (int) n;
        return 0;
}

static int parse_not_before(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, uint64_t *ret) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || parse_rfc3339(s, ret) < 0)
                return fail_at(l, yamldoc_value_mark(k, v), "\"not_before\" must be a date and time like "
                               "2026-12-07T22:00:00Z, 2026-12-07T22:00+01:00 or 2026-12-07 22:00 (local time), "
                               "got %s", got(l, v));
        return 0;
}

/* One profile option (profile.h), checked on a scratch profile: which
 * profile it applies to is known only when the job runs. */
static int add_override(struct loader *l, struct manifest *m, const char *key, const yaml_node_t *k,
                        const yaml_node_t *v) {
        struct profile scratch;
        const char *why = NULL, *s = yamldoc_scalar(v);
        int r;

        profile_init_default(&scratch, NULL);
        r = s && !yamldoc_is_null(v) && !yamldoc_has_nul(v) ? profile_set(&scratch, key, s, &why) : -EINVAL;
        profile_done(&scratch);
        if (r == -ENOENT) {
                char *list = profile_option_list();
                r = fail_at(l, &k->start_mark, "unknown option %s (expected one of: thumbnail_size, job_timeout, "
                            "priority, not_before, %s)", got(l, k), list);
                free(list);
                return r;
        }
        if (r < 0)
                return fail_at(l, yamldoc_value_mark(k, v), "option \"%s\" %s, got %s", key,
                               why ? why : "must be a plain value", got(l, v));
        m->override_keys = xrealloc(m->override_keys, (m->n_overrides + 1) * sizeof(char *));
        m->override_values = xrealloc(m->override_values, (m->n_overrides + 1) * sizeof(char *));
        m->override_keys[m->n_overrides] = xstrdup(key);
        m->override_values[m->n_overrides++] = xstrdup(s);
        return 0;
}

static int parse_options(struct loader *l, struct manifest *m, const yaml_node_t *v) {
        yaml_node_pair_t *pairs;
        size_t n;
        int r;

        if (yamldoc_is_null(v))
                return 0;
        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, &v->start_mark, "\"options\" must be a mapping (thumbnail_size, job_timeout, "
                               "priority, not_before, or a profile's options like stext or thumbs.size), "
                               "got %s", got(l, v));
        r = check_keys(l, v, NULL, 0, "option", "");
        pairs = v->data.mapping.pairs.start;
        n = (size_t) (v->data.mapping.pairs.top - pairs);
        for (size_t i = 0; r == 0 && i < n; i++) {
                const yaml_node_t *key = node_at(l, pairs[i].key), *value = node_at(l, pairs[i].value);
                const char *name = yamldoc_scalar(key);
                if (strcmp(name, "thumbnail_size") == 0)
                        r = parse_thumbnail_size(l, key, value, &m->thumbnail_size);
                else if (strcmp(name, "priority") == 0)
                        r = parse_priority(l, key, value, &m->priority);
                else if (strcmp(name, "not_before") == 0)
                        r = parse_not_before(l, key, value, &m->not_before_usec);
                else if (strcmp(name, "job_timeout") == 0)
                        r = parse_job_timeout(l, key, value, &m->job_timeout_usec);
                else if ((strcmp(name, "thumbs") == 0 || strcmp(name, "pages") == 0) &&
                         value->type == YAML_MAPPING_NODE) {
                        /* thumbs: {size: 512} is thumbs.size: 512 */
                        r = check_keys(l, value, NULL, 0, "option", "");
                        for (yaml_node_pair_t *q = value->data.mapping.pairs.start;
                             r == 0 && q < value->data.mapping.pairs.top; q++) {
                                const yaml_node_t *sk = node_at(l, q->key);
                                char *full = xasprintf("%s.%s", name, yamldoc_scalar(sk));
                                r = add_override(l, m, full, sk, node_at(l, q->value));
                                free(full);
                        }
                } else
                        r = add_override(l, m, name, key, value);
        }
        return r;
}

static int parse_top(struct loader *l, struct manifest *m, const yaml_node_t *root) {
        yaml_node_pair_t *pairs;
        size_t n;
        bool have_files = false;
        int r;

        if (root->type != YAML_MAPPING_NODE) {
                char *list = yamldoc_key_list(&(const struct yamldoc_keys) { top_keys, ELEMENTSOF(top_keys),
                                                                             sizeof(*top_keys), true });
                r = fail_at(l, &root->start_mark, "the top level must be a mapping of keys (%s), got %s", list,
                            got(l, root));
                free(list);
                return r;
        }
        r = check_keys(l, root, top_keys, ELEMENTSOF(top_keys), "key", "");
        pairs = root->data.mapping.pairs.start;
        n = (size_t) (root->data.mapping.pairs.top - pairs);
        for (size_t i = 0; r == 0 && i < n; i++) {
                const yaml_node_t *k = node_at(l, pairs[i].key), *v = node_at(l, pairs[i].value);
                const char *name = yamldoc_scalar(k);

                if (strcmp(name, "batch") == 0) {
                        free(m->batch);
                        m->batch = NULL;
                        r = parse_batch(l, k, v, &m->batch);
                } else if (strcmp(name, "files") == 0) {
                        have_files = true;
                        r = parse_files(l, m, k, v);
                } else if (strcmp(name, "labels") == 0)
                        r = parse_labels(l, m, v);
                else if (strcmp(name, "password") == 0)
                        r = parse_password(l, k, v, &m->password);
                else if (strcmp(name, "profile") == 0) {
                        const char *s = yamldoc_scalar(v);
                        if (!s || yamldoc_is_null(v) || !*s || strlen(s) > PROFILE_NAME_MAX ||
                            strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(s))
                                r = fail_at(l, yamldoc_value_mark(k, v), "\"profile\" must be the name of a profile "
                                            "of the configuration, got %s", got(l, v));
                        else {
                                free(m->profile);
                                m->profile = xstrdup(s);
                        }
                } else
                        r = parse_options(l, m, v);
        }
        if (r == 0 && !have_files)
                r = fail_at(l, &root->start_mark, "no \"files\" key; expected the list of files and folders "
                            "of the batch");
        return r;
}

bool manifest_is_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (strlen(name) > strlen(suffixes[i]) && str_has_suffix_nocase(name, suffixes[i]))
                        return true;
        return false;
}

/* The file name without .batch.yaml: the batch's name when it has none. */
static char *default_batch_name(const char *self) {
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (strlen(self) > strlen(suffixes[i]) && str_has_suffix_nocase(self, suffixes[i]))
                        return xstrndup(self, strlen(self) - strlen(suffixes[i]));
        return xstrdup(self[0] ? self : "batch");
}

static char *manifest_too_large(const char *path) {
        return xasprintf("%s: larger than 1 MiB; a manifest lists files, it does not contain them", path);
}

static const struct yamldoc_source manifest_source = {
        .max_bytes = MANIFEST_MAX_BYTES, .regular_only = true, .too_large = manifest_too_large,
        .required_key = "files",
};

int manifest_load(const char *path, struct manifest **ret, char **ret_error) {
        const char *slash = strrchr(path, '/');
        struct loader l = { .self = slash ? slash + 1 : path };
        struct manifest *m = NULL;
        int r;

        r = yamldoc_load(&l.doc, path, &manifest_source);
        if (r < 0)
                goto finish;

        m = xcalloc(1, sizeof(*m));
        r = parse_top(&l, m, l.doc.root);
        if (r == 0 && !m->batch)
                m->batch = default_batch_name(l.self);

finish:
        tdestroy(l.seen, free_seen);
        r = yamldoc_finish(&l.doc, r, ret_error);
        if (r < 0) {
                manifest_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

/* A password is wiped before its memory goes back. */
static void erase_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        free(s);
}

void manifest_free(struct manifest *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_files; i++) {
                free(m->files[i].path);
                erase_free(m->files[i].password);
        }
        for (size_t i = 0; i < m->n_overrides; i++) {
                free(m->override_keys[i]);
                free(m->override_values[i]);
        }
        free(m->override_keys);
        free(m->override_values);
        free(m->profile);
        erase_free(m->password);
        for (size_t i = 0; i < m->n_labels; i++) {
                free(m->label_keys[i]);
                free(m->label_values[i]);
        }
        free(m->files);
        free(m->label_keys);
        free(m->label_values);
        free(m->batch);
        free(m);
}

/* ---- checksums ---- */

/* Open DIRFD/PATH for reading, one component at a time, never through a link
 * (-ELOOP wherever the link is). */
static int open_beneath(int dirfd, const char *path) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (path[0] == '/') {
                close(fd);
                return -EINVAL;
        }
        for (const char *c = path;;) {
                const char *end = strchrnul(c, '/');
                size_t n = (size_t) (end - c);
                char *component;
                int sub;

                if (n == 2 && c[0] == '.' && c[1] == '.') {
                        close(fd);
                        return -EINVAL;
                }
                if (n == 0 || (n == 1 && c[0] == '.')) {
                        if (!*end)
                                return fd; /* "a/" or "a/.": the folder itself */
                        c = end + 1;
                        continue;
                }
                component = xstrndup(c, n);
                sub = openat(fd, component, (*end ? O_DIRECTORY : O_NONBLOCK) | O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                                    O_NOCTTY);
                if (sub < 0) {
                        struct stat st;
                        sub = -errno;
                        /* O_DIRECTORY on a link says ENOTDIR; say "a link" like the last component does. */
                        if (sub == -ENOTDIR && fstatat(fd, component, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode))
                                sub = -ELOOP;
                }
                free(component);
                close(fd);
                if (sub < 0 || !*end)
                        return sub;
                fd = sub;
                c = end + 1;
        }
}

int manifest_sha256_file(int dirfd, const char *path, unsigned char out[32]) {
        unsigned char buf[64 * 1024];
        struct sha256_ctx ctx;
        struct stat st;
        int fd, r = 0;

        fd = open_beneath(dirfd, path);
        if (fd < 0)
                return fd;
        r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
        if (r < 0) {
                close(fd);
                return r;
        }
        sha256_init(&ctx);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                sha256_update(&ctx, buf, (size_t) n);
        }
        close(fd);
        if (r == 0)
                sha256_final(&ctx, out);
        return r;
}

void manifest_sha256_hex(const unsigned char sha256[32], char out[65]) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < 32; i++) {
                out[2 * i] = digits[sha256[i] >> 4];
                out[2 * i + 1] = digits[sha256[i] & 15];
        }
        out[64] = 0;
}
