/* yamldoc.h: a YAML document read from a file, with positions for every
 * error. The configuration (config.c) and batch manifests (manifest.c) are
 * both read this way: the whole file (up to a size limit) is parsed with the
 * libyaml document API as exactly one document, and every refusal is a
 * message "FILE:LINE:COLUMN: what was expected" (or "FILE: what went wrong"
 * when there is no position), the first error winning. What the keys and
 * values mean, and the words of most messages, stay with the callers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct yamldoc {
        const char *file;           /* the path, as given to yamldoc_load(): messages start with it */
        yaml_document_t document;
        bool loaded;                /* DOCUMENT holds a document to delete */
        yaml_node_t *root;          /* after yamldoc_load() succeeded: the top node, never NULL */
        char *error;                /* the first error (malloc'd), NULL while there is none */
        char got[160];              /* the text yamldoc_got() returns */
};

/* How a file is read, and the words that differ between kinds of file. */
struct yamldoc_source {
        size_t max_bytes;           /* a larger file is refused with -EFBIG */
        bool regular_only;          /* refuse a symbolic link (not followed) and anything but a regular file */
        /* The whole message for a file larger than max_bytes ("FILE: larger than ..."), malloc'd. */
        char *(*too_large)(const char *file);
        /* The key an empty file lacks: "FILE:1:1: the file is empty; expected a mapping with at least \"KEY\"". */
        const char *required_key;
};

/* Start D (zero-filled by the caller: "struct yamldoc d = { 0 }" or a member
 * of a zero-initialised struct) on the file at PATH, which must stay valid
 * while D is in use: read it as SOURCE says, parse it, and refuse an empty
 * file or a second document. Returns 0 with D->root set, or -errno (-EINVAL
 * for bad YAML, -EFBIG, -ENOMEM, ...) with D->error set. Either way, end with
 * yamldoc_finish(). */
int yamldoc_load(struct yamldoc *d, const char *path, const struct yamldoc_source *source);

/* End D: delete its document, and hand its error over when R < 0 (to
 * *RET_ERROR, or freed when RET_ERROR is NULL); when R >= 0, *RET_ERROR is set
 * to NULL. Returns R. */
int yamldoc_finish(struct yamldoc *d, int r, char **ret_error);

/* Record "FILE:LINE:COLUMN: " and the formatted text as D's error, unless an
 * earlier error is already there. Always returns -EINVAL, for "return
 * yamldoc_fail_at(...)". */
int yamldoc_fail_at(struct yamldoc *d, const yaml_mark_t *mark, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The node at INDEX (a key, value or item of a node of D). */
yaml_node_t *yamldoc_node_at(struct yamldoc *d, int index);
/* The text of a scalar node, NULL for a mapping or a list. */
const char *yamldoc_scalar(const yaml_node_t *n);
/* "key:" with nothing after it, or ~ / null (plain, any case). */
bool yamldoc_is_null(const yaml_node_t *n);
/* A scalar with a NUL byte ("\0" in double quotes), which a C string would cut short. */
bool yamldoc_has_nul(const yaml_node_t *n);
/* Where to point for a problem with VALUE: an empty value has no position of
 * its own worth showing, so its KEY's. */
const yaml_mark_t *yamldoc_value_mark(const yaml_node_t *key, const yaml_node_t *value);
/* What the user wrote, for "got ..." at the end of a message: "a mapping",
 * "a list", "nothing", or the text in double quotes (control characters as
 * '?', cut with "..." when long). Points into D: valid until the next call. */
const char *yamldoc_got(struct yamldoc *d, const yaml_node_t *n);

/* The keys a mapping may have: N_NAMES names, each STRIDE bytes after the one
 * before, from NAMES on. For an array of strings STRIDE is sizeof(char *); for
 * an array of structs with the name as a member, NAMES is &array[0].member and
 * STRIDE is sizeof(array[0]). */
struct yamldoc_keys {
        const char *const *names;   /* NULL: any key is known */
        size_t n_names;
        size_t stride;
        bool refuse_nul;            /* a key with a NUL byte is not plain text */
};

/* The names, ", "-separated ("batch, files, labels"), malloc'd. */
char *yamldoc_key_list(const struct yamldoc_keys *keys);

enum yamldoc_key_problem {
        YAMLDOC_KEYS_OK,
        YAMLDOC_KEY_NOT_TEXT,       /* not a scalar, null, or (refuse_nul) with a NUL byte */
        YAMLDOC_KEY_DUPLICATE,      /* the same text as an earlier key: *ret_first */
        YAMLDOC_KEY_UNKNOWN,        /* none of KEYS's names */
};

/* Look at the keys of the mapping MAP in order, and stop at the first that is
 * not plain text, repeats an earlier key, or (unless keys->names is NULL) is
 * unknown. Returns what is wrong with it, the key in *RET_KEY and, for a
 * duplicate, the earlier one in *RET_FIRST; YAMLDOC_KEYS_OK when all are
 * fine. The messages are the caller's: each kind of file words them its way. */
enum yamldoc_key_problem yamldoc_check_keys(struct yamldoc *d, const yaml_node_t *map,
                                            const struct yamldoc_keys *keys, const yaml_node_t **ret_key,
                                            const yaml_node_t **ret_first);
