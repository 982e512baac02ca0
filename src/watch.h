/* watch.h: seeing changes at the top of an inbox: inotify where the kernel
 * sees the writes, polling where it cannot (NFS, SMB/CIFS, FUSE, 9p, ...). */
#pragma once
#include <stdbool.h>
#include "spool.h"

/* Watch Q's inbox; calls intake_event() per changed name and intake_rescan()
 * on overflow, loss of the watch and on every poll. Puts the queue on hold
 * while the inbox is missing and resumes when it is back. */
int watch_start(struct queue *q);
void watch_stop(struct queue *q);
