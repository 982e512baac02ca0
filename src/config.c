/* config.c: reads pdfspool.yaml (libyaml document API) into struct config.
 *
 * Everything is checked here, once, so the rest of the daemon can trust what
 * it gets: a wrong value is refused with FILE:LINE:COLUMN pointing at the
 * offending key or value and a sentence saying what was expected, because the
 * person reading it is an administrator with an editor open on that file. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "util.h"
#include "yamldoc.h"

/* A configuration file is a page of text; anything bigger is a mistake. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define QUEUE_NAME_MAX 64
#define WORKERS_MAX 1024
#define WORKER_MEMORY_MIN (128ULL * 1024 * 1024) /* the static mupdf alone maps ~53 MiB */
/* Timers add durations to the clock; a cap keeps that sum far from overflow. */
#define DURATION_MAX (365ULL * 24 * 3600 * USEC_PER_SEC)
#define DURATION_EXAMPLES "like 500ms, 2s, 5m, 1h, 1d or 1m30s (a bare number means seconds)"
#define SIZE_EXAMPLES "like 512M, 2G or 4GiB (a bare number means bytes; K, M, G, T are powers of 1024)"

static const char *const default_ignore[] = {
        "~$*", ".~lock.*#", "Thumbs.db", "desktop.ini", ".DS_Store", "._*", "@eaDir",
        ".stfolder", "*.tmp", "*.part", "*.crdownload", "*.partial", ".*",
};

/* ---- durations and sizes ---- */

/* A non-negative decimal number; fraction digits past the sixth are read but dropped. */
struct decimal {
        uint64_t whole;
        uint64_t fraction;
        uint64_t fraction_scale; /* 10^digits kept, 1 when there is no fraction */
};

static int read_decimal(const char **p, struct decimal *ret) {
        const char *s = *p;
        struct decimal d = { 0, 0, 1 };
        bool digits = false, overflow = false;

        for (; *s >= '0' && *s <= '9'; s++) {
                digits = true;
                if (__builtin_mul_overflow(d.whole, 10, &d.whole) ||
                    __builtin_add_overflow(d.whole, (uint64_t) (*s - '0'), &d.whole))
                        overflow = true;
        }
        if (*s == '.') {
                s++;
                if (!(*s >= '0' && *s <= '9'))
                        return -EINVAL;
                for (; *s >= '0' && *s <= '9'; s++) {
                        digits = true;
                        if (d.fraction_scale < 1000000) {
                                d.fraction = d.fraction * 10 + (uint64_t) (*s - '0');
                                d.fraction_scale *= 10;
                        }
                }
        }
        if (!digits)
                return -EINVAL;
        *p = s;
        *ret = d;
        return overflow ? -ERANGE : 0;
}

/* d * unit, where unit <= 2^40 keeps fraction * unit well inside 64 bits. */
static int scale_decimal(const struct decimal *d, uint64_t unit, uint64_t *ret) {
        uint64_t v;

        if (__builtin_mul_overflow(d->whole, unit, &v) ||
            __builtin_add_overflow(v, d->fraction * unit / d->fraction_scale, &v))
                return -ERANGE;
        *ret = v;
        return 0;
}

static size_t read_letters(const char *s) {
        size_t n = 0;

        while (isalpha((unsigned char) s[n]))
                n++;
        return n;
}

int config_parse_duration(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *name;
                uint64_t usec;
        } units[] = {
                { "ms", USEC_PER_MSEC },
                { "s", USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC },
                { "d", 86400 * USEC_PER_SEC },
        };
        uint64_t total = 0;
        unsigned parts = 0;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                struct decimal d;
                uint64_t unit = 0, v;
                size_t n;
                int r;

                r = read_decimal(&s, &d);
                if (r < 0)
                        return r;
                n = read_letters(s);
                if (n == 0) {
                        /* A bare number is seconds, but only on its own: "1m30" is a typo. */
                        if (parts > 0 || *s)
                                return -EINVAL;
                        unit = USEC_PER_SEC;
                } else {
                        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                                if (strlen(units[i].name) == n && strncmp(s, units[i].name, n) == 0)
                                        unit = units[i].usec;
                        if (unit == 0)
                                return -EINVAL;
                        s += n;
                }
                if (scale_decimal(&d, unit, &v) < 0 || __builtin_add_overflow(total, v, &total))
                        return -ERANGE;
                parts++;
                while (*s == ' ')
                        s++;
                if (!*s)
                        break;
        }
        *ret_usec = total;
        return 0;
}

int config_parse_size(const char *s, uint64_t *ret_bytes) {
        static const char *const prefixes = "KMGT";
        struct decimal d;
        uint64_t unit = 1;
        size_t n;
        int r;

        if (!s || !*s)
                return -EINVAL;
        r = read_decimal(&s, &d);
        if (r < 0)
                return r;
        n = read_letters(s);
        if (n > 0) {
                const char *p = strchr(prefixes, toupper((unsigned char) s[0]));

                if (n == 1 && toupper((unsigned char) s[0]) == 'B')
                        unit = 1;
                else if (p && *p && (n == 1 ||
                                     (n == 2 && toupper((unsigned char) s[1]) == 'B') ||
                                     (n == 3 && strncasecmp(s + 1, "iB", 2) == 0)))
                        unit = 1ULL << (10 * (p - prefixes + 1));
                else
                        return -EINVAL;
                s += n;
        }
        if (*s)
                return -EINVAL;
        if (unit == 1 && d.fraction_scale > 1)
                return -EINVAL; /* no fractions of a byte */
        return scale_decimal(&d, unit, ret_bytes);
}

/* ---- the loader: one YAML document, the first error wins ---- */

struct path_ref {
        const char *role;        /* "state_dir", "inbox", "outbox" */
        const char *queue;       /* NULL for state_dir */
        const char *path;        /* points into struct config */
        char *canonical;         /* symbolic links resolved as far as the path exists */
        yaml_mark_t mark;
        bool given;              /* false for the default state_dir */
};

/* A queue's "profile:", checked once every profile is read. */
struct profile_ref {
        const char *queue;
        const char *name;        /* points into struct config */
        yaml_mark_t mark;
};

struct loader {
        struct yamldoc doc;
        struct profile_ref *profile_refs;
        size_t n_profile_refs;
        struct path_ref *refs;
        size_t n_refs;
        yaml_mark_t state_dir_mark;
        bool state_dir_given;
};

/* The calls on the loader's document (yamldoc.h) most used here, kept short. */
#define fail_at(l, ...) yamldoc_fail_at(&(l)->doc, __VA_ARGS__)
#define got(l, node) yamldoc_got(&(l)->doc, node)
#define node_at(l, index) yamldoc_node_at(&(l)->doc, index)

/* How a key is named in messages: "settle" in queue "datasheets". */
static char *key_label(const char *key, const char *queue) {
        return queue ? xasprintf("\"%s\" in queue \"%s\"", key, queue) : xasprintf("\"%s\"", key);
}

enum key_kind {
        KIND_PATH, KIND_DURATION, KIND_SIZE, KIND_UINT, KIND_UINT64, KIND_LOG,
        KIND_WATCH, KIND_FILE_NAME, KIND_PATTERNS, KIND_GROUP, KIND_MODE, KIND_QUEUES, KIND_HOURS,
        KIND_BOOL, KIND_HOOKS, KIND_FILE_PATH, KIND_PROFILES, KIND_PROFILE_NAME, KIND_LIMITS,
        KIND_EXECUTOR, KIND_SLURM, KIND_WORD, KIND_WORDS,
};

