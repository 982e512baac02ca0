/* watch.c: one inbox, watched by inotify or by polling; never blind.
 *
 * inotify only sees changes made through the local kernel: a client writing to
 * an NFS or SMB export from elsewhere raises nothing on the server's mount
 * point of a remote file system, so "auto" polls there. Overflow, a lost watch
 * and a missing inbox all lead to a full rescan; a safety rescan runs anyway.
 * Mounts come and go after start (a share mounted over the inbox, an
 * automounter): the mount table is followed and the mode chosen again. */
#include "watch.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/* How the inbox at PATH is seen: its file system and whether others write there. */
static void watch_resolve(const char *path, enum watch_mode configured, struct watch_view *ret) {
        struct statfs sfs;

        *ret = (struct watch_view) { .mode = configured == WATCH_POLL ? WATCH_POLL : WATCH_INOTIFY, .fs = "unknown" };
        if (statfs(path, &sfs) < 0)
                return;
        ret->fs = "local";
        for (size_t i = 0; i < ELEMENTSOF(remote_fs); i++)
                if ((unsigned long) sfs.f_type == remote_fs[i].magic) {
                        ret->fs = remote_fs[i].name;
                        ret->remote = true;
                        if (configured == WATCH_AUTO)
                                ret->mode = WATCH_POLL;
                }
}

struct watch {
        sd_event *event;
        struct queue_config *qc; /* a copy of what it needs: reloads free the configuration */
        uint64_t rescan_usec;
        const struct watch_handlers *h;
        void *userdata;
        sd_event_source *inotify_source, *poll_timer, *rescan_timer;
        sd_event_source *mounts_source; /* /proc/self/mountinfo: POLLPRI when the mount table changes */
        struct watch_view view;         /* as attached */
        dev_t dev;                      /* the inbox's device when attached, 0 = not attached */
        char *real_inbox;               /* its path without links, when attached */
        char *mount;                    /* "ID FSTYPE" of the mount it lies on, NULL = unknown */
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

char *watch_describe(const struct watch *w) {
        char *s, *rule = NULL;

        if (w->view.remote)
                rule = xasprintf(": writers on other machines are not visible: a drop is complete after %.0f s "
                                 "without change, or at a ready marker",
                                 (double) config_queue_settle(w->qc, true) / USEC_PER_SEC);
        if (w->view.mode == WATCH_POLL)
                s = xasprintf("polling every %.1f s, %s file system%s", (double) w->qc->poll_interval_usec / USEC_PER_SEC,
                              w->view.fs, rule ? rule : "");
        else
                s = xasprintf("inotify, %s file system%s", w->view.fs, rule ? rule : "");
        free(rule);
        return s;
}

/* Unescape a mountinfo path field in place (spaces and the like are \ooo). */
static void mountinfo_unescape(char *s) {
        char *o = s;

        for (; *s; s++)
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                    s[3] <= '7') {
                        *o++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *o++ = *s;
        *o = 0;
}

/* "ID FSTYPE" of the mount that PATH (without links) lies on, from the mount
 * table alone: reading it never touches the inbox, so a hung mount cannot
 * block this. NULL when it cannot be read. */
static char *covering_mount(const char *path) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL, *best = NULL;
        size_t size = 0, best_len = 0;

        if (!f)
                return NULL;
        while (getline(&line, &size, f) > 0) {
                char id[32], point[4096], fstype[256];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%31s %*s %*s %*s %4095s", id, point) != 2 ||
                    sscanf(sep + 3, "%255s", fstype) != 1)
                        continue;
                mountinfo_unescape(point);
                size_t n = strcmp(point, "/") == 0 ? 0 : strlen(point);
                bool covers = strncmp(path, point, n) == 0 && (path[n] == '/' || path[n] == 0);
                /* the deepest mount point wins; of equal ones, the last (mounted on top) */
                if (covers && (!best || n >= best_len)) {
                        free(best);
                        best = xasprintf("%s %s", id, fstype);
                        best_len = n;
                }
        }
        free(line);
        fclose(f);
        return best;
}

