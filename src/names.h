/* names.h: file names are bytes. Turning them into JSON (exactly, for the
 * spool's own records; readably, for status files) and keeping output names unique. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exact: a JSON string when NAME is valid UTF-8, else {"hex": "..."}. */
json_t *names_to_json_exact(const char *name);
/* Inverse of names_to_json_exact; NULL when J is neither form. Returns malloc'd. */
char *names_from_json_exact(const json_t *j);
/* For people: valid UTF-8 as is, except control characters (newline, ESC, DEL, C1...);
 * each byte of those and each byte that is not valid UTF-8 becomes the text \xNN. */
char *names_display(const char *name);
json_t *names_to_json_display(const char *name);

/* A path someone else wrote (an archive entry, a manifest line), as a relative
 * path without "." and empty components ("" when nothing is left). */
enum names_path_problem {
        NAMES_PATH_OK,
        NAMES_PATH_EMPTY,       /* "" */
        NAMES_PATH_ABSOLUTE,    /* starts with "/" */
        NAMES_PATH_DOTDOT,      /* a ".." component */
        NAMES_PATH_TOO_DEEP,    /* more than max_depth components */
};
/* Returns malloc'd, or NULL with *ret_problem. max_depth 0: no limit. */
char *names_normalize_relative(const char *path, size_t max_depth, enum names_path_problem *ret_problem);

/* BASE with "-N" added (before the extension when keep_ext), the last path
 * component cut so that it stays within NAME_MAX bytes. Returns malloc'd. */
char *names_with_suffix(const char *base, unsigned n, bool keep_ext);

/* A set of relative paths already used in one output directory tree. */
struct name_set;
struct name_set *name_set_new(void);
void name_set_free(struct name_set *s);
bool name_set_contains(const struct name_set *s, const char *path);
void name_set_add(struct name_set *s, const char *path);
/* BASE if it and every "BASE/<extra>" are free, else BASE-2, BASE-3, ...
 * (before a final extension when keep_ext); adds the result (and extras) to S.
 * extras is NULL-terminated or NULL. Returns malloc'd. */
char *name_set_claim_unique(struct name_set *s, const char *base, const char *const *extras, bool keep_ext);