struct key {
        const char *name;
        enum key_kind kind;
        size_t offset;            /* into struct config or struct queue_config */
        uint64_t min, max;        /* numbers, durations and sizes */
};

static const struct key top_keys[] = {
        { "state_dir", KIND_PATH, offsetof(struct config, state_dir), 0, 0 },
        { "workers", KIND_UINT, offsetof(struct config, workers), 1, WORKERS_MAX },
        { "job_timeout", KIND_DURATION, offsetof(struct config, job_timeout_usec), 1, DURATION_MAX },
        { "worker_memory", KIND_SIZE, offsetof(struct config, worker_memory), WORKER_MEMORY_MIN, UINT64_MAX },
        { "worker_max_jobs", KIND_UINT, offsetof(struct config, worker_max_jobs), 1, UINT_MAX },
        { "thumbnail_size", KIND_UINT, offsetof(struct config, thumbnail_size), 16, 4096 },
        { "stop_grace", KIND_DURATION, offsetof(struct config, stop_grace_usec), 0, DURATION_MAX },
        { "rescan_interval", KIND_DURATION, offsetof(struct config, rescan_interval_usec), 1, DURATION_MAX },
        { "min_free", KIND_SIZE, offsetof(struct config, min_free), 0, UINT64_MAX },
        { "log", KIND_LOG, offsetof(struct config, log), 0, 0 },
        { "archive_max_entries", KIND_UINT64, offsetof(struct config, archive_max_entries), 1, UINT64_MAX },
        { "archive_max_bytes", KIND_SIZE, offsetof(struct config, archive_max_bytes), 1, UINT64_MAX },
        { "archive_max_ratio", KIND_UINT, offsetof(struct config, archive_max_ratio), 1, UINT_MAX },
        { "metrics_file", KIND_FILE_PATH, offsetof(struct config, metrics_file), 0, 0 },
        { "executor", KIND_EXECUTOR, offsetof(struct config, executor), 0, 0 },
        { "slurm", KIND_SLURM, offsetof(struct config, slurm), 0, 0 },
        { "queues", KIND_QUEUES, offsetof(struct config, queues), 0, 0 },
        { "profiles", KIND_PROFILES, 0, 0, 0 },
};

static const struct key slurm_keys[] = {
        { "partition", KIND_WORD, offsetof(struct slurm_config, partition), 0, 0 },
        { "account", KIND_WORD, offsetof(struct slurm_config, account), 0, 0 },
        { "qos", KIND_WORD, offsetof(struct slurm_config, qos), 0, 0 },
        { "time_limit", KIND_DURATION, offsetof(struct slurm_config, time_limit_usec), 60 * USEC_PER_SEC,
          DURATION_MAX },
        { "mem_per_cpu", KIND_SIZE, offsetof(struct slurm_config, mem_per_cpu), 1 << 20, UINT64_MAX },
        { "mem", KIND_SIZE, offsetof(struct slurm_config, mem), 1 << 20, UINT64_MAX },
        { "cpus_per_task", KIND_UINT, offsetof(struct slurm_config, cpus_per_task), 1, 1024 },
        { "sbatch_options", KIND_WORDS, offsetof(struct slurm_config, sbatch_options), 0, 0 },
        { "max_jobs", KIND_UINT, offsetof(struct slurm_config, max_jobs), 1, 100000 },
        { "pdfs_per_task", KIND_UINT, offsetof(struct slurm_config, pdfs_per_task), 1, 10000 },
        { "poll_interval", KIND_DURATION, offsetof(struct slurm_config, poll_interval_usec), USEC_PER_SEC / 10,
          DURATION_MAX },
};

static const struct key queue_keys[] = {
        { "inbox", KIND_PATH, offsetof(struct queue_config, inbox), 0, 0 },
        { "outbox", KIND_PATH, offsetof(struct queue_config, outbox), 0, 0 },
        { "settle", KIND_DURATION, offsetof(struct queue_config, settle_usec), 0, DURATION_MAX },
        { "watch", KIND_WATCH, offsetof(struct queue_config, watch), 0, 0 },
        { "poll_interval", KIND_DURATION, offsetof(struct queue_config, poll_interval_usec), 1, DURATION_MAX },
        { "ready_marker", KIND_FILE_NAME, offsetof(struct queue_config, ready_marker), 0, 0 },
        { "ignore", KIND_PATTERNS, offsetof(struct queue_config, ignore), 0, 0 },
        { "manifest_timeout", KIND_DURATION, offsetof(struct queue_config, manifest_timeout_usec), 1, DURATION_MAX },
        { "incomplete_wait", KIND_DURATION, offsetof(struct queue_config, incomplete_wait_usec), 0, DURATION_MAX },
        { "group", KIND_GROUP, offsetof(struct queue_config, group), 0, 0 },
        { "file_mode", KIND_MODE, offsetof(struct queue_config, file_mode), 0, 0 },
        { "dir_mode", KIND_MODE, offsetof(struct queue_config, dir_mode), 0, 0 },
        { "hours", KIND_HOURS, offsetof(struct queue_config, hours), 0, 0 },
        { "max_files", KIND_UINT64, offsetof(struct queue_config, max_files), 0, UINT64_MAX },
        { "max_pages", KIND_UINT64, offsetof(struct queue_config, max_pages), 0, UINT64_MAX },
        { "max_bytes", KIND_SIZE, offsetof(struct queue_config, max_bytes), 0, UINT64_MAX },
        { "max_batches", KIND_UINT, offsetof(struct queue_config, max_batches), 0, UINT_MAX },
        { "keep_finished", KIND_DURATION, offsetof(struct queue_config, keep_finished_usec), 0, DURATION_MAX },
        { "zip", KIND_BOOL, offsetof(struct queue_config, zip), 0, 0 },
        { "hooks", KIND_HOOKS, 0, 0, 0 },
        { "hook_timeout", KIND_DURATION, offsetof(struct queue_config, hook_timeout_usec), 1, DURATION_MAX },
        { "profile", KIND_PROFILE_NAME, offsetof(struct queue_config, profile), 0, 0 },
        { "limits", KIND_LIMITS, offsetof(struct queue_config, limits), 0, 0 },
        { "executor", KIND_EXECUTOR, offsetof(struct queue_config, executor), 0, 0 },
};

/* A queue's "limits" block: what one job may use in its worker (worker.c sets them). */
static const struct key limit_keys[] = {
        { "cpu_time", KIND_DURATION, offsetof(struct job_limits, cpu_usec), 0, DURATION_MAX },
        { "file_size", KIND_SIZE, offsetof(struct job_limits, file_size), 0, UINT64_MAX },
        { "open_files", KIND_UINT, offsetof(struct job_limits, open_files), CONFIG_OPEN_FILES_MIN, 1 << 20 },
};

static const char *const log_names[] = {
        [LOG_TARGET_AUTO] = "auto", [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_SYSLOG] = "syslog", [LOG_TARGET_STDERR] = "stderr",
};
static const char *const executor_names[] = { [EXECUTOR_LOCAL - 1] = "local", [EXECUTOR_SLURM - 1] = "slurm" };
static const char *const watch_names[] = {
        [WATCH_AUTO] = "auto", [WATCH_INOTIFY] = "inotify", [WATCH_POLL] = "poll",
};

