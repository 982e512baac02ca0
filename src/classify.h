/* classify.h: what a name or a file in an inbox is, judged without changing it. */
#pragma once
#include <stdbool.h>
#include <sys/stat.h>

#include "config.h"

/* Names the daemon itself gives in an inbox (a drop being claimed across file
 * systems is renamed to this prefix and its claim's name): never a drop. */
#define CLASSIFY_DAEMON_PREFIX ".pdfspool-claim."

#define CLASSIFY_REASON_HARD_LINK "hard link to a file that also exists elsewhere: not taken"

enum file_kind {
        FILE_PDF,
        FILE_SKIP,              /* not processed; the reason says why */
};

/* Is NAME (one path component) junk that the queue ignores, or the daemon's own? */
bool classify_is_ignored(const struct queue_config *qc, const char *name);
/* Why a directory entry that is not a regular file is not taken; NULL if it is one. */
const char *classify_special_reason(const struct stat *st);
/* Judge a file by its content. On FILE_SKIP *ret_reason is a static string. */
enum file_kind classify_file(int dirfd, const char *name, const struct stat *st, const char **ret_reason);
