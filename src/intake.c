/* intake.c: when is a drop complete, what kind is it, and handing it to the spool.
 *
 * Completion does not trust one signal: an inotify event (or a poll) only says
 * "look again"; a drop is complete when a walk of it gives the same
 * fingerprint (names, sizes, mtimes, ctimes, inodes) for the settle period and
 * no process holds one of its files open for writing.
 *
 * A polled inbox (a network mount, or watch: poll) is looked at off the loop:
 * a child lists it and fingerprints every drop, under a deadline, so a hung
 * mount never stops the daemon. A listing that fails, or does not come in
 * time, holds the queue (once); the first listing that comes resumes it. On a
 * mount where other machines write, neither inotify nor the writer check sees
 * them: settle is longer by default and a drop is complete only when two
 * consecutive looks give the same fingerprint. */
#include "intake.h"
#include "classify.h"
#include "control.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "names.h"
#include "spool.h"
#include "status.h"
#include "unpack.h"
#include "util.h"
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIN_CHECK_USEC (100 * USEC_PER_MSEC)
#define MAX_CHECK_USEC (1 * USEC_PER_SEC)
#define FIRST_CHECK_USEC (5 * USEC_PER_MSEC)
/* A look at a polled inbox that takes longer than this (or the poll interval,
 * if longer) is a mount that does not answer. */
#define LOOK_DEADLINE_USEC (10 * USEC_PER_SEC)
/* A drop whose walk takes longer than this (or a folder not walked yet: it may
 * hold 100,000 entries) is looked at by the same child on a local inbox too,
 * so that walking never holds the loop (other queues, status, WATCHDOG=1). */
#define SLOW_WALK_USEC (20 * USEC_PER_MSEC)

/* One queue's intake: what settles in its inbox, and how it reports. */
struct intake {
        struct queue *queue;
        const struct intake_handlers *h;
        void *userdata;
        struct watch *watch;
        struct drop *drops;    /* drops seen in the inbox, not yet taken */
        struct pending_manifest *manifests; /* manifests waiting for the files they list */
        char *hold_reason;     /* non-NULL: the inbox is missing, nothing is taken until it is back */
        bool said_no_writer_check; /* logged once that leases do not work here */
        bool polled;           /* the watch polls: drops are judged from looks made by a child */
        bool remote;           /* other machines write there: unseen by inotify and leases */
        bool look_hold;        /* hold_reason comes from a failed look, not from the watch */
        bool look_again;       /* a look was asked for while one ran */
        bool look_hung;        /* the last look did not answer in time: the mount may hang */
        pid_t look_pid;        /* the child that looks, 0 = none */
        uint64_t look_started, look_took; /* CLOCK_MONOTONIC; how long the last look took */
        int look_fd;           /* the memfd it writes its listing into */
        sd_event_source *look_child, *look_deadline, *look_timer;
};

struct drop {
        struct queue *queue;
        char *name;
        uint64_t fingerprint;
        uint64_t stable_since;  /* CLOCK_MONOTONIC: when the fingerprint last changed */
        uint64_t event_at;      /* CLOCK_MONOTONIC: its last inotify event, 0 = none */
        uint64_t walk_usec;     /* how long the last walk took */
        sd_event_source *timer;
        bool seen;              /* found by the rescan in progress */
        bool said_incomplete;   /* logged once that it waits for a file that looks cut short */
        bool looks_equal;       /* the last two looks gave the same fingerprint */
        char *why;              /* why it waits, for pdfspoolctl pending (NULL: not judged yet) */
        uint64_t until;         /* CLOCK_REALTIME usec when that ends as far as known, 0 = unknown */
        struct drop *next;
};

/* ---- fingerprints ---- */

static void hash_bytes(uint64_t *h, const void *data, size_t n) {
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i++) {
                *h ^= p[i];
                *h *= 0x100000001b3ULL;
        }
}

struct fingerprint {
        uint64_t hash;
        bool ready_marker;
        bool writer;            /* only filled in by the writer check */
        int writer_unknown;     /* the check could not be made: -errno */
        char *incomplete;       /* likewise: the first file that looks cut short, and why */
        size_t entries;
        int error;              /* -errno: a look failed, so the walk says nothing about completeness */
};

/* A failed look (not ENOENT: a file removed while walked is a change, seen as such). */
static void fingerprint_failed(struct fingerprint *fp, int err) {
        if (err != ENOENT && fp->error == 0)
                fp->error = -err;
}

/* An upload that was interrupted, or a client that makes the file before it
 * writes it, leaves a file that is empty or a PDF without its end. Says why, or NULL. */
static const char *looks_incomplete(int dirfd, const char *name, const struct stat *st) {
        char head[5], tail[2048];
        int fd;

        if (st->st_size == 0)
                return "it is empty";
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return NULL;
        const char *why = NULL;
        if (pread(fd, head, sizeof(head), 0) == (ssize_t) sizeof(head) && memcmp(head, "%PDF-", 5) == 0) {
                off_t from = st->st_size > (off_t) sizeof(tail) ? st->st_size - (off_t) sizeof(tail) : 0;
                ssize_t n = pread(fd, tail, sizeof(tail), from);
                if (n > 0 && !memmem(tail, (size_t) n, "%%EOF", 5))
                        why = "it is a PDF that does not end with %%EOF";
        }
        close(fd);
        return why;
}

static void note_incomplete(struct fingerprint *fp, const char *path, const char *why) {
        if (!fp->incomplete)
                fp->incomplete = xasprintf("%s: %s", path, why);
}

static void fingerprint_stat(struct fingerprint *fp, const char *name, const struct stat *st) {
        hash_bytes(&fp->hash, name, strlen(name) + 1);
        hash_bytes(&fp->hash, &st->st_ino, sizeof(st->st_ino));
        hash_bytes(&fp->hash, &st->st_mode, sizeof(st->st_mode));
        hash_bytes(&fp->hash, &st->st_size, sizeof(st->st_size));
        hash_bytes(&fp->hash, &st->st_mtim, sizeof(st->st_mtim));
        hash_bytes(&fp->hash, &st->st_ctim, sizeof(st->st_ctim));
        fp->entries++;
}

static void fingerprint_writer(struct fingerprint *fp, int dirfd, const char *name) {
        int k = fs_has_writer(dirfd, name);
        fp->writer = k > 0;
        if (k < 0 && errno_is_transient(k))
                fingerprint_failed(fp, -k);  /* could not look now: not "no writer" */
        else if (k < 0 && k != -ENOENT)
                fp->writer_unknown = k;      /* cannot be told here at all (no leases) */
}