static char *key_list(const struct key *keys, size_t n) {
        return yamldoc_key_list(&(const struct yamldoc_keys) { &keys[0].name, n, sizeof(*keys), false });
}

/* Keys must be scalars and appear once; checked before any value is looked at,
 * so "duplicate" is reported even when the first copy was also wrong. */
static int check_keys(struct loader *l, const yaml_node_t *map, const char *queue, bool queue_names) {
        const struct yamldoc_keys any = { NULL, 0, 0, false };
        const yaml_node_t *k = NULL, *prev = NULL;

        switch (yamldoc_check_keys(&l->doc, map, &any, &k, &prev)) {
        case YAMLDOC_KEY_NOT_TEXT:
                return fail_at(l, &k->start_mark, "%s must be plain names, got %s",
                               queue_names ? "queue names" : "keys", got(l, k));
        case YAMLDOC_KEY_DUPLICATE:
                if (queue_names)
                        return fail_at(l, &k->start_mark, "duplicate queue \"%s\" (already defined at line %zu)",
                                       yamldoc_scalar(k), prev->start_mark.line + 1);
                return fail_at(l, &k->start_mark, "duplicate key \"%s\"%s%s%s (already given at line %zu)",
                               yamldoc_scalar(k), queue ? " in queue \"" : "", queue ? queue : "", queue ? "\"" : "",
                               prev->start_mark.line + 1);
        case YAMLDOC_KEY_UNKNOWN: /* not asked for: unknown keys are found with their values */
        case YAMLDOC_KEYS_OK:
                break;
        }
        return 0;
}

static const struct key *find_key(const struct key *keys, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(keys[i].name, name) == 0)
                        return &keys[i];
        return NULL;
}

static bool has_control_chars(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < ' ' || *s == 0x7f)
                        return true;
        return false;
}

/* Absolute and normalised; one trailing slash is dropped. Returns NULL and
 * sets *why when the path is refused. */
static char *path_normalize(const char *in, const char **why) {
        size_t len = strlen(in);
        char *p;

        if (in[0] != '/') {
                *why = "must be an absolute path (starting with /)";
                return NULL;
        }
        if (has_control_chars(in)) {
                *why = "must not contain control characters";
                return NULL;
        }
        if (len >= PATH_MAX) {
                *why = "is longer than PATH_MAX";
                return NULL;
        }
        p = xstrdup(in);
        if (len > 1 && p[len - 1] == '/')
                p[--len] = 0;
        if (strcmp(p, "/") == 0) {
                *why = "must not be the root directory";
                goto refuse;
        }
        for (const char *c = p + 1;;) {
                const char *end = strchrnul(c, '/');
                size_t n = (size_t) (end - c);

                if (n == 0) {
                        *why = "must be a normalised path without empty components (\"//\")";
                        goto refuse;
                }
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
                        *why = "must be a normalised path without \".\" or \"..\" components";
                        goto refuse;
                }
                if (!*end)
                        break;
                c = end + 1;
        }
        return p;
refuse:
        free(p);
        return NULL;
}

/* The path with symbolic links resolved as far as it exists, so that two
 * spellings of one folder are recognised as the same folder. */
static char *path_canonical(const char *path) {
        char *prefix = xstrdup(path);

        for (;;) {
                char *real = realpath(prefix, NULL), *slash, *result;
                const char *rest = path + strlen(prefix);

                if (real) {
                        result = strcmp(real, "/") == 0 && *rest ? xstrdup(rest) : xasprintf("%s%s", real, rest);
                        free(real);
                        free(prefix);
                        return result;
                }
                slash = strrchr(prefix, '/');
                if (!slash || slash == prefix) {
                        /* Even "/" cannot be resolved: compare as written. */
                        free(prefix);
                        return xstrdup(path);
                }
                *slash = 0;
        }
}

static int parse_path(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      char **target) {
        const char *why = NULL;
        struct stat st;
        char *p;

        if (!yamldoc_scalar(v) || yamldoc_is_null(v))
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be an absolute path (starting with /), got %s",
                               label, got(l, v));
        p = path_normalize(yamldoc_scalar(v), &why);
        if (!p)
                return fail_at(l, &v->start_mark, "%s %s, got %s", label, why, got(l, v));
        if (stat(p, &st) == 0) {
                if (!S_ISDIR(st.st_mode)) {
                        free(p);
                        return fail_at(l, &v->start_mark, "%s exists but is not a directory, got %s",
                                       label, got(l, v));
                }
        } else if (errno == ENOTDIR) {
                free(p);
                return fail_at(l, &v->start_mark,
                               "%s can never be a directory: part of it is a file, got %s", label, got(l, v));
        }
        /* Missing is fine: an inbox may appear later, outbox and state_dir are created. */
        free(*target);
        *target = p;
        return 0;
}

static int parse_uint(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      const struct key *key, uint64_t *ret) {
        const char *s = yamldoc_scalar(v);
        uint64_t n = 0;
        bool overflow = false;

        if (!s || !*s || yamldoc_is_null(v) || strspn(s, "0123456789") != strlen(s))
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be a positive integer, got %s", label, got(l, v));
        for (; *s; s++)
                if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, (uint64_t) (*s - '0'), &n))
                        overflow = true;
        if (n < key->min && key->min == 1)
                return fail_at(l, &v->start_mark, "%s must be a positive integer, got %s", label, got(l, v));
        if (n < key->min)
                return fail_at(l, &v->start_mark, "%s must be at least %" PRIu64 ", got %s",
                               label, key->min, got(l, v));
        if (overflow)
                return fail_at(l, &v->start_mark, "%s is too large, got %s", label, got(l, v));
        if (n > key->max)
                return fail_at(l, &v->start_mark, "%s must be at most %" PRIu64 ", got %s",
                               label, key->max, got(l, v));
        *ret = n;
        return 0;
}

static int parse_duration_value(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                                const struct key *key, uint64_t *ret) {
        uint64_t usec;
        int r;

        if (!yamldoc_scalar(v) || yamldoc_is_null(v))
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be a duration " DURATION_EXAMPLES ", got %s",
                               label, got(l, v));
        r = config_parse_duration(yamldoc_scalar(v), &usec);
        if (r == -ERANGE || (r == 0 && usec > key->max))
                return fail_at(l, &v->start_mark, "%s must be at most 365d, got %s", label, got(l, v));
        if (r < 0)
                return fail_at(l, &v->start_mark, "%s must be a duration " DURATION_EXAMPLES ", got %s",
                               label, got(l, v));
        if (usec < key->min)
                return fail_at(l, &v->start_mark, "%s must be longer than zero, got %s", label, got(l, v));
        *ret = usec;
        return 0;
}

static int parse_size_value(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                            const struct key *key, uint64_t *ret) {
        uint64_t bytes;
        int r;

        if (!yamldoc_scalar(v) || yamldoc_is_null(v))
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be a size " SIZE_EXAMPLES ", got %s",
                               label, got(l, v));
        r = config_parse_size(yamldoc_scalar(v), &bytes);
        if (r == -ERANGE)
                return fail_at(l, &v->start_mark, "%s is too large, got %s", label, got(l, v));
        if (r < 0)
                return fail_at(l, &v->start_mark, "%s must be a size " SIZE_EXAMPLES ", got %s",
                               label, got(l, v));
        if (bytes < key->min && key->min == 1)
                return fail_at(l, &v->start_mark, "%s must be larger than zero, got %s", label, got(l, v));
        if (bytes < key->min)
                return fail_at(l, &v->start_mark, "%s must be at least %" PRIu64 "M, got %s",
                               label, key->min >> 20, got(l, v));
        *ret = bytes;
        return 0;
}

