/* progress.h: pdfspoolctl watch: live progress of batches from the outbox's
 * status files, woken by inotify (no polling). */
#pragma once
#include <stdbool.h>
#include "config.h"

/* Exit codes of watch, as in pdfspoolctl(1). */
enum {
        PROGRESS_ALL_DONE = 0,     /* every job of every watched batch done (or skipped) */
        PROGRESS_NOT_FOUND = 1,
        PROGRESS_FAILED = 4,       /* finished, some jobs failed */
        PROGRESS_CANCELED = 5,     /* finished, canceled */
};

/* Watch BATCH (NULL: every unfinished batch, and those that appear) in the
 * queues of C (only QUEUE when not NULL) until it is or they are finished.
 * JSON: one object per line per event; else a display redrawn in place on a
 * terminal, one line per change otherwise. Returns an exit code above. */
int progress_watch(const struct config *c, const char *queue, const char *batch, bool json);