/* Walk a drop; with check_writers, also ask whether anyone writes one of its files. */
static void fingerprint_dir(const struct queue_config *qc, int fd, struct fingerprint *fp, bool check_writers,
                            int depth) {
        DIR *d = fdopendir(fd);
        struct dirent *de;

        if (!d) {
                fingerprint_failed(fp, errno);
                close(fd);
                return;
        }
        for (;;) {
                struct stat st;
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                fingerprint_failed(fp, errno);
                        break;
                }
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                if (depth == 0 && qc->ready_marker && strcmp(de->d_name, qc->ready_marker) == 0)
                        fp->ready_marker = true;
                if (classify_is_ignored(qc, de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        fingerprint_failed(fp, errno);
                        continue;
                }
                fingerprint_stat(fp, de->d_name, &st);
                if (S_ISDIR(st.st_mode) && depth < 64) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                fingerprint_dir(qc, sub, fp, check_writers, depth + 1);
                        else
                                fingerprint_failed(fp, errno);
                } else if (check_writers && S_ISREG(st.st_mode)) {
                        if (!fp->writer)
                                fingerprint_writer(fp, dirfd(d), de->d_name);
                        const char *why = fp->incomplete ? NULL : looks_incomplete(dirfd(d), de->d_name, &st);
                        if (why)
                                note_incomplete(fp, de->d_name, why);
                }
        }
        closedir(d);
}

/* A share-side request (control.h): "BATCH.cancel" and the like. */
static bool is_request_name(const char *name) {
        char *batch = NULL;
        const char *action;
        bool is = control_share_parse(name, &batch, &action);
        free(batch);
        return is;
}

