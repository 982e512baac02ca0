/* intake.h: when is a drop complete, what kind of thing is it, and taking it.
 *
 * A drop is an entry at the top of an inbox: a folder, or a single file. It is
 * complete when nothing in it has changed (names, sizes, mtimes, ctimes) for
 * the queue's settle period and no process holds one of its files open for
 * writing; a folder holding the ready marker is complete at once. */
#pragma once
#include <stdbool.h>
#include <sys/stat.h>
#include "spool.h"

enum file_kind {
        FILE_PDF,
        FILE_SKIP,              /* not processed; the reason says why */
};

#define INTAKE_REASON_HARD_LINK "hard link to a file that also exists elsewhere: not taken"

/* Is NAME (one path component) junk that the queue ignores? */
bool intake_is_ignored(const struct queue_config *qc, const char *name);
/* Judge a file in a drop by its content. On FILE_SKIP *ret_reason is a static string. */
enum file_kind intake_classify(int dirfd, const char *name, const struct stat *st, const char **ret_reason);

/* Start watching every queue's inbox and take the drops already there. */
int intake_start(struct queue *q);
void intake_stop(struct queue *q);
/* Something happened to NAME at the top of the inbox. */
void intake_event(struct queue *q, const char *name);
/* Look at the whole inbox again (overflow, a missed event, the safety timer). */
void intake_rescan(struct queue *q, const char *reason);