static int parse_choice(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                        const char *const *names, size_t n, int *ret) {
        const char *s = yamldoc_scalar(v);
        char *list;
        int r;

        for (size_t i = 0; s && i < n; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (int) i;
                        return 0;
                }
        list = xstrdup("");
        for (size_t i = 0; i < n; i++) {
                char *t = xasprintf("%s%s%s", list, i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
                free(list);
                list = t;
        }
        r = fail_at(l, yamldoc_value_mark(k, v), "%s must be %s, got %s", label, list, got(l, v));
        free(list);
        return r;
}

static int parse_file_name(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                           char **target) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || !*s || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
            strlen(s) > NAME_MAX || has_control_chars(s))
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be a plain file name without '/', like .ready, got %s", label, got(l, v));
        free(*target);
        *target = xstrdup(s);
        return 0;
}

/* One word for a command line (a Slurm partition, account, QOS): no spaces,
 * no control characters, not starting with '-' (it would read as an option). */
static bool word_valid(const char *s) {
        return s && *s && *s != '-' && strlen(s) <= 256 && !has_control_chars(s) && !strchr(s, ' ');
}

static int parse_word(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      char **target) {
        const char *s = yamldoc_scalar(v);

        if (yamldoc_is_null(v) || !word_valid(s))
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be one word (no spaces, not starting with '-'), got %s", label, got(l, v));
        free(*target);
        *target = xstrdup(s);
        return 0;
}

/* A list of command-line arguments, each passed as it is (no shell). */
static int parse_words(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                       char ***target) {
        if (v->type != YAML_SEQUENCE_NODE)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be a list of arguments like [\"--constraint=ssd\"], got %s", label, got(l, v));
        yaml_node_item_t *items = v->data.sequence.items.start;
        size_t n = (size_t) (v->data.sequence.items.top - items);
        char **list = xcalloc(n + 1, sizeof(char *));

        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *item = node_at(l, items[i]);
                const char *s = yamldoc_scalar(item);

                if (!s || yamldoc_is_null(item) || !*s || has_control_chars(s)) {
                        strv_free(list);
                        return fail_at(l, &item->start_mark, "%s: each argument must be a non-empty string, got %s",
                                       label, got(l, item));
                }
                list[i] = xstrdup(s);
        }
        strv_free(*target);
        *target = list;
        return 0;
}

static int parse_patterns(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                          struct queue_config *q) {
        yaml_node_item_t *items;
        size_t n;

        if (v->type != YAML_SEQUENCE_NODE)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be a list of file name patterns like [\"*.tmp\", \".*\"], got %s",
                               label, got(l, v));
        items = v->data.sequence.items.start;
        n = (size_t) (v->data.sequence.items.top - items);
        q->ignore = xcalloc(n + 1, sizeof(char *));
        q->n_ignore = 0;
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *item = node_at(l, items[i]);
                const char *s = yamldoc_scalar(item);

                if (!s || yamldoc_is_null(item) || !*s)
                        return fail_at(l, &item->start_mark,
                                       "%s must list file name patterns (strings like \"*.tmp\"), got %s",
                                       label, got(l, item));
                q->ignore[q->n_ignore++] = xstrdup(s);
        }
        return 0;
}

static int parse_group(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                       char **target) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || !*s)
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be the name of an existing group, got %s",
                               label, got(l, v));
        if (!getgrnam(s))
                return fail_at(l, &v->start_mark,
                               "%s must be the name of an existing group (see getent group), got %s",
                               label, got(l, v));
        free(*target);
        *target = xstrdup(s);
        return 0;
}

/* Octal with a leading 0 (0640) or 0o (0o640): "640" would be ambiguous
 * between chmod's octal and YAML 1.2's decimal, so it is refused. */
static int parse_mode(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      unsigned *ret) {
        const char *s = yamldoc_scalar(v), *digits;
        unsigned mode = 0;

        if (!s || yamldoc_is_null(v) || s[0] != '0')
                goto bad;
        digits = (s[1] == 'o' || s[1] == 'O') ? s + 2 : s + 1;
        if (!*digits && digits != s + 1)
                goto bad;
        for (const char *c = digits; *c; c++) {
                if (*c < '0' || *c > '7')
                        goto bad;
                mode = mode * 8 + (unsigned) (*c - '0');
                if (mode > 0777)
                        goto bad;
        }
        *ret = mode;
        return 0;
bad:
        return fail_at(l, yamldoc_value_mark(k, v),
                       "%s must be an octal permission mode from 0000 to 0777 with a leading 0, like 0640, got %s",
                       label, got(l, v));
}

/* "HH:MM-HH:MM", local time; the end may be before the start (over midnight). */
static int parse_hours(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                       struct hours *ret) {
        const char *s = yamldoc_scalar(v);
        unsigned h1, m1, h2, m2;
        int n = 0;

        if (!s || yamldoc_is_null(v) || sscanf(s, "%2u:%2u-%2u:%2u%n", &h1, &m1, &h2, &m2, &n) != 4 ||
            (size_t) n != strlen(s) || h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 || (h1 == 24 && m1) ||
            (h2 == 24 && m2) || h1 * 60 + m1 == h2 * 60 + m2)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be a daily window of local time like 22:00-06:00 (start-end, HH:MM), "
                               "got %s", label, got(l, v));
        *ret = (struct hours) { .set = true, .start = h1 * 60 + m1, .end = h2 * 60 + m2 };
        return 0;
}

static int parse_bool(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      bool *ret) {
        static const char *const names[] = { "off", "on", "false", "true", "no", "yes" };
        int choice;
        int r = parse_choice(l, k, v, label, names, ELEMENTSOF(names), &choice);

        if (r == 0)
                *ret = choice % 2 == 1;
        return r;
}

/* A file's absolute path (its folder need not exist yet). */
static int parse_file_path(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                           char **target) {
        const char *why = NULL;
        char *p;

        if (!yamldoc_scalar(v) || yamldoc_is_null(v))
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be an absolute file path, got %s", label,
                               got(l, v));
        p = path_normalize(yamldoc_scalar(v), &why);
        if (!p)
                return fail_at(l, &v->start_mark, "%s %s, got %s", label, why, got(l, v));
        free(*target);
        *target = p;
        return 0;
}

/* One hook: a list of strings, the program first (argv-style, no shell). */
static int parse_argv(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                      char ***target) {
        yaml_node_item_t *items;
        size_t n;

        if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be a command as a list, program first, like [\"/usr/bin/logger\", \"done\"], got %s",
                               label, got(l, v));
        items = v->data.sequence.items.start;
        n = (size_t) (v->data.sequence.items.top - items);
        char **argv = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *item = node_at(l, items[i]);
                const char *s = yamldoc_scalar(item);
                if (!s || yamldoc_is_null(item) || (i == 0 && s[0] != '/')) {
                        for (size_t j = 0; j < i; j++)
                                free(argv[j]);
                        free(argv);
                        return fail_at(l, &item->start_mark, i == 0 ? "%s must start with the program's absolute path, got %s"
                                                                   : "%s must list strings, got %s",
                                       label, got(l, item));
                }
                argv[i] = xstrdup(s);
        }
        strv_free(*target);
        *target = argv;
        return 0;
}