static int fingerprint_drop(struct queue *q, const char *name, bool check_writers, struct fingerprint *fp,
                            struct stat *ret_st) {
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        *fp = (struct fingerprint) { .hash = 0xcbf29ce484222325ULL };
        if (inbox < 0)
                return -errno;
        if (fstatat(inbox, name, ret_st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = -errno;
                close(inbox);
                return r;
        }
        fingerprint_stat(fp, name, ret_st);
        if (S_ISDIR(ret_st->st_mode)) {
                int fd = openat(inbox, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        fingerprint_dir(q->cfg, fd, fp, check_writers, 0);
                else
                        fingerprint_failed(fp, errno);
        } else if (check_writers && S_ISREG(ret_st->st_mode)) {
                fingerprint_writer(fp, inbox, name);
                /* A share-side request is an empty file: empty is what it should be. */
                const char *why = is_request_name(name) ? NULL : looks_incomplete(inbox, name, ret_st);
                if (why)
                        note_incomplete(fp, name, why);
        }
        close(inbox);
        return 0;
}

/* ---- drops ---- */

static struct drop *drop_find(struct queue *q, const char *name) {
        for (struct drop *d = q->intake->drops; d; d = d->next)
                if (strcmp(d->name, name) == 0)
                        return d;
        return NULL;
}

static void drop_forget(struct drop *d) {
        struct queue *q = d->queue;
        for (struct drop **p = &q->intake->drops; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        sd_event_source_disable_unref(d->timer);
        free(d->why);
        free(d->name);
        free(d);
}

static int on_drop_check(sd_event_source *s, uint64_t usec, void *userdata);

static void drop_schedule(struct drop *d, uint64_t delay) {
        if (!d->timer) {
                if (sd_event_add_time_relative(d->queue->spool->event, &d->timer, CLOCK_MONOTONIC, delay,
                                               10 * USEC_PER_MSEC, on_drop_check, d) < 0)
                        return;
        } else
                (void) sd_event_source_set_time_relative(d->timer, delay);
        /* the first look is not put off to share a wakeup; later ones may be */
        (void) sd_event_source_set_time_accuracy(d->timer, delay < MIN_CHECK_USEC ? USEC_PER_MSEC : 10 * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
}

static uint64_t interval_for(uint64_t settle_usec, uint64_t walk_usec) {
        uint64_t i = settle_usec / 4;
        if (i < MIN_CHECK_USEC)
                i = MIN_CHECK_USEC;
        if (i > MAX_CHECK_USEC)
                i = MAX_CHECK_USEC;
        /* A big drop is walked less often, so walking never eats the loop. */
        if (i < 4 * walk_usec)
                i = 4 * walk_usec;
        return i;
}

static uint64_t check_interval(const struct drop *d) {
        return interval_for(config_queue_settle(d->queue->cfg, d->queue->intake->remote), d->walk_usec);
}

uint64_t intake_wait(const struct queue_config *qc, const struct intake_look *look, uint64_t now) {
        uint64_t settle_usec = config_queue_settle(qc, look->remote);
        uint64_t next = interval_for(settle_usec, look->walk_usec);
        /* Every rule counts from the last change: none ends a wait while the drop still changes. */
        uint64_t quiet = now > look->stable_since ? now - look->stable_since : 0;
        /* A manifest is the commit marker: it only has to be quiet for one look. */
        uint64_t settle = look->manifest ? MIN_CHECK_USEC : settle_usec;

        /* Where other machines write, a pause of the writer looks like the end:
         * two looks in a row must agree, whatever else says "complete". */
        if (look->remote && !look->looks_equal)
                return next;
        if (!look->ready_marker && quiet < settle)
                return settle - quiet < next ? settle - quiet : next;
        /* Quiet long enough; but a writer that holds a file open is not done. */
        if (look->writer)
                return next;
        /* Quiet and closed, but cut short: give the uploader a chance to resume. */
        if (look->incomplete && quiet < qc->incomplete_wait_usec)
                return qc->incomplete_wait_usec - quiet < next ? qc->incomplete_wait_usec - quiet : next;
        return 0;
}

/* A top-level file that is not a PDF, a manifest nor an archive leaves the inbox,
 * with a status file in <outbox>/rejected/ that says why: never looked at again.
 * It is first moved into <state>/<queue>/rejected/, out of every user's reach. A
 * regular file with one link is then copied, by the daemon from a descriptor, to
 * <outbox>/rejected/, and the moved one goes. A link, FIFO, device, or a hard link
 * to a file that also exists elsewhere stays in the state directory: the outbox
 * never holds, and the daemon never re-modes, an inode that someone else made. */
static void reject_file(struct queue *q, const char *name, const char *reason, bool keep_in_outbox) {
        struct log_ctx ctx = { .queue = q->name };
        char *dir = xasprintf("%s/rejected", q->cfg->outbox);
        char *hidden = xasprintf("%s/rejected", q->state_path);
        char *kept = NULL;
        int r = fs_mkdirat_p_owned(AT_FDCWD, dir, q->cfg->dir_mode, q->gid);

        if (r == 0)
                r = fs_mkdir_p(hidden, 0700);
        /* room for ".status.json" beside it */
        char *base = strlen(name) + 12 > NAME_MAX ? xstrndup(name, NAME_MAX - 12) : xstrdup(name);
        for (unsigned i = 1; r == 0; i++) {
                free(kept);
                kept = i == 1 ? xstrdup(base) : names_with_suffix(base, i, true);
                if (strlen(kept) + 12 > NAME_MAX)
                        kept[NAME_MAX - 12] = 0;
                char *from = xasprintf("%s/%s", q->cfg->inbox, name);
                char *to = xasprintf("%s/%s", hidden, kept);
                char *st = xasprintf("%s/%s.status.json", dir, kept);
                char *shown = xasprintf("%s/%s", dir, kept);
                bool taken = access(st, F_OK) == 0 || faccessat(AT_FDCWD, shown, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                r = taken ? -EEXIST : fs_move(from, to, true);
                free(from);
                free(to);
                free(st);
                free(shown);
                if (r != -EEXIST)
                        break;
                r = 0;
        }
        free(base);
        if (r < 0) {
                if (r != -ENOENT)
                        log_full(LOG_ERR, &ctx, -r, NULL, "cannot move rejected file %s out of the inbox: %s", name,
                                 strerror(-r));
                free(kept);
                free(dir);
                free(hidden);
                return;
        }
        bool in_outbox = false;
        if (keep_in_outbox) {
                /* Judged again on the descriptor that is copied: what was moved is what counts. */
                int hfd = open(hidden, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int fd = hfd < 0 ? -1 : openat(hfd, kept, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                struct stat st;
                if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
                        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        r = dfd < 0 ? -errno : fs_copy_fd(fd, dfd, kept, q->cfg->file_mode, q->gid, true);
                        if (dfd >= 0)
                                close(dfd);
                        if (r == 0) {
                                in_outbox = true;
                                (void) unlinkat(hfd, kept, 0);
                        } else
                                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot copy rejected file %s into %s: %s", name,
                                         dir, strerror(-r));
                } else if (fd >= 0 && S_ISREG(st.st_mode))
                        reason = CLASSIFY_REASON_HARD_LINK;
                if (fd >= 0)
                        close(fd);
                if (hfd >= 0)
                        close(hfd);
        }
        char *why = in_outbox ? xstrdup(reason) : xasprintf("%s; kept in the spool's state", reason);
        char buf[40];
        json_t *j = json_pack("{s:o,s:s,s:s,s:s,s:s,s:b}", "file", names_to_json_display(kept), "queue", q->name,
                              "state", "rejected", "reason", why, "rejected",
                              format_rfc3339(buf, sizeof(buf), now_usec(CLOCK_REALTIME)), "kept", in_outbox);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *stname = xasprintf("%s.status.json", kept);
        if (dfd >= 0) {
                (void) status_write_json(dfd, stname, j, q->cfg->file_mode, q->gid);
                close(dfd);
        }
        json_decref(j);
        log_full(LOG_WARNING, &ctx, 0, MSGID_DROP_REJECTED, "rejected %s: %s; %s %s/%s", name, why,
                 in_outbox ? "copied to" : "kept out of sight in", in_outbox ? dir : hidden, kept);
        free(why);
        free(stname);
        free(kept);
        free(dir);
        free(hidden);
}

/* ---- manifests: the commit marker of a batch ---- */

/* How long one look at a waiting manifest's files may hold the loop: a
 * manifest may list 100,000 paths, each a few system calls, so a look at all
 * of them (a sweep) is spread over loop passes of at most this long. */
#define MANIFEST_SLICE_USEC (20 * USEC_PER_MSEC)

struct pending_manifest {
        struct queue *queue;
        char *name;
        struct manifest *manifest;
        struct name_set *tops;  /* the first component of every listed path */
        uint64_t since;         /* CLOCK_MONOTONIC */
        bool said_waiting;
        sd_event_source *timer;
        /* The sweep in progress: the next file to look at, and what the files
         * before it were (missing points into manifest's paths). */
        size_t next;
        char **missing;
        size_t n_missing, busy;
        struct pending_manifest *next_pending;
};

static void pending_free(struct pending_manifest *p) {
        struct queue *q = p->queue;
        for (struct pending_manifest **pp = &q->intake->manifests; *pp; pp = &(*pp)->next_pending)
                if (*pp == p) {
                        *pp = p->next_pending;
                        break;
                }
        sd_event_source_disable_unref(p->timer);
        manifest_free(p->manifest);
        name_set_free(p->tops);
        free(p->missing);
        free(p->name);
        free(p);
}

static struct pending_manifest *pending_find(struct queue *q, const char *name) {
        for (struct pending_manifest *p = q->intake->manifests; p; p = p->next_pending)
                if (strcmp(p->name, name) == 0)
                        return p;
        return NULL;
}

/* Is the top-level NAME part of what a waiting manifest lists? Then it is not a drop of its own. */
static bool held_by_manifest(struct queue *q, const char *name) {
        for (struct pending_manifest *p = q->intake->manifests; p; p = p->next_pending)
                if (p->tops && name_set_contains(p->tops, name))
                        return true;
        return false;
}

static void fingerprint_dir(const struct queue_config *qc, int fd, struct fingerprint *fp, bool check_writers,
                            int depth);

/* What a failed look at a listed path means: absent when the path is not
 * there (or goes through something that is not a folder, or a link); any other
 * error is a failure to look, which is not an answer: wait and look again. */
static int manifest_look_failed(int err) {
        return err == ENOENT || err == ENOTDIR || err == ELOOP ? 0 : -EBUSY;
}

/* Present and complete: closed by every writer and not cut short. Settle does
 * not apply: the manifest says the set is complete. */
static int manifest_entry_state(struct queue *q, int inbox, const char *path) {
        const char *last;
        struct stat st;
        int parent = fs_open_parent(inbox, path, &last);
        int r = 1;

        if (parent < 0)
                return manifest_look_failed(-parent);
        if (fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = manifest_look_failed(errno);
        else if (S_ISDIR(st.st_mode)) {
                struct fingerprint fp = { .hash = 0xcbf29ce484222325ULL };
                int fd = openat(parent, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0) {
                        fingerprint_dir(q->cfg, fd, &fp, true, 0);
                        r = fp.writer || fp.incomplete ? -EBUSY : 1;
                } else
                        r = manifest_look_failed(errno);
                free(fp.incomplete);
        } else if (S_ISREG(st.st_mode))
                r = fs_has_writer(parent, last) > 0 || looks_incomplete(parent, last, &st) ? -EBUSY : 1;
        close(parent);
        return r; /* 1 ready, 0 missing, -EBUSY still being written or not looked at */
}

/* Look again at P's files from where the last slice stopped, for at most
 * MANIFEST_SLICE_USEC; true when the sweep reached the end. */
static bool manifest_sweep(struct pending_manifest *p, int inbox) {
        const struct manifest *m = p->manifest;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        while (p->next < m->n_files) {
                int k = manifest_entry_state(p->queue, inbox, m->files[p->next].path);
                if (k == 0)
                        p->missing[p->n_missing++] = m->files[p->next].path;
                else if (k < 0)
                        p->busy++;
                p->next++;
                if (p->next % 64 == 0 && now_usec(CLOCK_MONOTONIC) - start >= MANIFEST_SLICE_USEC)
                        return false;
        }
        return true;
}

static void manifest_check_again(struct pending_manifest *p, uint64_t usec) {
        (void) sd_event_source_set_time_relative(p->timer, usec);
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static int on_manifest_check(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pending_manifest *p = userdata;
        struct queue *q = p->queue;
        uint64_t now;

        if (q->intake->hold_reason || q->spool->stopping)
                return 0;
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int err = inbox < 0 ? errno : 0;
        if (p->next == 0) {
                struct stat st;
                if (inbox >= 0 && fstatat(inbox, p->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        err = errno;
                if (err == ENOENT) {
                        /* The manifest went away: its owner changed their mind (or
                         * the inbox did; the manifest is read again when it is back). */
                        if (inbox >= 0)
                                close(inbox);
                        pending_free(p);
                        return 0;
                }
                if (err) {
                        /* Could not look: that is no answer. Look again later. */
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, err, NULL,
                                 "cannot look at manifest %s: %s; looking again", p->name, strerror(err));
                        if (inbox >= 0)
                                close(inbox);
                        manifest_check_again(p, 500 * USEC_PER_MSEC);
                        return 0;
                }
                if (!p->missing)
                        p->missing = xcalloc(p->manifest->n_files, sizeof(char *));
                p->n_missing = p->busy = 0;
        } else if (inbox < 0) {
                /* Cannot look mid-sweep: start the sweep again later. */
                p->next = 0;
                manifest_check_again(p, 500 * USEC_PER_MSEC);
                return 0;
        }
        bool swept = manifest_sweep(p, inbox);
        close(inbox);
        if (!swept) {
                /* The rest in a later pass: other events first. */
                manifest_check_again(p, 0);
                return 0;
        }
        p->next = 0;
        now = now_usec(CLOCK_MONOTONIC);
        size_t n_missing = p->n_missing, busy = p->busy;
        bool timed_out = now - p->since >= q->cfg->manifest_timeout_usec;
        if ((n_missing == 0 && busy == 0) || timed_out) {
                if (timed_out)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "manifest %s: %zu listed file%s still missing after %.0f s; taking the batch without them",
                                 p->name, n_missing, n_missing == 1 ? "" : "s",
                                 (double) q->cfg->manifest_timeout_usec / USEC_PER_SEC);
                char *name = xstrdup(p->name);
                struct manifest *man = p->manifest;
                char **missing = p->missing;
                p->manifest = NULL;
                p->missing = NULL;
                /* Out of the pending list first: the claim must not see its own files held. */
                pending_free(p);
                struct intake *in = q->intake;
                (void) in->h->manifest_ready(q, name, man, missing, n_missing, in->userdata);
                manifest_free(man);
                free(name);
                free(missing);
                return 0;
        }
        if (!p->said_waiting) {
                log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                         "manifest %s waits for %zu missing and %zu incomplete file%s (at most %.0f s)", p->name,
                         n_missing, busy, n_missing + busy == 1 ? "" : "s",
                         (double) q->cfg->manifest_timeout_usec / USEC_PER_SEC);
                p->said_waiting = true;
        }
        uint64_t left = q->cfg->manifest_timeout_usec - (now - p->since);
        manifest_check_again(p, left < 500 * USEC_PER_MSEC ? left : 500 * USEC_PER_MSEC);
        return 0;
}

/* A complete manifest file: read it; a broken one is refused whole. */
static void manifest_take(struct queue *q, const char *name) {
        char *path = xasprintf("%s/%s", q->cfg->inbox, name);
        struct manifest *m = NULL;
        char *error = NULL;
        int r = manifest_load(path, &m, &error);

        if (r < 0 && errno_is_transient(r)) {
                /* Could not read it now: not a broken manifest. It stays in the inbox
                 * and is looked at again when the queue's deferral is over. */
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL, "cannot read manifest %s: %s",
                         path, error ? error : strerror(-r));
                (void) spool_defer(q, "cannot read a manifest", r);
                free(error);
                free(path);
                return;
        }
        if (r < 0) {
                /* Show the file by its name in the inbox, not the server's path. */
                size_t n = strlen(q->cfg->inbox);
                const char *msg = error ? error : strerror(-r);
                if (error && strncmp(error, q->cfg->inbox, n) == 0 && error[n] == '/')
                        msg = error + n + 1;
                char *reason = xasprintf("manifest refused, nothing was taken: %s", msg);
                reject_file(q, name, reason, true);
                free(reason);
                free(error);
                free(path);
                return;
        }
        free(path);
        struct pending_manifest *p = xcalloc(1, sizeof(*p));
        p->queue = q;
        p->name = xstrdup(name);
        p->manifest = m;
        p->tops = name_set_new();
        for (size_t i = 0; i < m->n_files; i++) {
                char *top = xstrndup(m->files[i].path, strcspn(m->files[i].path, "/"));
                name_set_add(p->tops, top);
                free(top);
        }
        p->since = now_usec(CLOCK_MONOTONIC);
        p->next_pending = q->intake->manifests;
        q->intake->manifests = p;
        if (sd_event_add_time_relative(q->spool->event, &p->timer, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
                                       on_manifest_check, p) >= 0)
                (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static void drop_take(struct drop *d, const struct stat *st) {
        struct queue *q = d->queue;
        char *name = xstrdup(d->name);
        const char *reason = NULL;

        if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
                /* Another name for it exists elsewhere (perhaps someone else's file): not
                 * taken as a PDF, an archive nor a manifest, and kept out of the outbox. */
                drop_forget(d);
                reject_file(q, name, CLASSIFY_REASON_HARD_LINK, false);
                free(name);
                return;
        }
        char *batch = NULL;
        const char *action = NULL;
        if (S_ISREG(st->st_mode) && q->intake->h->control_ready && control_share_parse(name, &batch, &action)) {
                char *why = NULL;
                int r = q->intake->h->control_ready(q, name, batch, action, &why, q->intake->userdata);
                free(batch);
                if (r < 0)
                        drop_schedule(d, 10 * check_interval(d));
                else {
                        drop_forget(d);
                        char *path = xasprintf("%s/%s", q->cfg->inbox, name);
                        if (r == 0 && unlink(path) < 0 && errno != ENOENT)
                                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, errno, NULL,
                                         "request %s done, but it cannot be removed from the inbox: %m", name);
                        free(path);
                        if (r > 0)
                                reject_file(q, name, why ? why : "request refused", true);
                }
                free(why);
                free(name);
                return;
        }
        if (S_ISREG(st->st_mode) && manifest_is_name(name)) {
                drop_forget(d);
                manifest_take(q, name);
                free(name);
                return;
        }
        if (S_ISREG(st->st_mode)) {
                int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                enum file_kind k = inbox >= 0 ? classify_file(inbox, name, st, &reason) : FILE_PDF;
                int sniff = k != FILE_PDF && inbox >= 0 ? unpack_sniff(inbox, name) : 0;
                bool archive = sniff == 1;
                if (inbox >= 0)
                        close(inbox);
                if (sniff < 0 && errno_is_transient(sniff)) {
                        /* Could not look inside: never rejected for that; looked at again. */
                        drop_schedule(d, 10 * check_interval(d));
                        free(name);
                        return;
                }
                if (k != FILE_PDF && !archive) {
                        drop_forget(d);
                        reject_file(q, name, reason, true);
                        free(name);
                        return;
                }
        } else if (!S_ISDIR(st->st_mode)) {
                drop_forget(d);
                reject_file(q, name, classify_special_reason(st), false);
                free(name);
                return;
        }
        int r = q->intake->h->drop_ready(q, name, q->intake->userdata);
        if (r < 0 && r != -ENOENT) {
                /* Still in the inbox, untouched: it is taken when the queue's work may go on. */
                d->said_incomplete = false;
                free(d->why);
                d->why = q->drops_wait ? xasprintf("%s: waits in the inbox", q->drops_wait)
                       : queue_deferred(q) && q->defer_reason ? xasprintf("the queue waits: %s", q->defer_reason)
                                                              : xstrdup("could not be taken yet: see the log");
                d->until = 0;
                drop_schedule(d, queue_deferred(q) ? q->defer_until - now_usec(CLOCK_REALTIME)
                                                         : 10 * check_interval(d));
        } else
                drop_forget(d);
        free(name);
}

static void say_writer_unknown(struct queue *q, int writer_unknown) {
        if (!writer_unknown || q->intake->said_no_writer_check)
                return;
        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, -writer_unknown, NULL,
                 "cannot tell whether a writer still has files of the inbox open (%s%s); completion "
                 "relies on the settle period and on files that look cut short",
                 strerror(-writer_unknown),
                 writer_unknown == -EACCES ? ": the daemon needs CAP_LEASE for files of other users" : "");
        q->intake->said_no_writer_check = true;
}

/* How long D still waits after a full look (LOOK without its cut-short verdict;
 * INCOMPLETE says why a file looks cut short, or NULL). */
static uint64_t drop_wait(struct drop *d, struct intake_look *look, const char *incomplete, uint64_t now) {
        struct queue *q = d->queue;
        uint64_t wait = intake_wait(q->cfg, look, now);

        look->incomplete = incomplete != NULL;
        if (wait == 0 && (wait = intake_wait(q->cfg, look, now)) > 0) {
                /* Only the cut-short rule holds it back: say so once. */
                if (!d->said_incomplete)
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "waiting for %s: %s; taken as it is after %.0f s without change", d->name,
                                 incomplete, (double) q->cfg->incomplete_wait_usec / USEC_PER_SEC);
                d->said_incomplete = true;
        }
        return wait;
}

/* Why D waits (the rule that holds it back), for pdfspoolctl pending; WAIT
 * is what drop_wait said (usec, > 0). */
static void drop_note(struct drop *d, const struct intake_look *look, const char *incomplete, uint64_t wait,
                      uint64_t now) {
        const struct queue_config *qc = d->queue->cfg;
        uint64_t quiet = now > look->stable_since ? now - look->stable_since : 0, left = wait;
        uint64_t settle = look->manifest ? 0 : config_queue_settle(qc, look->remote);

        free(d->why);
        if (look->writer) {
                d->why = xstrdup("a file is open for writing");
                left = 0;
        } else if (incomplete && (look->ready_marker || quiet >= settle)) {
                d->why = xasprintf("%s: waiting", incomplete);
                left = qc->incomplete_wait_usec > quiet ? qc->incomplete_wait_usec - quiet : 0;
        } else if (!look->ready_marker && quiet < settle) {
                d->why = xstrdup("settling: nothing in it may change for the settle period");
                left = settle - quiet;
        } else {
                d->why = xstrdup("waiting for a second look that agrees");
                left = 0;
        }
        d->until = left ? now_usec(CLOCK_REALTIME) + left : 0;
}

static void refresh_view(struct intake *in) {
        struct watch_view v;

        watch_get_view(in->watch, &v);
        in->polled = v.mode == WATCH_POLL;
        in->remote = v.remote;
}

static void look_start(struct queue *q);

/* Walked slowly last time, or a folder never walked: its walk goes to the look child. */
static bool drop_walk_may_be_slow(const struct drop *d) {
        if (d->walk_usec > SLOW_WALK_USEC)
                return true;
        if (d->walk_usec > 0)
                return false;
        char *path = xasprintf("%s/%s", d->queue->cfg->inbox, d->name);
        struct stat st;
        bool dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        free(path);
        return dir;
}

static int on_drop_check(sd_event_source *s, uint64_t usec, void *userdata) {
        struct drop *d = userdata;
        struct queue *q = d->queue;
        struct fingerprint fp;
        struct stat st;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        if (q->intake->hold_reason || q->spool->stopping)
                return 0;
        refresh_view(q->intake);
        if (q->intake->polled || drop_walk_may_be_slow(d)) {
                look_start(q); /* a polled inbox, or a big drop, is looked at by a child, never on the loop */
                return 0;
        }
        int r = fingerprint_drop(q, d->name, false, &fp, &st);
        if (r == -ENOENT) {
                drop_forget(d); /* gone: moved away or deleted by its owner */
                return 0;
        }
        if (r < 0 || fp.error < 0) {
                /* Could not look: that says nothing about the drop; look again later. */
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -(r < 0 ? r : fp.error), NULL,
                         "cannot look at %s in the inbox: %s; looking again", d->name,
                         strerror(-(r < 0 ? r : fp.error)));
                free(fp.incomplete);
                d->stable_since = now_usec(CLOCK_MONOTONIC);
                drop_schedule(d, 10 * check_interval(d));
                return 0;
        }
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        d->walk_usec = now - start;
        if (fp.hash != d->fingerprint) {
                d->fingerprint = fp.hash;
                d->stable_since = now;
        }
        if (held_by_manifest(q, d->name)) {
                drop_schedule(d, check_interval(d));
                return 0;
        }
        struct intake_look look = {
                .ready_marker = fp.ready_marker,
                /* a share-side request is a commit marker too: one quiet look */
                .manifest = S_ISREG(st.st_mode) && (manifest_is_name(d->name) || is_request_name(d->name)),
                .stable_since = d->stable_since,
                .walk_usec = d->walk_usec,
                .remote = q->intake->remote,
                .looks_equal = true, /* the second walk below checks it */
        };
        uint64_t wait = intake_wait(q->cfg, &look, now);
        free(fp.incomplete); /* judged after the writer check */
        if (wait > 0) {
                drop_schedule(d, wait);
                return 0;
        }
        r = fingerprint_drop(q, d->name, true, &fp, &st);
        if (r == -ENOENT) {
                drop_forget(d);
                return 0;
        }
        if (r < 0 || fp.error < 0) {
                free(fp.incomplete);
                drop_schedule(d, 10 * check_interval(d));
                return 0;
        }
        say_writer_unknown(q, fp.writer_unknown);
        now = now_usec(CLOCK_MONOTONIC);
        if (fp.hash != d->fingerprint) {
                /* Changed between the two looks: not quiet after all (ready marker or not). */
                d->fingerprint = fp.hash;
                d->stable_since = now;
                free(fp.incomplete);
                drop_schedule(d, check_interval(d));
                return 0;
        }
        look.stable_since = d->stable_since;
        look.writer = fp.writer;
        wait = drop_wait(d, &look, fp.incomplete, now);
        if (wait > 0) {
                free(fp.incomplete);
                drop_schedule(d, wait);
                return 0;
        }
        free(fp.incomplete);
        drop_take(d, &st);
        return 0;
}

static struct drop *drop_new(struct queue *q, const char *name) {
        struct drop *d = xcalloc(1, sizeof(*d));

        d->queue = q;
        d->name = xstrdup(name);
        d->next = q->intake->drops;
        q->intake->drops = d;
        d->stable_since = now_usec(CLOCK_MONOTONIC);
        return d;
}

/* ---- polled inboxes: a child looks, under a deadline ---- */

static void look_hold(struct queue *q, const char *why) {
        struct intake *in = q->intake;

        if (in->hold_reason)
                return; /* once */
        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name, .state = "hold" }, 0, MSGID_QUEUE_HOLD,
                 "queue on hold: %s; drops that were settling keep their state; it resumes by itself when the "
                 "inbox reads again", why);
        in->hold_reason = xstrdup(why);
        in->look_hold = true;
}

