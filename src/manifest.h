/* manifest.h: a batch manifest ("NAME.batch.yaml" dropped in an inbox) names
 * the files and folders of the inbox that make one batch, with optional
 * checksums, labels for the batch status and per-batch options.
 *
 *   batch: lm317-review            # optional; default: the file name without .batch.yaml
 *   files:                         # required, not empty; paths relative to the inbox
 *     - path: vendor-a/LM317.pdf
 *       sha256: 3a7bd3e2...        # optional, 64 hex digits
 *     - vendor-b/                  # a plain string is a path too; a folder means all in it
 *   labels:                        # optional text -> text, copied into the batch status
 *     project: power-supply
 *   options:                       # optional overrides of the configuration
 *     thumbnail_size: 512
 *     job_timeout: 10m
 *     priority: 10                 # -100 .. 100; higher runs first; default 0
 *     not_before: 2026-12-07T22:00:00Z   # no job starts earlier (RFC 3339; no zone: local time)
 *     stext: on                    # single options of the profile (profile.h: profile_set)
 *     thumbs: {size: 512}          # or thumbs.size: 512
 *   profile: rich                  # optional: a profile of the configuration; default: the queue's
 *   password: s3cret               # optional: opens the batch's encrypted PDFs (a file's own
 *                                  # "password:" in its entry wins); never echoed anywhere
 *
 * The file is untrusted: everything is checked here, and a mistake is refused
 * with "FILE:LINE:COLUMN: what was expected", as for the configuration. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_PASSWORD_MAX 1024

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define MANIFEST_MAX_FILES 100000
#define MANIFEST_MAX_DEPTH 64       /* components of a listed path, as folders are walked */
#define MANIFEST_PATH_MAX 4095      /* bytes of a listed path: no longer one can be opened */
#define MANIFEST_BATCH_NAME_MAX 200
#define MANIFEST_MAX_LABELS 100
#define MANIFEST_LABEL_KEY_MAX 128
#define MANIFEST_LABEL_VALUE_MAX 1024
#define MANIFEST_PRIORITY_MIN (-100)
#define MANIFEST_PRIORITY_MAX 100

struct manifest_file {
        char *path;                 /* relative to the inbox; normalised: no leading "./", no "." or
                                     * empty components, no trailing "/" ("vendor-b/" is "vendor-b");
                                     * at most MANIFEST_MAX_DEPTH components, MANIFEST_PATH_MAX bytes */
        bool has_sha256;
        unsigned char sha256[32];
        char *password;             /* NULL = the batch's, if any */
};

struct manifest {
        char *batch;                /* one folder name: no "/", no leading ".", <= 200 bytes */
        struct manifest_file *files; /* in the manifest's order; no path twice, none inside another */
        size_t n_files;             /* 1 .. MANIFEST_MAX_FILES */
        char **label_keys, **label_values; /* in the manifest's order, keys unique */
        size_t n_labels;
        unsigned thumbnail_size;    /* 0 = not set; else 16 .. 4096 like the configuration's */
        uint64_t job_timeout_usec;  /* 0 = not set; else up to 365 days */
        int priority;               /* 0 = default; higher runs first */
        uint64_t not_before_usec;   /* 0 = not set; else realtime usec */
        char *profile;              /* NULL = the queue's */
        char **override_keys, **override_values; /* profile options (profile_set), checked */
        size_t n_overrides;
        char *password;             /* NULL = none */
};

/* NAME ends in ".batch.yaml" or ".batch.yml" (any case) with something before it. */
bool manifest_is_name(const char *name);

/* Read and check the manifest at PATH (a regular file, not followed if a
 * symlink, at most MANIFEST_MAX_BYTES). Paths are checked as text only:
 * whether they exist is the caller's business. A path equal to the manifest's
 * own file name is refused. Returns 0, or -EINVAL (-EFBIG, -errno) with a
 * malloc'd "FILE:LINE:COLUMN: message" (or "FILE: message") in *ret_error when
 * ret_error is not NULL; *ret is set only on success. */
int manifest_load(const char *path, struct manifest **ret, char **ret_error);
void manifest_free(struct manifest *m);

/* SHA-256 of the regular file DIRFD/PATH (relative, walked one component at a
 * time without following symlinks; ".." is refused). Returns 0 and fills OUT,
 * or -errno (-EINVAL: not a regular file or a bad path) and leaves OUT alone. */
int manifest_sha256_file(int dirfd, const char *path, unsigned char out[32]);
/* Lower-case hex, NUL-terminated. */
void manifest_sha256_hex(const unsigned char sha256[32], char out[65]);
