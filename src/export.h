/* export.h: a batch's outbox folder as a ZIP (libarchive), streamed. Used by
 * pdfspoolctl export and, in a child process, by the daemon's automatic ZIP. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

/* Write OUTBOX_FD/BATCH as a ZIP to OUT_FD: every file below it, in byte order
 * of their paths (folder by folder), the daemon's temps left out; each job's
 * original (named by its status.json) and the kept copies of skipped files
 * only with WITH_ORIGINALS. File contents are streamed in small blocks: memory
 * does not grow with the batch's size. On failure *ret_error says what. */
int export_batch_zip(int outbox_fd, const char *batch, bool with_originals, int out_fd, char **ret_error);
/* Remove the temps of BATCH's ZIP that writers killed midway left in the outbox
 * (their writer is gone; a running writer's temp stays). */
void export_remove_stale_temps(int outbox_fd, const char *batch);
/* <outbox>/<batch>.zip, written atomically (temp file, fsync, rename, fsync the folder). */
int export_batch_zip_file(int outbox_fd, const char *batch, mode_t mode, gid_t gid, char **ret_error);