static void look_resume(struct queue *q) {
        struct intake *in = q->intake;

        if (!in->look_hold)
                return;
        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, MSGID_QUEUE_HOLD,
                 "inbox %s reads again; queue resumed", q->cfg->inbox);
        free(in->hold_reason);
        in->hold_reason = NULL;
        in->look_hold = false;
        in->look_hung = false;
}

/* In the child: list the inbox and fingerprint every drop (with the writer
 * and cut-short checks), as JSON into OUT. Exits. */
_Noreturn static void look_child_main(struct queue *q, int out) {
        json_t *entries = json_array();
        DIR *dir = opendir(q->cfg->inbox);
        int err = dir ? 0 : errno;
        while (dir) {
                errno = 0;
                struct dirent *de = readdir(dir);
                if (!de) {
                        err = errno; /* a listing cut short is no listing */
                        break;
                }
                if (fs_dot_or_dotdot(de->d_name) || classify_is_ignored(q->cfg, de->d_name))
                        continue;
                struct fingerprint fp;
                struct stat st = {};
                uint64_t start = now_usec(CLOCK_MONOTONIC);
                int r = fingerprint_drop(q, de->d_name, true, &fp, &st);
                bool steady = false;
                if (r == 0 && fp.error == 0 && fp.ready_marker && !q->intake->polled) {
                        /* As on the loop: a second walk, writers checked last, that
                         * agrees makes the look need no second look 100 ms later. */
                        uint64_t first = fp.hash;
                        free(fp.incomplete);
                        r = fingerprint_drop(q, de->d_name, true, &fp, &st);
                        steady = r == 0 && fp.error == 0 && fp.hash == first;
                }
                if (r == -ENOENT) {
                        free(fp.incomplete);
                        continue;
                }
                char hash[17];
                snprintf(hash, sizeof(hash), "%016" PRIx64, fp.hash);
                json_t *e = json_pack("{s:o,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:i,s:I}", "name",
                                      names_to_json_exact(de->d_name), "error", r < 0 ? -r : -fp.error, "hash", hash,
                                      "mode", (json_int_t) st.st_mode, "nlink", (json_int_t) st.st_nlink, "size",
                                      (json_int_t) st.st_size, "ino", (json_int_t) st.st_ino, "dev",
                                      (json_int_t) st.st_dev, "ready", fp.ready_marker, "writer", fp.writer,
                                      "writer_unknown", fp.writer_unknown, "walk_usec",
                                      (json_int_t) (now_usec(CLOCK_MONOTONIC) - start));
                if (steady)
                        json_object_set_new(e, "steady", json_true());
                if (fp.incomplete)
                        json_object_set_new(e, "incomplete", names_to_json_exact(fp.incomplete));
                free(fp.incomplete);
                json_array_append_new(entries, e);
        }
        if (dir)
                closedir(dir);
        json_t *res = json_pack("{s:i,s:o}", "errno", err, "entries", entries);
        /* one write, not jansson's byte-sized ones (json_dumpfd): a listing of a
         * busy inbox is hundreds of KB */
        char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
        size_t len = text ? strlen(text) : 0, done = 0;
        while (text && done < len) {
                ssize_t n = write(out, text + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(1);
                done += (size_t) n;
        }
        _exit(text ? 0 : 1);
}

/* Look again within USEC (or sooner, if a look is already due). */
static void look_soon(struct queue *q, uint64_t usec) {
        struct intake *in = q->intake;
        uint64_t at = now_usec(CLOCK_MONOTONIC) + usec, due;
        int enabled = SD_EVENT_OFF;

        if (!in->look_timer)
                return;
        (void) sd_event_source_get_enabled(in->look_timer, &enabled);
        if (enabled != SD_EVENT_OFF && sd_event_source_get_time(in->look_timer, &due) >= 0 && due <= at)
                return;
        (void) sd_event_source_set_time(in->look_timer, at);
        (void) sd_event_source_set_enabled(in->look_timer, SD_EVENT_ONESHOT);
}

/* Judge every drop from one listing: the same rules as on the loop, with the
 * child's fingerprints; two looks in a row must agree on a remote mount. */
static void look_apply(struct queue *q, json_t *entries) {
        struct intake *in = q->intake;
        uint64_t now = now_usec(CLOCK_MONOTONIC), soonest = UINT64_MAX;
        size_t i;
        json_t *e;

        for (struct drop *d = in->drops; d; d = d->next)
                d->seen = false;
        json_array_foreach(entries, i, e) {
                char *name = names_from_json_exact(json_object_get(e, "name"));
                if (!name || pending_find(q, name)) {
                        free(name);
                        continue;
                }
                struct drop *d = drop_find(q, name) ?: drop_new(q, name);
                int err = (int) json_integer_value(json_object_get(e, "error"));
                d->seen = true;
                if (err) {
                        /* Could not look: that says nothing about the drop. */
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, err, NULL,
                                 "cannot look at %s in the inbox: %s; looking again", name, strerror(err));
                        d->stable_since = now;
                        d->looks_equal = false;
                        soonest = MIN(soonest, 10 * check_interval(d));
                        free(name);
                        continue;
                }
                uint64_t hash = strtoull(json_string_value(json_object_get(e, "hash")) ?: "0", NULL, 16);
                d->looks_equal = hash == d->fingerprint;
                if (!d->looks_equal) {
                        d->fingerprint = hash;
                        d->stable_since = now;
                }
                d->walk_usec = (uint64_t) json_integer_value(json_object_get(e, "walk_usec"));
                struct stat st = {
                        .st_mode = (mode_t) json_integer_value(json_object_get(e, "mode")),
                        .st_nlink = (nlink_t) json_integer_value(json_object_get(e, "nlink")),
                        .st_size = (off_t) json_integer_value(json_object_get(e, "size")),
                        .st_ino = (ino_t) json_integer_value(json_object_get(e, "ino")),
                        .st_dev = (dev_t) json_integer_value(json_object_get(e, "dev")),
                };
                if (held_by_manifest(q, name)) {
                        soonest = MIN(soonest, check_interval(d));
                        free(name);
                        continue;
                }
                say_writer_unknown(q, (int) json_integer_value(json_object_get(e, "writer_unknown")));
                char *incomplete = names_from_json_exact(json_object_get(e, "incomplete"));
                struct intake_look look = {
                        .ready_marker = json_is_true(json_object_get(e, "ready")),
                        .manifest = S_ISREG(st.st_mode) && manifest_is_name(name),
                        .writer = json_is_true(json_object_get(e, "writer")),
                        .stable_since = d->stable_since,
                        .walk_usec = d->walk_usec,
                        .remote = in->remote,
                        .looks_equal = d->looks_equal,
                };
                /* Elsewhere the second look confirms the first; a local poll does the same. */
                look.looks_equal = look.looks_equal || !in->remote;
                uint64_t wait = drop_wait(d, &look, incomplete, now);
                /* A walk that the child repeated and found unchanged (ready marker,
                 * watched inbox) is as good as the second look. */
                bool steady = !in->polled && json_is_true(json_object_get(e, "steady"));
                if (!d->looks_equal && !steady && wait == 0)
                        wait = MIN_CHECK_USEC;
                if (wait > 0)
                        drop_note(d, &look, incomplete, wait, now);
                free(incomplete);
                free(name);
                if (wait > 0)
                        soonest = MIN(soonest, wait);
                else
                        drop_take(d, &st);
        }
        /* Not in the listing: gone, unless it arrived after the look began (its
         * event came while the child listed or walked): then the listing says
         * nothing of it, and its own check, already due, looks at it. */
        for (struct drop *d = in->drops, *next; d; d = next) {
                next = d->next;
                if (!d->seen && d->event_at < in->look_started)
                        drop_forget(d);
        }
        if (soonest != UINT64_MAX)
                look_soon(q, soonest);
}