static int parse_hooks(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                       struct queue_config *q) {
        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must map batch_finished and/or job_failed to a command, got %s", label, got(l, v));
        int r = check_keys(l, v, q->name, false);
        if (r < 0)
                return r;
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
                const yaml_node_t *hk = node_at(l, p->key), *hv = node_at(l, p->value);
                const char *name = yamldoc_scalar(hk);
                char *sub = xasprintf("hook \"%s\" in queue \"%s\"", name, q->name);
                if (strcmp(name, "batch_finished") == 0)
                        r = parse_argv(l, hk, hv, sub, &q->hook_batch_finished);
                else if (strcmp(name, "job_failed") == 0)
                        r = parse_argv(l, hk, hv, sub, &q->hook_job_failed);
                else
                        r = fail_at(l, &hk->start_mark, "unknown hook \"%s\" in queue \"%s\" (expected one of: "
                                                        "batch_finished, job_failed)", name, q->name);
                free(sub);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void add_path_ref(struct loader *l, const char *role, const char *queue, const char *path,
                         const yaml_mark_t *mark, bool given) {
        struct path_ref *ref;

        l->refs = xrealloc(l->refs, (l->n_refs + 1) * sizeof(*l->refs));
        ref = &l->refs[l->n_refs++];
        *ref = (struct path_ref) {
                .role = role, .queue = queue, .path = path,
                .canonical = path_canonical(path), .given = given,
        };
        if (mark)
                ref->mark = *mark;
}

/* ---- processing profiles (profile.h) ---- */

static bool profile_name_valid(const char *name) {
        size_t n = strlen(name);

        return n > 0 && n <= PROFILE_NAME_MAX &&
               strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int parse_profile_name(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                              char **target) {
        const char *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || !profile_name_valid(s))
                return fail_at(l, yamldoc_value_mark(k, v),
                               "%s must be the name of a profile (1 to %d characters from A-Z a-z 0-9 _ . -), got %s",
                               label, PROFILE_NAME_MAX, got(l, v));
        free(*target);
        *target = xstrdup(s);
        return 0;
}

/* One option through profile_set, with the profile's words around its reason. */
static int set_profile_option(struct loader *l, struct profile *p, const char *key, const yaml_node_t *k,
                              const yaml_node_t *v) {
        const char *why = NULL, *s = yamldoc_scalar(v);

        if (!s || yamldoc_is_null(v) || profile_set(p, key, s, &why) < 0)
                return fail_at(l, yamldoc_value_mark(k, v), "\"%s\" in profile \"%s\" %s, got %s", key, p->name,
                               why ? why : "must be a plain value", got(l, v));
        return 0;
}

/* thumbs: {pages, size, format} or pages: {pages, dpi, format} */
static int parse_render(struct loader *l, struct profile *p, const char *what, const yaml_node_t *k,
                        const yaml_node_t *v) {
        bool thumbs = strcmp(what, "thumbs") == 0;
        const char *const keys[] = { "pages", thumbs ? "size" : "dpi", "format" };
        const char *list = thumbs ? "pages, size, format" : "pages, dpi, format";

        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, yamldoc_value_mark(k, v), "\"%s\" in profile \"%s\" must be a mapping (%s), got %s",
                               what, p->name, list, got(l, v));
        int r = check_keys(l, v, NULL, false);
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; r == 0 && q < v->data.mapping.pairs.top; q++) {
                const yaml_node_t *sk = node_at(l, q->key), *sv = node_at(l, q->value);
                const char *sub = yamldoc_scalar(sk);
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        known = known || strcmp(sub, keys[i]) == 0;
                if (!known) {
                        r = fail_at(l, &sk->start_mark, "unknown key \"%s\" in \"%s\" of profile \"%s\" "
                                    "(expected one of: %s)", sub, what, p->name, list);
                        break;
                }
                char *key = xasprintf("%s.%s", what, sub);
                r = set_profile_option(l, p, key, sk, sv);
                free(key);
        }
        return r;
}

static int parse_outputs(struct loader *l, struct profile *p, const yaml_node_t *k, const yaml_node_t *v) {
        char *list = profile_option_list();
        int r = 0;

        if (v->type != YAML_SEQUENCE_NODE) {
                r = fail_at(l, yamldoc_value_mark(k, v),
                            "\"outputs\" in profile \"%s\" must be a list of outputs like [meta, text, thumbs], got %s",
                            p->name, got(l, v));
                goto finish;
        }
        for (size_t i = 0; i < _PROFILE_OUTPUT_MAX; i++)
                if (i != PROFILE_FILTERS)
                        p->on[i] = false;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                const yaml_node_t *item = node_at(l, *it);
                const char *s = yamldoc_scalar(item);
                size_t i = 0;
                while (s && i < _PROFILE_OUTPUT_MAX && (i == PROFILE_FILTERS || strcmp(s, profile_output_names[i]) != 0))
                        i++;
                if (!s || i == _PROFILE_OUTPUT_MAX) {
                        r = fail_at(l, &item->start_mark, "unknown output %s in profile \"%s\" (expected any of: "
                                    "meta, text, stext, outline, thumbs, pages, facts, tables)", got(l, item), p->name);
                        goto finish;
                }
                p->on[i] = true;
        }
        if (p->on[PROFILE_OUTLINE] && !p->on[PROFILE_META])
                r = fail_at(l, &v->start_mark, "output \"outline\" in profile \"%s\" is part of meta.json: "
                            "list \"meta\" too", p->name);
finish:
        free(list);
        return r;
}

static int parse_filter(struct loader *l, struct profile *p, const yaml_node_t *item) {
        struct profile_filter *f;
        bool have_command = false;
        int r;

        if (item->type != YAML_MAPPING_NODE)
                return fail_at(l, &item->start_mark, "a filter in profile \"%s\" must be a mapping (command, name, "
                               "timeout, when), got %s", p->name, got(l, item));
        if (p->n_filters >= PROFILE_MAX_FILTERS)
                return fail_at(l, &item->start_mark, "profile \"%s\" has more than %d filters", p->name,
                               PROFILE_MAX_FILTERS);
        r = check_keys(l, item, NULL, false);
        if (r < 0)
                return r;
        p->filters = xrealloc(p->filters, (p->n_filters + 1) * sizeof(*p->filters));
        f = &p->filters[p->n_filters++];
        *f = (struct profile_filter) {};
        for (yaml_node_pair_t *q = item->data.mapping.pairs.start; q < item->data.mapping.pairs.top; q++) {
                const yaml_node_t *fk = node_at(l, q->key), *fv = node_at(l, q->value);
                const char *name = yamldoc_scalar(fk);
                char *label = xasprintf("\"%s\" of a filter in profile \"%s\"", name, p->name);
                static const struct key timeout_key = { "timeout", KIND_DURATION, 0, 1, DURATION_MAX };
                if (strcmp(name, "command") == 0) {
                        r = parse_argv(l, fk, fv, label, &f->argv);
                        have_command = r == 0;
                } else if (strcmp(name, "name") == 0)
                        r = parse_profile_name(l, fk, fv, label, &f->name);
                else if (strcmp(name, "timeout") == 0)
                        r = parse_duration_value(l, fk, fv, label, &timeout_key, &f->timeout_usec);
                else if (strcmp(name, "when") == 0) {
                        const char *s = yamldoc_scalar(fv);
                        r = s && !yamldoc_is_null(fv) && profile_when_parse(s, &f->when) == 0 ? 0 :
                                fail_at(l, yamldoc_value_mark(fk, fv), "%s must be text_layer != full, "
                                        "text_layer == none, text_layer == full or always, got %s", label, got(l, fv));
                } else
                        r = fail_at(l, &fk->start_mark, "unknown key \"%s\" in a filter of profile \"%s\" "
                                    "(expected one of: command, name, timeout, when)", name, p->name);
                free(label);
                if (r < 0)
                        return r;
        }
        if (!have_command)
                return fail_at(l, &item->start_mark, "a filter in profile \"%s\" has no \"command\" (required: the "
                               "program's absolute path and its arguments, as a list)", p->name);
        if (!f->name) {
                const char *slash = strrchr(f->argv[0], '/');
                f->name = xstrdup(slash ? slash + 1 : f->argv[0]);
        }
        return 0;
}

