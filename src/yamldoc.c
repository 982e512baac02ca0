/* yamldoc.c: reads one YAML document from a file (libyaml document API) and
 * words its errors with FILE:LINE:COLUMN, for config.c and manifest.c. */
#include "yamldoc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file ---- */

static int read_file(const char *path, const struct yamldoc_source *source, char **ret, size_t *ret_len,
                     char **ret_error) {
        size_t len = 0;
        char *buf;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (source->regular_only ? O_NOFOLLOW | O_NONBLOCK : 0));
        if (fd < 0) {
                r = -errno;
                *ret_error = r == -ELOOP && source->regular_only
                        ? xasprintf("%s: is a symbolic link; not followed", path)
                        : xasprintf("%s: cannot open: %s", path, strerror(-r));
                return r;
        }
        if (source->regular_only) {
                struct stat st;

                r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
                if (r < 0) {
                        *ret_error = r == -EINVAL ? xasprintf("%s: not a regular file", path)
                                                  : xasprintf("%s: cannot read: %s", path, strerror(-r));
                        (void) close(fd);
                        return r;
                }
        }
        buf = xmalloc(source->max_bytes + 1);
        for (;;) {
                ssize_t n = read(fd, buf + len, source->max_bytes + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        *ret_error = xasprintf("%s: cannot read: %s", path, strerror(-r));
                        goto fail;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > source->max_bytes) {
                        r = -EFBIG;
                        *ret_error = source->too_large(path);
                        goto fail;
                }
        }
        (void) close(fd);
        buf[len] = 0;
        *ret = buf;
        *ret_len = len;
        return 0;
fail:
        (void) close(fd);
        free(buf);
        return r;
}

/* ---- the document ---- */