static int on_look_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct queue *q = userdata;
        struct intake *in = q->intake;
        bool exited = si->si_code == CLD_EXITED && si->si_status == 0, timed_out = !in->look_deadline;
        json_t *res = NULL;

        in->look_child = sd_event_source_disable_unref(in->look_child);
        in->look_deadline = sd_event_source_disable_unref(in->look_deadline);
        in->look_pid = 0;
        in->look_took = now_usec(CLOCK_MONOTONIC) - in->look_started;
        struct stat st;
        if (exited && fstat(in->look_fd, &st) == 0 && st.st_size > 0) {
                /* mapped, not read a byte at a time on the loop (json_loadfd) */
                void *m = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, in->look_fd, 0);
                if (m != MAP_FAILED) {
                        res = json_loadb(m, (size_t) st.st_size, 0, NULL);
                        munmap(m, (size_t) st.st_size);
                }
        }
        close(in->look_fd);
        in->look_fd = -1;
        if (q->spool->stopping) {
                json_decref(res);
                return 0;
        }
        if (!res) {
                if (!timed_out)
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "the look at inbox %s ended without a listing; looking again", q->cfg->inbox);
                look_soon(q, q->cfg->poll_interval_usec);
        } else if (json_integer_value(json_object_get(res, "errno")) != 0) {
                int err = (int) json_integer_value(json_object_get(res, "errno"));
                char *why = xasprintf("cannot read inbox %s: %s", q->cfg->inbox, strerror(err));
                look_hold(q, why);
                free(why);
        } else if (!in->hold_reason || in->look_hold) {
                look_resume(q);
                look_apply(q, json_object_get(res, "entries"));
        }
        json_decref(res);
        if (in->look_again && (!in->hold_reason || in->look_hold)) {
                in->look_again = false;
                look_start(q);
        }
        return 0;
}

