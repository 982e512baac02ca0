/* watch.c: one inbox, watched by inotify or by polling; never blind.
 *
 * inotify only sees changes made through the local kernel: a client writing to
 * an NFS or SMB export from elsewhere raises nothing on the server's mount
 * point of a remote file system, so "auto" polls there. Overflow, a lost watch
 * and a missing inbox all lead to a full rescan; a safety rescan runs anyway. */
#include "watch.h"
#include "intake.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HOLD_RETRY_USEC (1 * USEC_PER_SEC)

static const struct {
        unsigned long magic;
        const char *name;
} remote_fs[] = {
        { 0x6969, "nfs" },          { 0x517B, "smb" },        { 0xFF534D42, "cifs" },
        { 0xFE534D42, "smb2" },     { 0x65735546, "fuse" },   { 0x01021997, "9p" },
        { 0x00c36400, "ceph" },     { 0x5346414F, "afs" },    { 0x73757245, "coda" },
        { 0x564c, "ncp" },          { 0x01161970, "gfs2" },   { 0x7461636f, "ocfs2" },
        { 0x0BD00BD0, "lustre" },   { 0x47504653, "gpfs" },   { 0x013111A8, "ibrix" },
};

static enum watch_mode watch_resolve_mode(const char *path, enum watch_mode configured, const char **ret_fs) {
        struct statfs sfs;

        if (ret_fs)
                *ret_fs = "local";
        if (configured != WATCH_AUTO)
                return configured;
        if (statfs(path, &sfs) < 0)
                return WATCH_INOTIFY;
        for (size_t i = 0; i < ELEMENTSOF(remote_fs); i++)
                if ((unsigned long) sfs.f_type == remote_fs[i].magic) {
                        if (ret_fs)
                                *ret_fs = remote_fs[i].name;
                        return WATCH_POLL;
                }
        return WATCH_INOTIFY;
}

static void watch_hold(struct queue *q, const char *reason);

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct queue *q = userdata;

        if (ev->mask & IN_Q_OVERFLOW) {
                intake_rescan(q, "the inotify event queue overflowed");
                return 0;
        }
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
                watch_hold(q, ev->mask & IN_UNMOUNT ? "the inbox was unmounted" : "the inbox was removed or moved");
                return 0;
        }
        if (ev->len > 0 && ev->name[0])
                intake_event(q, ev->name);
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        intake_rescan(q, NULL);
        (void) sd_event_source_set_time_relative(s, q->cfg->poll_interval_usec);
        return 0;
}

static int on_safety_rescan(sd_event_source *s, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        intake_rescan(q, NULL);
        (void) sd_event_source_set_time_relative(s, q->spool->config->rescan_interval_usec);
        return 0;
}

static int watch_attach(struct queue *q);

static int on_hold_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        struct stat st;

        if (stat(q->cfg->inbox, &st) == 0 && S_ISDIR(st.st_mode) && watch_attach(q) == 0) {
                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, MSGID_QUEUE_HOLD,
                         "inbox %s is back; queue resumed", q->cfg->inbox);
                q->hold = false;
                free(q->hold_reason);
                q->hold_reason = NULL;
                intake_rescan(q, "the inbox is back");
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, HOLD_RETRY_USEC);
        return 0;
}

static void detach(struct queue *q) {
        q->inotify_source = sd_event_source_disable_unref(q->inotify_source);
        q->poll_timer = sd_event_source_disable_unref(q->poll_timer);
}

static void watch_hold(struct queue *q, const char *reason) {
        struct spool *s = q->spool;

        detach(q);
        if (!q->hold) {
                q->hold = true;
                free(q->hold_reason);
                q->hold_reason = xasprintf("%s (%s)", reason, q->cfg->inbox);
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .state = "hold" }, 0, MSGID_QUEUE_HOLD,
                         "queue on hold: %s; it resumes by itself when the inbox is back", q->hold_reason);
        }
        (void) sd_event_add_time_relative(s->event, &q->poll_timer, CLOCK_MONOTONIC, HOLD_RETRY_USEC,
                                          100 * USEC_PER_MSEC, on_hold_retry, q);
}

static int watch_attach(struct queue *q) {
        struct spool *s = q->spool;
        const char *fs;
        enum watch_mode mode = watch_resolve_mode(q->cfg->inbox, q->cfg->watch, &fs);
        int r;

        detach(q);
        if (mode == WATCH_INOTIFY) {
                r = sd_event_add_inotify(s->event, &q->inotify_source, q->cfg->inbox,
                                         IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE |
                                                 IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                                 IN_ONLYDIR | IN_EXCL_UNLINK,
                                         on_inotify, q);
                if (r < 0) {
                        /* No watch (e.g. max_user_watches reached): poll rather than go blind. */
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                 "cannot watch inbox %s with inotify (%s); polling every %.1f s instead",
                                 q->cfg->inbox, strerror(-r), (double) q->cfg->poll_interval_usec / USEC_PER_SEC);
                        mode = WATCH_POLL;
                }
        }
        if (mode == WATCH_POLL) {
                r = sd_event_add_time_relative(s->event, &q->poll_timer, CLOCK_MONOTONIC, q->cfg->poll_interval_usec,
                                               50 * USEC_PER_MSEC, on_poll, q);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(q->poll_timer, SD_EVENT_ON);
        }
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL, "watching inbox %s (%s, %s file system)",
                 q->cfg->inbox, mode == WATCH_POLL ? "polling" : "inotify", fs);
        return 0;
}

int watch_start(struct queue *q) {
        struct stat st;
        int r;

        if (!q->rescan_timer && q->spool->config->rescan_interval_usec > 0) {
                r = sd_event_add_time_relative(q->spool->event, &q->rescan_timer, CLOCK_MONOTONIC,
                                               q->spool->config->rescan_interval_usec, USEC_PER_SEC,
                                               on_safety_rescan, q);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(q->rescan_timer, SD_EVENT_ON);
        }
        if (stat(q->cfg->inbox, &st) < 0) {
                watch_hold(q, errno == ENOENT ? "the inbox does not exist" : "the inbox cannot be read");
                return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
                watch_hold(q, "the inbox is not a folder");
                return 0;
        }
        return watch_attach(q);
}

void watch_stop(struct queue *q) {
        detach(q);
        q->rescan_timer = sd_event_source_disable_unref(q->rescan_timer);
}
