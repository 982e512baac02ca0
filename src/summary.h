/* summary.h: a batch's summary page, <outbox>/<batch>/index.html: static HTML
 * (no script, no network) that opens from the share with a double click. */
#pragma once
#include <sys/types.h>
#include "model.h"          /* SUMMARY_FILE */

/* Build the page from the batch's files in the outbox (its status.json and
 * each job's status.json, facts.json and folder) and replace index.html
 * atomically. Reads every job's files: for a big batch, call it in a child
 * (hooks_run) and not too often. Returns 0 or -errno. */
int summary_write(int outbox_fd, const char *batch, mode_t mode, gid_t gid);