/* How long a look may take before the inbox counts as not answering: a look
 * that walks a very big drop may take longer than the usual limit. */
static uint64_t look_limit(const struct queue *q) {
        return MAX(MAX(LOOK_DEADLINE_USEC, q->cfg->poll_interval_usec), 10 * q->intake->look_took);
}

static int on_look_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        struct queue *q = userdata;
        struct intake *in = q->intake;
        uint64_t limit = look_limit(q);

        in->look_deadline = sd_event_source_disable_unref(in->look_deadline);
        (void) kill(in->look_pid, SIGKILL); /* its exit is reaped as usual */
        char *why = xasprintf("inbox %s does not answer (no listing within %.0f s)", q->cfg->inbox,
                              (double) limit / USEC_PER_SEC);
        look_hold(q, why);
        in->look_hung = in->look_hold;
        free(why);
        return 0;
}

static int on_look_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        look_start(userdata);
        return 0;
}

static void look_start(struct queue *q) {
        struct intake *in = q->intake;
        struct log_ctx ctx = { .queue = q->name };
        int r;

        if (in->look_pid > 0) {
                in->look_again = true;
                return;
        }
        int fd = memfd_create("pdfspool-look", MFD_CLOEXEC);
        if (fd < 0) {
                log_full(LOG_WARNING, &ctx, errno, NULL, "cannot look at inbox %s: %m; looking again",
                         q->cfg->inbox);
                look_soon(q, q->cfg->poll_interval_usec);
                return;
        }
        pid_t pid = fork_bound();
        if (pid < 0) {
                r = -errno;
                close(fd);
                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot look at inbox %s: %s; looking again", q->cfg->inbox,
                         strerror(-r));
                look_soon(q, q->cfg->poll_interval_usec);
                return;
        }
        if (pid == 0)
                look_child_main(q, fd);
        r = sd_event_add_child(q->spool->event, &in->look_child, pid, WEXITED, on_look_exit, q);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                close(fd);
                log_full(LOG_WARNING, &ctx, -r, NULL, "cannot look at inbox %s: %s; looking again", q->cfg->inbox,
                         strerror(-r));
                look_soon(q, q->cfg->poll_interval_usec);
                return;
        }
        in->look_pid = pid;
        in->look_fd = fd;
        in->look_started = now_usec(CLOCK_MONOTONIC);
        (void) sd_event_add_time_relative(q->spool->event, &in->look_deadline, CLOCK_MONOTONIC, look_limit(q),
                                          100 * USEC_PER_MSEC, on_look_deadline, q);
}