static int parse_profile(struct loader *l, struct profile *p, const yaml_node_t *v) {
        int r = check_keys(l, v, NULL, false);

        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; r == 0 && q < v->data.mapping.pairs.top; q++) {
                const yaml_node_t *pk = node_at(l, q->key), *pv = node_at(l, q->value);
                const char *name = yamldoc_scalar(pk);
                if (strcmp(name, "outputs") == 0)
                        r = parse_outputs(l, p, pk, pv);
                else if (strcmp(name, "thumbs") == 0 || strcmp(name, "pages") == 0)
                        r = parse_render(l, p, name, pk, pv);
                else if (strcmp(name, "filters") == 0) {
                        if (pv->type != YAML_SEQUENCE_NODE)
                                r = fail_at(l, yamldoc_value_mark(pk, pv), "\"filters\" in profile \"%s\" must be a "
                                            "list of filters, got %s", p->name, got(l, pv));
                        for (yaml_node_item_t *it = pv->type == YAML_SEQUENCE_NODE ? pv->data.sequence.items.start : NULL;
                             r == 0 && it && it < pv->data.sequence.items.top; it++)
                                r = parse_filter(l, p, node_at(l, *it));
                } else
                        r = fail_at(l, &pk->start_mark, "unknown key \"%s\" in profile \"%s\" (expected one of: "
                                    "outputs, thumbs, pages, filters)", name, p->name);
        }
        return r;
}

