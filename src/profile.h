/* profile.h: a processing profile: which outputs a job makes and their
 * parameters, and the external filters run after them. The configuration
 * names profiles (config.c reads them), a queue has a default, a manifest
 * picks one and may override single options (manifest.c); the pool sends the
 * chosen outputs to the worker in the job message, the worker (extract.c)
 * makes just those, and the daemon runs the filters (filters.c).
 *
 * Options are set one at a time by name and text value (profile_set), so the
 * configuration, a manifest and the job message all check them the same way.
 * This file depends on nothing else of the daemon. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define PROFILE_DEFAULT "default"
#define PROFILE_NAME_MAX 64
#define PROFILE_DPI_MIN 10
#define PROFILE_DPI_MAX 1200
#define PROFILE_THUMB_MIN 16
#define PROFILE_THUMB_MAX 4096
#define PROFILE_PAGES_MAX_TEXT 256  /* bytes of a page list like "1-3,7" */
#define PROFILE_MAX_FILTERS 16
#define PROFILE_LOG_MAX_BYTES (256 * 1024) /* of a job's log.txt */

enum profile_output {
        PROFILE_META, PROFILE_TEXT, PROFILE_STEXT, PROFILE_OUTLINE, PROFILE_THUMBS,
        PROFILE_PAGES, PROFILE_FACTS, PROFILE_TABLES, PROFILE_FILTERS, _PROFILE_OUTPUT_MAX,
};
enum profile_format { PROFILE_PNG, PROFILE_JPEG };
/* When a filter runs, by the job's text layer. */
enum profile_when { PROFILE_WHEN_ALWAYS, PROFILE_WHEN_NOT_FULL, PROFILE_WHEN_NONE, PROFILE_WHEN_FULL };

struct profile_filter {
        char *name;             /* for the log and the reason: its program's base name by default */
        char **argv;            /* argv[0] absolute; no shell */
        uint64_t timeout_usec;  /* 0 = the job's own timeout is the only bound */
        enum profile_when when;
};

struct profile {
        char *name;
        bool on[_PROFILE_OUTPUT_MAX];   /* by enum profile_output; FILTERS: run the filters */
        char *thumb_pages;      /* page list: "1" (thumb.png), else thumbs/NNNN.png */
        unsigned thumb_size;    /* longest side in pixels; 0 = the configuration's thumbnail_size */
        enum profile_format thumb_format;
        char *page_pages;       /* page list of pages/NNNN.png renders, default "all" */
        unsigned dpi;           /* default 150 */
        enum profile_format page_format;
        struct profile_filter *filters;
        size_t n_filters;
};

extern const char *const profile_output_names[_PROFILE_OUTPUT_MAX];

/* The built-in "default": exactly what a job made before profiles (meta.json
 * with its outline, text.txt, thumb.png of page 1, facts.json, tables). */
void profile_init_default(struct profile *p, const char *name);
void profile_copy(struct profile *to, const struct profile *from);
void profile_done(struct profile *p);   /* frees the members; accepts a zeroed one */

/* Set option KEY to the text VALUE: an output name ("stext") with a boolean
 * (on/off, true/false, yes/no), or "thumbs.pages", "thumbs.size",
 * "thumbs.format", "pages.pages", "pages.dpi", "pages.format". Returns 0,
 * -ENOENT for an unknown key, or -EINVAL with *RET_WHY saying what was
 * expected ("must be png or jpeg"). */
int profile_set(struct profile *p, const char *key, const char *value, const char **ret_why);
/* The names profile_set knows, ", "-separated, malloc'd. */
char *profile_option_list(void);

/* A page list: "all", "N", "N-M", "N-" or a comma-separated list of those
 * (1-based). profile_pages_valid: is it one. profile_pages_has: is page
 * PAGE (1-based) of a document of N_PAGES pages in it. */
bool profile_pages_valid(const char *spec);
bool profile_pages_has(const char *spec, int page, int n_pages);

/* "text_layer != full" -> PROFILE_WHEN_NOT_FULL (also "== none", "== full", "always"). */
int profile_when_parse(const char *s, enum profile_when *ret);
const char *profile_when_to_string(enum profile_when w);
/* Does a job whose text layer is TEXT_LAYER ("none", "partial", "full") run a filter with W? */
bool profile_when_matches(enum profile_when w, const char *text_layer);

/* The outputs as the job message carries them (no filters, no name), and
 * back; profile_from_json checks every value with profile_set's rules and
 * returns -EINVAL with *RET_WHY on a bad one. */
json_t *profile_outputs_to_json(const struct profile *p);
int profile_outputs_from_json(json_t *o, struct profile *p, const char **ret_why);