static void intake_event(struct queue *q, const char *name) {
        struct drop *d;

        if (classify_is_ignored(q->cfg, name) || pending_find(q, name))
                return;
        d = drop_find(q, name) ?: drop_new(q, name);
        d->stable_since = d->event_at = now_usec(CLOCK_MONOTONIC);
        /* Look soon, but not on every event of a busy copy: the first look comes
         * at once (a ready marker or a manifest may make the drop complete), the
         * next ones every check interval while it changes. */
        int enabled = SD_EVENT_OFF;
        if (d->timer)
                (void) sd_event_source_get_enabled(d->timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                drop_schedule(d, FIRST_CHECK_USEC);
}

void intake_rescan(struct queue *q, const char *reason) {
        DIR *dir;
        struct dirent *de;

        if (!q->intake || (q->intake->hold_reason && !q->intake->look_hold))
                return;
        if (reason)
                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL, "rescanning inbox %s: %s",
                         q->cfg->inbox, reason);
        refresh_view(q->intake);
        if (q->intake->polled) {
                look_start(q);
                return;
        }
        dir = opendir(q->cfg->inbox);
        if (!dir) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, errno, NULL, "cannot read inbox %s: %m",
                         q->cfg->inbox);
                return;
        }
        look_resume(q); /* held by a poll, now watched by inotify and read */
        for (struct drop *d = q->intake->drops; d; d = d->next)
                d->seen = false;
        while ((de = readdir(dir))) {
                if (fs_dot_or_dotdot(de->d_name) ||
                    classify_is_ignored(q->cfg, de->d_name))
                        continue;
                struct drop *d = drop_find(q, de->d_name);
                if (d) {
                        d->seen = true; /* already settling; a rescan is no change... */
                        int enabled = SD_EVENT_OFF;
                        if (d->timer)
                                (void) sd_event_source_get_enabled(d->timer, &enabled);
                        if (enabled == SD_EVENT_OFF) /* ...unless a hold stopped its checks */
                                drop_schedule(d, MIN_CHECK_USEC);
                } else if (!pending_find(q, de->d_name)) {
                        intake_event(q, de->d_name);
                        q->intake->drops->seen = true;
                }
        }
        closedir(dir);
        for (struct pending_manifest *p = q->intake->manifests; p; p = p->next_pending) {
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(p->timer, &enabled);
                if (enabled == SD_EVENT_OFF) {
                        (void) sd_event_source_set_time_relative(p->timer, MIN_CHECK_USEC);
                        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
                }
        }
        for (struct drop *d = q->intake->drops, *next; d; d = next) {
                next = d->next;
                if (!d->seen)
                        drop_forget(d);
        }
}