static int parse_profiles(struct loader *l, struct config *c, const yaml_node_t *k, const yaml_node_t *v) {
        int r;

        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, yamldoc_value_mark(k, v), "\"profiles\" must map profile names to their settings "
                               "(outputs, thumbs, pages, filters), got %s", got(l, v));
        r = check_keys(l, v, NULL, false);
        if (r < 0)
                return r;
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                const yaml_node_t *pk = node_at(l, q->key), *pv = node_at(l, q->value);
                const char *name = yamldoc_scalar(pk);
                struct profile *p = NULL;

                if (!profile_name_valid(name))
                        return fail_at(l, &pk->start_mark, "profile name \"%s\" must be 1 to %d characters from "
                                       "A-Z a-z 0-9 _ . -", name, PROFILE_NAME_MAX);
                if (pv->type != YAML_MAPPING_NODE && !yamldoc_is_null(pv))
                        return fail_at(l, yamldoc_value_mark(pk, pv), "profile \"%s\" must be a mapping (outputs, "
                                       "thumbs, pages, filters), got %s", name, got(l, pv));
                for (size_t i = 0; i < c->n_profiles; i++)
                        if (strcmp(c->profiles[i].name, name) == 0)
                                p = &c->profiles[i]; /* "default" given in the file replaces the built-in one */
                if (!p) {
                        c->profiles = xrealloc(c->profiles, (c->n_profiles + 1) * sizeof(*c->profiles));
                        p = &c->profiles[c->n_profiles++];
                } else
                        profile_done(p);
                profile_init_default(p, name);
                p->n_filters = 0;
                if (pv->type == YAML_MAPPING_NODE) {
                        r = parse_profile(l, p, pv);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_value(struct loader *l, const struct key *key, void *base, const char *queue,
                       const yaml_node_t *k, const yaml_node_t *v);

static int parse_mapping(struct loader *l, const yaml_node_t *map, const struct key *keys, size_t n_keys,
                         void *base, const char *queue) {
        yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
        size_t n = (size_t) (map->data.mapping.pairs.top - pairs);
        int r;

        r = check_keys(l, map, queue, false);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *k = node_at(l, pairs[i].key), *v = node_at(l, pairs[i].value);
                const struct key *key = find_key(keys, n_keys, yamldoc_scalar(k));

                if (!key) {
                        char *list = key_list(keys, n_keys);

                        r = fail_at(l, &k->start_mark, "unknown key \"%s\"%s%s%s (expected one of: %s)",
                                    yamldoc_scalar(k), queue ? " in queue \"" : "", queue ? queue : "",
                                    queue ? "\"" : "", list);
                        free(list);
                        return r;
                }
                r = parse_value(l, key, base, queue, k, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool queue_name_valid(const char *name) {
        size_t n = strlen(name);

        return n > 0 && n <= QUEUE_NAME_MAX && name[0] != '.' &&
               strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

uint64_t config_queue_settle(const struct queue_config *qc, bool remote) {
        return remote && !qc->settle_set ? CONFIG_REMOTE_SETTLE_USEC : qc->settle_usec;
}

static void queue_set_defaults(struct queue_config *q, const char *name) {
        *q = (struct queue_config) {
                .name = xstrdup(name),
                .settle_usec = 2 * USEC_PER_SEC,
                .watch = WATCH_AUTO,
                .poll_interval_usec = 5 * USEC_PER_SEC,
                .ready_marker = xstrdup(".ready"),
                .manifest_timeout_usec = 3600 * USEC_PER_SEC,
                .incomplete_wait_usec = 300 * USEC_PER_SEC,
                .file_mode = 0644,
                .dir_mode = 0755,
                .hook_timeout_usec = 60 * USEC_PER_SEC,
                .limits = { .file_size = 1ULL << 30, .open_files = 64 },
        };
}

static int parse_queues(struct loader *l, struct config *c, const yaml_node_t *k, const yaml_node_t *v) {
        yaml_node_pair_t *pairs;
        size_t n;
        int r;

        if (v->type != YAML_MAPPING_NODE || v->data.mapping.pairs.top == v->data.mapping.pairs.start)
                return fail_at(l, yamldoc_value_mark(k, v),
                               "\"queues\" must map at least one queue name to its settings "
                               "(a mapping with inbox and outbox), got %s",
                               v->type == YAML_MAPPING_NODE ? "an empty mapping" : got(l, v));
        r = check_keys(l, v, NULL, true);
        if (r < 0)
                return r;
        pairs = v->data.mapping.pairs.start;
        n = (size_t) (v->data.mapping.pairs.top - pairs);
        c->queues = xcalloc(n, sizeof(struct queue_config));
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *qk = node_at(l, pairs[i].key), *qv = node_at(l, pairs[i].value);
                const char *name = yamldoc_scalar(qk);
                struct queue_config *q = &c->queues[c->n_queues];

                if (!queue_name_valid(name))
                        return fail_at(l, &qk->start_mark,
                                       "queue name \"%s\" must be 1 to %d characters from A-Z a-z 0-9 _ . - "
                                       "and must not start with '.'", name, QUEUE_NAME_MAX);
                if (qv->type != YAML_MAPPING_NODE)
                        return fail_at(l, yamldoc_value_mark(qk, qv),
                                       "queue \"%s\" must be a mapping of its settings (inbox, outbox, ...), got %s",
                                       name, got(l, qv));
                queue_set_defaults(q, name);
                c->n_queues++;
                r = parse_mapping(l, qv, queue_keys, ELEMENTSOF(queue_keys), q, q->name);
                if (r < 0)
                        return r;
                for (yaml_node_pair_t *qp = qv->data.mapping.pairs.start; qp < qv->data.mapping.pairs.top; qp++)
                        q->settle_set = q->settle_set ||
                                        strcmp(yamldoc_scalar(node_at(l, qp->key)) ?: "", "settle") == 0;
                if (!q->inbox)
                        return fail_at(l, &qk->start_mark,
                                       "queue \"%s\" has no \"inbox\" (required: the absolute path of the folder "
                                       "where PDF files are dropped)", name);
                if (!q->outbox)
                        return fail_at(l, &qk->start_mark,
                                       "queue \"%s\" has no \"outbox\" (required: the absolute path of the folder "
                                       "where results are written)", name);
                if (!q->ignore) {
                        q->ignore = xcalloc(ELEMENTSOF(default_ignore) + 1, sizeof(char *));
                        for (size_t j = 0; j < ELEMENTSOF(default_ignore); j++)
                                q->ignore[j] = xstrdup(default_ignore[j]);
                        q->n_ignore = ELEMENTSOF(default_ignore);
                }
        }
        return 0;
}

static int parse_limits(struct loader *l, const yaml_node_t *k, const yaml_node_t *v, const char *label,
                        const char *queue, struct job_limits *ret) {
        if (v->type != YAML_MAPPING_NODE)
                return fail_at(l, yamldoc_value_mark(k, v), "%s must be a mapping (cpu_time, file_size, open_files), got %s",
                               label, got(l, v));
        return parse_mapping(l, v, limit_keys, ELEMENTSOF(limit_keys), ret, queue);
}

static int parse_value(struct loader *l, const struct key *key, void *base, const char *queue,
                       const yaml_node_t *k, const yaml_node_t *v) {
        char *field = (char *) base + key->offset;
        char *label = key_label(key->name, queue);
        uint64_t u64 = 0;
        int choice = 0, r;

        switch (key->kind) {
        case KIND_PATH:
                r = parse_path(l, k, v, label, (char **) field);
                if (r == 0 && queue)
                        add_path_ref(l, key->name, queue, *(char **) field, &v->start_mark, true);
                else if (r == 0) {
                        l->state_dir_mark = v->start_mark;
                        l->state_dir_given = true;
                }
                break;
        case KIND_DURATION:
                r = parse_duration_value(l, k, v, label, key, &u64);
                if (r == 0)
                        *(uint64_t *) field = u64;
                break;
        case KIND_SIZE:
                r = parse_size_value(l, k, v, label, key, &u64);
                if (r == 0)
                        *(uint64_t *) field = u64;
                break;
        case KIND_UINT:
        case KIND_UINT64:
                r = parse_uint(l, k, v, label, key, &u64);
                if (r == 0 && key->kind == KIND_UINT)
                        *(unsigned *) field = (unsigned) u64;
                else if (r == 0)
                        *(uint64_t *) field = u64;
                break;
        case KIND_LOG:
                r = parse_choice(l, k, v, label, log_names, ELEMENTSOF(log_names), &choice);
                if (r == 0)
                        *(enum log_target *) field = (enum log_target) choice;
                break;
        case KIND_WATCH:
                r = parse_choice(l, k, v, label, watch_names, ELEMENTSOF(watch_names), &choice);
                if (r == 0)
                        *(enum watch_mode *) field = (enum watch_mode) choice;
                break;
        case KIND_FILE_NAME:
                r = parse_file_name(l, k, v, label, (char **) field);
                break;
        case KIND_PATTERNS:
                r = parse_patterns(l, k, v, label, base);
                break;
        case KIND_GROUP:
                r = parse_group(l, k, v, label, (char **) field);
                break;
        case KIND_MODE:
                r = parse_mode(l, k, v, label, (unsigned *) field);
                break;
        case KIND_QUEUES:
                r = parse_queues(l, base, k, v);
                break;
        case KIND_HOURS:
                r = parse_hours(l, k, v, label, (struct hours *) field);
                break;
        case KIND_BOOL:
                r = parse_bool(l, k, v, label, (bool *) field);
                break;
        case KIND_HOOKS:
                r = parse_hooks(l, k, v, label, base);
                break;
        case KIND_FILE_PATH:
                r = parse_file_path(l, k, v, label, (char **) field);
                break;
        case KIND_PROFILES:
                r = parse_profiles(l, base, k, v);
                break;
        case KIND_PROFILE_NAME:
                r = parse_profile_name(l, k, v, label, (char **) field);
                if (r == 0) {
                        l->profile_refs = xrealloc(l->profile_refs, (l->n_profile_refs + 1) * sizeof(*l->profile_refs));
                        l->profile_refs[l->n_profile_refs++] = (struct profile_ref) {
                                .queue = queue, .name = *(char **) field, .mark = v->start_mark };
                }
                break;
        case KIND_LIMITS:
                r = parse_limits(l, k, v, label, queue, (struct job_limits *) field);
                break;
        case KIND_EXECUTOR:
                r = parse_choice(l, k, v, label, executor_names, ELEMENTSOF(executor_names), &choice);
                if (r == 0)
                        *(enum executor *) field = (enum executor) (choice + 1);
                break;
        case KIND_SLURM:
                r = v->type == YAML_MAPPING_NODE
                            ? parse_mapping(l, v, slurm_keys, ELEMENTSOF(slurm_keys), field, NULL)
                            : fail_at(l, yamldoc_value_mark(k, v),
                                      "\"slurm\" must be a mapping (partition, time_limit, max_jobs, ...), got %s",
                                      got(l, v));
                break;
        case KIND_WORD:
                r = parse_word(l, k, v, label, (char **) field);
                break;
        case KIND_WORDS:
                r = parse_words(l, k, v, label, (char ***) field);
                break;
        default:
                r = -EINVAL;
        }
        free(label);
        return r;
}

/* ---- folders must not overlap ---- */

static bool path_contains(const char *outer, const char *inner) {
        size_t n = strlen(outer);

        return strncmp(outer, inner, n) == 0 && inner[n] == '/';
}

/* How folder A stands to folder B, as words for a message, or NULL if apart. */
static const char *path_relation(const char *a, const char *b) {
        if (strcmp(a, b) == 0)
                return "is the same folder as";
        if (path_contains(b, a))
                return "lies inside";
        if (path_contains(a, b))
                return "contains";
        return NULL;
}

static char *describe_ref(const struct path_ref *ref) {
        char *where = ref->given ? xasprintf("line %zu", ref->mark.line + 1) : xstrdup("the default");
        char *s = ref->queue
                ? xasprintf("%s \"%s\" of queue \"%s\" (%s)", ref->role, ref->path, ref->queue, where)
                : xasprintf("%s \"%s\" (%s)", ref->role, ref->path, where);

        free(where);
        return s;
}

static int check_overlap(struct loader *l, const struct path_ref *a, const struct path_ref *b) {
        const struct path_ref *here, *other;
        const char *relation;
        bool via_links = false;
        char *here_text, *other_text;
        int r;

        /* Report at whichever of the two was written later in the file. */
        if (!a->given || (b->given && (b->mark.line > a->mark.line ||
                                       (b->mark.line == a->mark.line && b->mark.column > a->mark.column))))
                here = b, other = a;
        else
                here = a, other = b;

        relation = path_relation(here->path, other->path);
        if (!relation) {
                relation = path_relation(here->canonical, other->canonical);
                via_links = true;
        }
        if (!relation)
                return 0;

        here_text = describe_ref(here);
        other_text = describe_ref(other);
        r = fail_at(l, &here->mark, "%s %s %s%s; every inbox, outbox and state_dir must be a separate folder, "
                    "none inside another", here_text, relation, other_text,
                    via_links ? " once symbolic links are resolved" : "");
        free(here_text);
        free(other_text);
        return r;
}

static int check_paths(struct loader *l, const struct config *c, const yaml_node_t *root) {
        struct path_ref state = {
                .role = "state_dir", .path = c->state_dir, .canonical = path_canonical(c->state_dir),
                .mark = l->state_dir_given ? l->state_dir_mark : root->start_mark, .given = l->state_dir_given,
        };
        int r = 0;

        for (size_t i = 0; r == 0 && i < l->n_refs; i++) {
                r = check_overlap(l, &state, &l->refs[i]);
                for (size_t j = 0; r == 0 && j < i; j++)
                        r = check_overlap(l, &l->refs[j], &l->refs[i]);
        }
        free(state.canonical);
        return r;
}

/* ---- entry points ---- */

static void config_set_defaults(struct config *c, const char *path) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        *c = (struct config) {
                .path = xstrdup(path),
                .state_dir = xstrdup("/var/lib/pdfspool"),
                .workers = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : (unsigned) cpus,
                .job_timeout_usec = 300 * USEC_PER_SEC,
                .worker_memory = 2ULL << 30,
                .worker_max_jobs = 500,
                .thumbnail_size = 256,
                .stop_grace_usec = 10 * USEC_PER_SEC,
                .rescan_interval_usec = 5 * 60 * USEC_PER_SEC,
                .min_free = 32ULL << 20,
                .log = LOG_TARGET_AUTO,
                .archive_max_entries = 100000,
                .archive_max_bytes = 4ULL << 30,
                .archive_max_ratio = 200,
                .executor = EXECUTOR_LOCAL,
                .slurm = { .cpus_per_task = 1, .max_jobs = 16, .pdfs_per_task = 8,
                           .poll_interval_usec = 2 * USEC_PER_SEC },
        };
        c->profiles = xcalloc(1, sizeof(*c->profiles));
        c->n_profiles = 1;
        profile_init_default(&c->profiles[0], PROFILE_DEFAULT);
}

static char *config_too_large(const char *path) {
        return xasprintf("%s: larger than %d bytes; expected a configuration file", path, CONFIG_MAX_BYTES);
}

static const struct yamldoc_source config_source = {
        .max_bytes = CONFIG_MAX_BYTES, .too_large = config_too_large, .required_key = "queues",
};

int config_load(const char *path, struct config **ret, char **ret_error) {
        struct loader l = { .refs = NULL };
        struct config *c = NULL;
        yaml_node_t *root;
        int r;

        r = yamldoc_load(&l.doc, path, &config_source);
        if (r < 0)
                goto finish;
        root = l.doc.root;

        c = xmalloc(sizeof(*c));
        config_set_defaults(c, path);
        if (root->type != YAML_MAPPING_NODE) {
                char *list = key_list(top_keys, ELEMENTSOF(top_keys));

                r = fail_at(&l, &root->start_mark, "the top level must be a mapping of keys (%s), got %s",
                            list, got(&l, root));
                free(list);
                goto finish;
        }
        r = parse_mapping(&l, root, top_keys, ELEMENTSOF(top_keys), c, NULL);
        if (r == 0 && c->n_queues == 0)
                r = fail_at(&l, &root->start_mark,
                            "no \"queues\" key; expected at least one queue with an inbox and an outbox");
        if (r == 0)
                r = check_paths(&l, c, root);
        for (size_t i = 0; r == 0 && i < l.n_profile_refs; i++)
                if (!config_find_profile(c, l.profile_refs[i].name))
                        r = fail_at(&l, &l.profile_refs[i].mark, "\"profile\" in queue \"%s\" names no profile: "
                                    "\"%s\" is not under \"profiles\"", l.profile_refs[i].queue,
                                    l.profile_refs[i].name);
        for (size_t i = 0; r == 0 && i < c->n_queues; i++)
                if (c->queues[i].executor == EXECUTOR_INHERIT)
                        c->queues[i].executor = c->executor;

finish:
        for (size_t i = 0; i < l.n_refs; i++)
                free(l.refs[i].canonical);
        free(l.refs);
        free(l.profile_refs);
        r = yamldoc_finish(&l.doc, r, ret_error);
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void config_free(struct config *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_queues; i++) {
                struct queue_config *q = &c->queues[i];

                free(q->name);
                free(q->inbox);
                free(q->outbox);
                free(q->ready_marker);
                for (size_t j = 0; q->ignore && q->ignore[j]; j++)
                        free(q->ignore[j]);
                free(q->ignore);
                free(q->group);
                strv_free(q->hook_batch_finished);
                strv_free(q->hook_job_failed);
                free(q->profile);
        }
        free(c->queues);
        for (size_t i = 0; i < c->n_profiles; i++)
                profile_done(&c->profiles[i]);
        free(c->profiles);
        free(c->slurm.partition);
        free(c->slurm.account);
        free(c->slurm.qos);
        strv_free(c->slurm.sbatch_options);
        free(c->metrics_file);
        free(c->path);
        free(c->state_dir);
        free(c);
}

const struct queue_config *config_find_queue(const struct config *c, const char *name) {
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_queues; i++)
                if (strcmp(c->queues[i].name, name) == 0)
                        return &c->queues[i];
        return NULL;
}

const struct profile *config_find_profile(const struct config *c, const char *name) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_profiles; i++)
                if (strcmp(c->profiles[i].name, name ? name : PROFILE_DEFAULT) == 0)
                        return &c->profiles[i];
        return NULL;
}

bool config_hours_open(const struct hours *h, uint64_t realtime_usec, uint64_t *ret_next) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;

        if (!h->set) {
                *ret_next = 0;
                return true;
        }
        localtime_r(&t, &tm);
        unsigned now = (unsigned) (tm.tm_hour * 60 + tm.tm_min);
        bool open = h->start < h->end ? now >= h->start && now < h->end : now >= h->start || now < h->end;
        /* The next change (open -> closed or closed -> open), at a minute boundary. */
        unsigned at = open ? h->end : h->start;
        unsigned minutes = (at + 24 * 60 - now) % (24 * 60);
        if (minutes == 0)
                minutes = 24 * 60;
        *ret_next = realtime_usec - (uint64_t) tm.tm_sec * USEC_PER_SEC - realtime_usec % USEC_PER_SEC +
                    (uint64_t) minutes * 60 * USEC_PER_SEC;
        return open;
}
