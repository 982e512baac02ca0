/* watch.h: seeing changes at the top of an inbox: inotify where the kernel
 * sees the writes, polling where it cannot (NFS, SMB/CIFS, FUSE, 9p, ...).
 * It reports to its owner (intake) through handlers and knows nothing else. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"

struct watch_handlers {
        void (*changed)(const char *name, void *userdata);     /* NAME at the top changed */
        /* Look at everything again: REASON says why (overflow, the inbox is
         * back), NULL for a routine poll or safety rescan. */
        void (*rescan)(const char *reason, void *userdata);
        /* The inbox is gone (REASON) or back (NULL). */
        void (*hold)(const char *reason, void *userdata);
};

struct watch;

/* What a watch sees of its inbox, as attached now. */
struct watch_view {
        enum watch_mode mode;   /* WATCH_INOTIFY or WATCH_POLL */
        const char *fs;         /* "local", "nfs", "fuse", ...: static */
        bool remote;            /* other machines write there: their writes raise no inotify
                                 * event and no lease on this side */
};

/* Watch QC's inbox; a safety rescan every RESCAN_USEC (0: none). A missing
 * inbox is a hold (reported), not an error. The mount table is followed: when
 * the inbox's file system changes (mounted over, unmounted, remounted) the
 * watch mode is chosen again and the inbox rescanned at once. */
int watch_new(sd_event *e, const struct queue_config *qc, uint64_t rescan_usec, const struct watch_handlers *h,
              void *userdata, struct watch **ret);
void watch_free(struct watch *w); /* accepts NULL */
void watch_get_view(const struct watch *w, struct watch_view *ret);
/* One line for people: how the inbox is watched and what that cannot see. */
char *watch_describe(const struct watch *w);