static void on_changed(const char *name, void *userdata) {
        intake_event(userdata, name);
}

static void on_rescan(const char *reason, void *userdata) {
        intake_rescan(userdata, reason);
}

static void on_hold(const char *reason, void *userdata) {
        struct queue *q = userdata;
        free(q->intake->hold_reason);
        q->intake->hold_reason = reason ? xstrdup(reason) : NULL;
        q->intake->look_hold = false;
}

static const struct watch_handlers watch_handlers = {
        .changed = on_changed,
        .rescan = on_rescan,
        .hold = on_hold,
};

int intake_start(struct queue *q, const struct intake_handlers *h, void *userdata) {
        struct intake *in = xcalloc(1, sizeof(*in));

        in->queue = q;
        in->h = h;
        in->userdata = userdata;
        in->look_fd = -1;
        q->intake = in;
        int r = sd_event_add_time_relative(q->spool->event, &in->look_timer, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
                                           on_look_timer, q);
        if (r >= 0)
                (void) sd_event_source_set_enabled(in->look_timer, SD_EVENT_OFF);
        else
                in->look_timer = NULL;
        r = watch_new(q->spool->event, q->cfg, q->spool->config->rescan_interval_usec, &watch_handlers, q,
                          &in->watch);
        if (r < 0) {
                intake_stop(q);
                return r;
        }
        intake_rescan(q, NULL);
        return 0;
}

void intake_stop(struct queue *q) {
        struct intake *in = q->intake;

        if (!in)
                return;
        watch_free(in->watch);
        if (in->look_pid > 0) {
                /* A look in flight: killable even on a hung mount (FUSE and NFS
                 * waits are). Not waited for here, never blocking a reload. */
                (void) kill(in->look_pid, SIGKILL);
                (void) waitpid(in->look_pid, NULL, WNOHANG);
        }
        sd_event_source_disable_unref(in->look_child);
        sd_event_source_disable_unref(in->look_deadline);
        sd_event_source_disable_unref(in->look_timer);
        if (in->look_fd >= 0)
                close(in->look_fd);
        while (in->drops)
                drop_forget(in->drops);
        while (in->manifests)
                pending_free(in->manifests);
        free(in->hold_reason);
        free(in);
        q->intake = NULL;
}

const char *intake_hold_reason(const struct queue *q) {
        return q->intake ? q->intake->hold_reason : NULL;
}

char *intake_describe(const struct queue *q, bool brief) {
        struct watch_view v;

        if (!q->intake || !q->intake->watch)
                return NULL;
        if (!brief)
                return watch_describe(q->intake->watch);
        watch_get_view(q->intake->watch, &v);
        if (!v.remote)
                return NULL;
        return xasprintf("%s mount, %s: writers on other machines are not visible", v.fs,
                         v.mode == WATCH_POLL ? "polled" : "inotify");
}

/* What of Q waits in its inbox and why: drops, manifests waiting for their files. */
static json_t *pending_json(struct queue *q) {
        json_t *list = json_array();
        uint64_t mono = now_usec(CLOCK_MONOTONIC), real = now_usec(CLOCK_REALTIME);
        char when[40];

        for (struct drop *d = q->intake->drops; d; d = d->next) {
                const struct pending_manifest *p = NULL;
                for (const struct pending_manifest *m = q->intake->manifests; m && !p; m = m->next_pending)
                        if (name_set_contains(m->tops, d->name))
                                p = m;
                char *why = p ? xasprintf("listed by manifest %s, which waits for its files", p->name)
                              : xstrdup(d->why ? d->why : "just seen: settling");
                json_array_append_new(list, json_pack("{s:s,s:o,s:s,s:s?}", "kind", "drop", "name",
                                                      names_to_json_display(d->name), "reason", why, "until",
                                                      d->until && !p ? format_rfc3339(when, sizeof(when), d->until)
                                                                     : NULL));
                free(why);
        }
        for (const struct pending_manifest *p = q->intake->manifests; p; p = p->next_pending) {
                json_t *missing = json_array();
                for (size_t i = 0; p->missing && i < p->n_missing && i < 10; i++)
                        json_array_append_new(missing, names_to_json_display(p->missing[i]));
                uint64_t end = real + (p->since + q->cfg->manifest_timeout_usec > mono
                                               ? p->since + q->cfg->manifest_timeout_usec - mono : 0);
                char *why = p->n_missing || p->busy
                                    ? xasprintf("manifest waits for %zu missing and %zu incomplete file%s",
                                                p->n_missing, p->busy, p->n_missing + p->busy == 1 ? "" : "s")
                                    : xstrdup("manifest: its files are being looked at");
                json_array_append_new(list, json_pack("{s:s,s:o,s:s,s:s,s:o,s:I}", "kind", "manifest", "name",
                                                      names_to_json_display(p->name), "reason", why, "until",
                                                      format_rfc3339(when, sizeof(when), end), "missing", missing,
                                                      "missing_total", (json_int_t) p->n_missing));
                free(why);
        }
        return list;
}

int intake_write_queues(struct spool *s, char **last) {
        json_t *queues = json_array();
        int r = 0;

        for (struct queue *q = s->queues; q; q = q->next) {
                if (q->removed || !q->intake || !q->intake->watch)
                        continue;
                struct watch_view v;
                watch_get_view(q->intake->watch, &v);
                char *sees = watch_describe(q->intake->watch);
                json_array_append_new(
                        queues, json_pack("{s:s,s:s,s:s,s:b,s:f,s:s,s:s?,s:b}", "queue", q->name, "watch",
                                          v.mode == WATCH_POLL ? "poll" : "inotify", "file_system", v.fs,
                                          "remote_writers_visible", !v.remote, "settle",
                                          (double) config_queue_settle(q->cfg, v.remote) / USEC_PER_SEC, "sees", sees,
                                          "hold", q->intake->hold_reason, "answers", !q->intake->look_hung));
                json_object_set_new(json_array_get(queues, json_array_size(queues) - 1), "pending", pending_json(q));
                if (q->drops_wait)
                        json_object_set_new(json_array_get(queues, json_array_size(queues) - 1), "drops_wait",
                                            json_string(q->drops_wait));
                if (queue_deferred(q) && q->defer_reason)
                        json_object_set_new(json_array_get(queues, json_array_size(queues) - 1), "deferred",
                                            json_string(q->defer_reason));
                free(sees);
        }
        json_t *doc = json_pack("{s:o}", "queues", queues);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (text && (!*last || strcmp(*last, text) != 0)) {
                int dfd = open(s->config->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = dfd < 0 ? -errno : status_write_json(dfd, INTAKE_QUEUES_FILE, doc, 0644, (gid_t) -1);
                if (dfd >= 0)
                        close(dfd);
                if (r == 0) {
                        free(*last);
                        *last = text;
                        text = NULL;
                }
        }
        free(text);
        json_decref(doc);
        return r;
}