void watch_get_view(const struct watch *w, struct watch_view *ret) {
        *ret = w->view;
}

static int watch_attach(struct watch *w) {
        const struct queue_config *qc = w->qc;
        struct stat st;
        int r;

        detach(w);
        watch_resolve(qc->inbox, qc->watch, &w->view);
        w->dev = stat(qc->inbox, &st) == 0 ? st.st_dev : 0;
        free(w->real_inbox);
        w->real_inbox = realpath(qc->inbox, NULL);
        free(w->mount);
        w->mount = w->real_inbox ? covering_mount(w->real_inbox) : NULL;
        if (w->view.mode == WATCH_INOTIFY) {
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
                        w->view.mode = WATCH_POLL;
                }
        }
        if (w->view.mode == WATCH_POLL) {
                r = sd_event_add_time_relative(w->event, &w->poll_timer, CLOCK_MONOTONIC, qc->poll_interval_usec,
                                               50 * USEC_PER_MSEC, on_poll, w);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_enabled(w->poll_timer, SD_EVENT_ON);
        }
        char *what = watch_describe(w);
        log_full(LOG_INFO, &(struct log_ctx) { .queue = qc->name }, 0, NULL, "watching inbox %s (%s)", qc->inbox, what);
        free(what);
        return 0;
}

/* The mount table changed: if the inbox now lies on another file system
 * (mounted over, unmounted, remounted), choose the watch mode again and look
 * at everything at once. A hold is left to its own retry. */
static int on_mounts_changed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct watch *w = userdata;
        struct watch_view view;
        struct stat st;

        if (w->hold)
                return 0;
        /* Most changes are elsewhere: the inbox is looked at only when the mount
         * it lies on is another one now (it may be the hung one). */
        char *mount = w->real_inbox ? covering_mount(w->real_inbox) : NULL;
        bool same = mount && w->mount && strcmp(mount, w->mount) == 0;
        free(mount);
        if (same)
                return 0;
        if (stat(w->qc->inbox, &st) < 0) {
                if (errno == ENOENT)
                        watch_hold(w, "the inbox is gone after a change of the mount table");
                return 0; /* could not look: the polls and the safety rescan go on */
        }
        watch_resolve(w->qc->inbox, w->qc->watch, &view);
        if (st.st_dev == w->dev && view.mode == w->view.mode && strcmp(view.fs, w->view.fs) == 0)
                return 0;
        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = w->qc->name }, 0, NULL,
                 "the file system of inbox %s changed (mounted over, unmounted or remounted): now %s; "
                 "choosing the watch mode again", w->qc->inbox, view.fs);
        if (watch_attach(w) < 0) {
                watch_hold(w, "the inbox cannot be watched after a change of the mount table");
                return 0;
        }
        w->h->rescan("its file system changed", w->userdata);
        return 0;
}

static void follow_mounts(struct watch *w) {
        int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : sd_event_add_io(w->event, &w->mounts_source, fd, EPOLLPRI, on_mounts_changed, w);

        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = w->qc->name }, -r, NULL,
                         "cannot follow the mount table (%s): a share mounted over inbox %s later is seen at the "
                         "next safety rescan", strerror(-r), w->qc->inbox);
                return;
        }
        (void) sd_event_source_set_io_fd_own(w->mounts_source, true);
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
        w->qc->settle_usec = qc->settle_usec;
        w->qc->settle_set = qc->settle_set;
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
                watch_resolve(qc->inbox, qc->watch, &w->view); /* what it will see, while on hold */
                if (stat(qc->inbox, &st) < 0)
                        watch_hold(w, errno == ENOENT ? "the inbox does not exist" : "the inbox cannot be read");
                else if (!S_ISDIR(st.st_mode))
                        watch_hold(w, "the inbox is not a folder");
                else
                        r = watch_attach(w);
        }
        if (r >= 0)
                follow_mounts(w);
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
        sd_event_source_disable_unref(w->mounts_source);
        free(w->real_inbox);
        free(w->mount);
        free(w->qc->name);
        free(w->qc->inbox);
        free(w->qc);
        free(w);
}
