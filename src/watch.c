/* watch.c: one inbox, watched by inotify or by polling; never blind.
 *
 * inotify only sees changes made through the local kernel: a client writing to
 * an NFS or SMB export from elsewhere raises nothing on the server's mount
 * point of a remote file system, so "auto" polls there. Overflow, a lost watch
 * and a missing inbox all lead to a full rescan; a safety rescan runs anyway. */
#include "watch.h"
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

struct watch {
        sd_event *event;
        struct queue_config *qc; /* a copy of what it needs: reloads free the configuration */
        uint64_t rescan_usec;
        const struct watch_handlers *h;
        void *userdata;
        sd_event_source *inotify_source, *poll_timer, *rescan_timer;
        bool hold;
};

static void watch_hold(struct watch *w, const char *reason);

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct watch *w = userdata;

        if (ev->mask & IN_Q_OVERFLOW) {
                w->h->rescan("the inotify event queue overflowed", w->userdata);
                return 0;
        }
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
                watch_hold(w, ev->mask & IN_UNMOUNT ? "the inbox was unmounted" : "the inbox was removed or moved");
                return 0;
        }
        if (ev->len > 0 && ev->name[0])
                w->h->changed(ev->name, w->userdata);
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        struct watch *w = userdata;
        w->h->rescan(NULL, w->userdata);
        (void) sd_event_source_set_time_relative(s, w->qc->poll_interval_usec);
        return 0;
}

static int on_safety_rescan(sd_event_source *s, uint64_t usec, void *userdata) {
        struct watch *w = userdata;
        w->h->rescan(NULL, w->userdata);
        (void) sd_event_source_set_time_relative(s, w->rescan_usec);
        return 0;
}

static int watch_attach(struct watch *w);

static int on_hold_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct watch *w = userdata;
        struct stat st;

        if (stat(w->qc->inbox, &st) == 0 && S_ISDIR(st.st_mode) && watch_attach(w) == 0) {
                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = w->qc->name }, 0, MSGID_QUEUE_HOLD,
                         "inbox %s is back; queue resumed", w->qc->inbox);
                w->hold = false;
                w->h->hold(NULL, w->userdata);
                w->h->rescan("the inbox is back", w->userdata);
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, HOLD_RETRY_USEC);
        return 0;
}

static void detach(struct watch *w) {
        w->inotify_source = sd_event_source_disable_unref(w->inotify_source);
        w->poll_timer = sd_event_source_disable_unref(w->poll_timer);
}

static void watch_hold(struct watch *w, const char *reason) {
        detach(w);
        if (!w->hold) {
                w->hold = true;
                char *why = xasprintf("%s (%s)", reason, w->qc->inbox);
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = w->qc->name, .state = "hold" }, 0, MSGID_QUEUE_HOLD,
                         "queue on hold: %s; it resumes by itself when the inbox is back", why);
                w->h->hold(why, w->userdata);
                free(why);
        }
        (void) sd_event_add_time_relative(w->event, &w->poll_timer, CLOCK_MONOTONIC, HOLD_RETRY_USEC,
                                          100 * USEC_PER_MSEC, on_hold_retry, w);
}

static int watch_attach(struct watch *w) {
        const struct queue_config *qc = w->qc;
        const char *fs;
        enum watch_mode mode = watch_resolve_mode(qc->inbox, qc->watch, &fs);
        int r;

        detach(w);
        if (mode == WATCH_INOTIFY) {
                r = sd_event_add_inotify(w->event, &w->inotify_source, qc->inbox,
                                         IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE |
                                                 IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                                 IN_ONLYDIR | IN_EXCL_UNLINK,
                                         on_inotify, w);
                if (r < 0) {
                        /* No watch (e.g. max_user_watches reached): poll rather than go blind. */
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = qc->name }, -r, NULL,
                                 "cannot watch inbox %s with inotify (%s); polling every %.1f s instead",
                                 qc->inbox, strerror(-r), (double) qc->poll_interval_usec / USEC_PER_SEC);
                        mode = WATCH_POLL;
                }
        }
        if (mode == WATCH_POLL) {
                r = sd_event_add_time_relative(w->event, &w->poll_timer, CLOCK_MONOTONIC, qc->poll_interval_usec,
                                               50 * USEC_PER_MSEC, on_poll, w);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(w->poll_timer, SD_EVENT_ON);
        }
        log_full(LOG_INFO, &(struct log_ctx) { .queue = qc->name }, 0, NULL, "watching inbox %s (%s, %s file system)",
                 qc->inbox, mode == WATCH_POLL ? "polling" : "inotify", fs);
        return 0;
}

int watch_new(sd_event *e, const struct queue_config *qc, uint64_t rescan_usec, const struct watch_handlers *h,
              void *userdata, struct watch **ret) {
        struct watch *w = xcalloc(1, sizeof(*w));
        struct stat st;
        int r = 0;

        w->event = e;
        w->qc = xcalloc(1, sizeof(*w->qc));
        w->qc->name = xstrdup(qc->name);
        w->qc->inbox = xstrdup(qc->inbox);
        w->qc->watch = qc->watch;
        w->qc->poll_interval_usec = qc->poll_interval_usec;
        w->rescan_usec = rescan_usec;
        w->h = h;
        w->userdata = userdata;
        if (rescan_usec > 0) {
                r = sd_event_add_time_relative(e, &w->rescan_timer, CLOCK_MONOTONIC, rescan_usec, USEC_PER_SEC,
                                               on_safety_rescan, w);
                if (r >= 0)
                        (void) sd_event_source_set_enabled(w->rescan_timer, SD_EVENT_ON);
        }
        if (r >= 0) {
                if (stat(qc->inbox, &st) < 0)
                        watch_hold(w, errno == ENOENT ? "the inbox does not exist" : "the inbox cannot be read");
                else if (!S_ISDIR(st.st_mode))
                        watch_hold(w, "the inbox is not a folder");
                else
                        r = watch_attach(w);
        }
        if (r < 0) {
                watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void watch_free(struct watch *w) {
        if (!w)
                return;
        detach(w);
        sd_event_source_disable_unref(w->rescan_timer);
        free(w->qc->name);
        free(w->qc->inbox);
        free(w->qc);
        free(w);
}