static char *yaml_error_message(const char *file, const yaml_parser_t *p, const char *text) {
        size_t line = p->problem_mark.line + 1, column = p->problem_mark.column + 1;
        const char *problem = p->problem ? p->problem : "unknown error";

        if (p->error == YAML_MEMORY_ERROR)
                return xasprintf("%s: out of memory while reading YAML", file);
        if (p->error == YAML_READER_ERROR) {
                /* Reader errors carry a byte offset, not a mark. */
                line = 1, column = 1;
                for (size_t i = 0; i < p->problem_offset && text[i]; i++) {
                        if (text[i] == '\n')
                                line++, column = 1;
                        else if (((unsigned char) text[i] & 0xc0) != 0x80)
                                column++;
                }
                return xasprintf("%s:%zu:%zu: invalid YAML: %s (byte value %d); expected UTF-8 text",
                                 file, line, column, problem, p->problem_value);
        }
        if (p->context)
                return xasprintf("%s:%zu:%zu: invalid YAML: %s (%s at line %zu, column %zu)", file, line, column,
                                 problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        return xasprintf("%s:%zu:%zu: invalid YAML: %s", file, line, column, problem);
}

/* One document from PARSER into D: the first, or a second one that must be empty. */
static int parse(struct yamldoc *d, yaml_parser_t *parser, const char *text, const struct yamldoc_source *source) {
        yaml_document_t extra;
        yaml_node_t *second;
        int r = 0;

        if (!yaml_parser_load(parser, &d->document)) {
                d->error = yaml_error_message(d->file, parser, text);
                return parser->error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
        }
        d->loaded = true;
        d->root = yaml_document_get_root_node(&d->document);
        if (!d->root) {
                d->error = xasprintf("%s:1:1: the file is empty; expected a mapping with at least \"%s\"", d->file,
                                     source->required_key);
                return -EINVAL;
        }
        /* A second document would be silently ignored; say so instead. */
        if (!yaml_parser_load(parser, &extra)) {
                d->error = yaml_error_message(d->file, parser, text);
                return parser->error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
        }
        second = yaml_document_get_root_node(&extra);
        if (second)
                r = yamldoc_fail_at(d, &second->start_mark, "a second YAML document; expected exactly one");
        yaml_document_delete(&extra);
        return r;
}

int yamldoc_load(struct yamldoc *d, const char *path, const struct yamldoc_source *source) {
        yaml_parser_t parser;
        char *text = NULL;
        size_t len = 0;
        int r;

        d->file = path;
        r = read_file(path, source, &text, &len, &d->error);
        if (r < 0)
                return r;
        if (!yaml_parser_initialize(&parser)) {
                d->error = xasprintf("%s: out of memory while reading YAML", path);
                free(text);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
        r = parse(d, &parser, text, source);
        yaml_parser_delete(&parser);
        free(text);
        if (r < 0)
                d->root = NULL;
        return r;
}

int yamldoc_finish(struct yamldoc *d, int r, char **ret_error) {
        if (d->loaded)
                yaml_document_delete(&d->document);
        d->loaded = false;
        d->root = NULL;
        if (r < 0 && ret_error)
                *ret_error = d->error;
        else {
                free(d->error);
                if (ret_error)
                        *ret_error = NULL;
        }
        d->error = NULL;
        return r;
}

/* ---- messages and positions ---- */

int yamldoc_fail_at(struct yamldoc *d, const yaml_mark_t *mark, const char *fmt, ...) {
        va_list ap;
        char *what;

        if (d->error)
                return -EINVAL;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = xstrdup("(cannot format message)");
        va_end(ap);
        d->error = xasprintf("%s:%zu:%zu: %s", d->file, mark->line + 1, mark->column + 1, what);
        free(what);
        return -EINVAL;
}

yaml_node_t *yamldoc_node_at(struct yamldoc *d, int index) {
        return yaml_document_get_node(&d->document, index);
}

const char *yamldoc_scalar(const yaml_node_t *n) {
        return n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

bool yamldoc_is_null(const yaml_node_t *n) {
        const char *v = yamldoc_scalar(n);

        return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!*v || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0);
}

bool yamldoc_has_nul(const yaml_node_t *n) {
        return n->type == YAML_SCALAR_NODE && strlen(yamldoc_scalar(n)) != n->data.scalar.length;
}

const yaml_mark_t *yamldoc_value_mark(const yaml_node_t *key, const yaml_node_t *value) {
        return yamldoc_is_null(value) ? &key->start_mark : &value->start_mark;
}

const char *yamldoc_got(struct yamldoc *d, const yaml_node_t *n) {
        const char *v = yamldoc_scalar(n);
        size_t o = 0, max = sizeof(d->got) - 8;

        if (n->type == YAML_MAPPING_NODE)
                return "a mapping";
        if (n->type == YAML_SEQUENCE_NODE)
                return "a list";
        if (yamldoc_is_null(n))
                return "nothing";
        d->got[o++] = '"';
        for (; *v && o < max; v++)
                d->got[o++] = (unsigned char) *v < ' ' ? '?' : *v;
        if (*v) {
                memcpy(d->got + o, "...", 3);
                o += 3;
        }
        d->got[o++] = '"';
        d->got[o] = 0;
        return d->got;
}

/* ---- keys ---- */

static const char *key_name(const struct yamldoc_keys *keys, size_t i) {
        return *(const char *const *) (const void *) ((const char *) keys->names + i * keys->stride);
}

char *yamldoc_key_list(const struct yamldoc_keys *keys) {
        char *s = xstrdup("");

        for (size_t i = 0; i < keys->n_names; i++) {
                char *t = xasprintf("%s%s%s", s, i ? ", " : "", key_name(keys, i));
                free(s);
                s = t;
        }
        return s;
}

enum yamldoc_key_problem yamldoc_check_keys(struct yamldoc *d, const yaml_node_t *map,
                                            const struct yamldoc_keys *keys, const yaml_node_t **ret_key,
                                            const yaml_node_t **ret_first) {
        yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
        size_t n = (size_t) (map->data.mapping.pairs.top - pairs);

        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *k = yamldoc_node_at(d, pairs[i].key);
                const char *name = yamldoc_scalar(k);
                bool known = !keys->names;

                *ret_key = k;
                if (!name || yamldoc_is_null(k) || (keys->refuse_nul && yamldoc_has_nul(k)))
                        return YAMLDOC_KEY_NOT_TEXT;
                for (size_t j = 0; j < i; j++) {
                        const yaml_node_t *prev = yamldoc_node_at(d, pairs[j].key);

                        if (strcmp(yamldoc_scalar(prev), name) == 0) {
                                *ret_first = prev;
                                return YAMLDOC_KEY_DUPLICATE;
                        }
                }
                for (size_t j = 0; !known && j < keys->n_names; j++)
                        known = strcmp(key_name(keys, j), name) == 0;
                if (!known)
                        return YAMLDOC_KEY_UNKNOWN;
        }
        return YAMLDOC_KEYS_OK;
}
