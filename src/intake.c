/* intake.c: when is a drop complete, what kind is it, and handing it to the spool.
 *
 * Completion does not trust one signal: an inotify event (or a poll) only says
 * "look again"; a drop is complete when a walk of it gives the same
 * fingerprint (names, sizes, mtimes, ctimes, inodes) for the settle period and
 * no process holds one of its files open for writing. */
#include "intake.h"
#include "claim.h"
#include "fsutil.h"
#include "log.h"
#include "names.h"
#include "pool.h"
#include "status.h"
#include "util.h"
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_CHECK_USEC (100 * USEC_PER_MSEC)
#define MAX_CHECK_USEC (1 * USEC_PER_SEC)
#define SNIFF_BYTES 1024

struct drop {
        struct queue *queue;
        char *name;
        uint64_t fingerprint;
        uint64_t stable_since;  /* CLOCK_MONOTONIC: when the fingerprint last changed */
        uint64_t walk_usec;     /* how long the last walk took */
        sd_event_source *timer;
        bool seen;              /* found by the rescan in progress */
        bool said_incomplete;   /* logged once that it waits for a file that looks cut short */
        struct drop *next;
};

bool intake_is_ignored(const struct queue_config *qc, const char *name) {
        for (size_t i = 0; i < qc->n_ignore; i++)
                if (fnmatch(qc->ignore[i], name, 0) == 0)
                        return true;
        return false;
}

/* Why a directory entry that is not a regular file is not taken; NULL if it is one. */
static const char *special_file_reason(const struct stat *st) {
        if (S_ISREG(st->st_mode))
                return NULL;
        if (S_ISLNK(st->st_mode))
                return "symbolic link: not followed";
        if (S_ISFIFO(st->st_mode))
                return "named pipe (FIFO): not a regular file";
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                return "device node: not a regular file";
        if (S_ISSOCK(st->st_mode))
                return "socket: not a regular file";
        return "not a regular file";
}

enum file_kind intake_classify(int dirfd, const char *name, const struct stat *st, const char **ret_reason) {
        char buf[SNIFF_BYTES];
        ssize_t n;
        int fd;

        *ret_reason = special_file_reason(st);
        if (*ret_reason)
                return FILE_SKIP;
        if (st->st_nlink > 1) {
                *ret_reason = "hard link to a file that also exists elsewhere: not taken";
                return FILE_SKIP;
        }
        if (st->st_size == 0) {
                *ret_reason = "empty file (0 bytes)";
                return FILE_SKIP;
        }
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                /* Unreadable: it becomes a job, so that its status says why it failed. */
                return FILE_PDF;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0)
                return FILE_PDF;
        /* Readers accept junk before the header; so does mupdf within the first KiB. */
        if (memmem(buf, (size_t) n, "%PDF-", 5))
                return FILE_PDF;
        *ret_reason = "not a PDF";
        return FILE_SKIP;
}

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
        char *incomplete;       /* likewise: the first file that looks cut short, and why */
        size_t entries;
};

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

/* Walk a drop; with check_writers, also ask whether anyone writes one of its files. */
static void fingerprint_dir(const struct queue_config *qc, int fd, struct fingerprint *fp, bool check_writers,
                            int depth) {
        DIR *d = fdopendir(fd);
        struct dirent *de;

        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (depth == 0 && qc->ready_marker && strcmp(de->d_name, qc->ready_marker) == 0)
                        fp->ready_marker = true;
                if (intake_is_ignored(qc, de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                fingerprint_stat(fp, de->d_name, &st);
                if (S_ISDIR(st.st_mode) && depth < 64) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                fingerprint_dir(qc, sub, fp, check_writers, depth + 1);
                } else if (check_writers && S_ISREG(st.st_mode)) {
                        if (!fp->writer)
                                fp->writer = fs_has_writer(dirfd(d), de->d_name) > 0;
                        const char *why = fp->incomplete ? NULL : looks_incomplete(dirfd(d), de->d_name, &st);
                        if (why)
                                note_incomplete(fp, de->d_name, why);
                }
        }
        closedir(d);
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
        } else if (check_writers && S_ISREG(ret_st->st_mode)) {
                fp->writer = fs_has_writer(inbox, name) > 0;
                const char *why = looks_incomplete(inbox, name, ret_st);
                if (why)
                        note_incomplete(fp, name, why);
        }
        close(inbox);
        return 0;
}

/* ---- drops ---- */

static struct drop *drop_find(struct queue *q, const char *name) {
        for (struct drop *d = q->drops; d; d = d->next)
                if (strcmp(d->name, name) == 0)
                        return d;
        return NULL;
}

static void drop_forget(struct drop *d) {
        struct queue *q = d->queue;
        for (struct drop **p = &q->drops; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        sd_event_source_disable_unref(d->timer);
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
        (void) sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
}

static uint64_t check_interval(const struct drop *d) {
        uint64_t i = d->queue->cfg->settle_usec / 4;
        if (i < MIN_CHECK_USEC)
                i = MIN_CHECK_USEC;
        if (i > MAX_CHECK_USEC)
                i = MAX_CHECK_USEC;
        /* A big drop is walked less often, so walking never eats the loop. */
        if (i < 4 * d->walk_usec)
                i = 4 * d->walk_usec;
        return i;
}

/* A top-level file that is not a PDF (nor, later, a manifest or archive) goes to
 * <outbox>/rejected/ with a status file that says why: never looked at again. */
static void reject_file(struct queue *q, const char *name, const char *reason) {
        struct log_ctx ctx = { .queue = q->name };
        char *dir = xasprintf("%s/rejected", q->cfg->outbox);
        char *kept = NULL;
        int r = fs_mkdirat_p_owned(AT_FDCWD, dir, q->cfg->dir_mode, q->gid);

        /* room for ".status.json" beside it */
        char *base = strlen(name) + 12 > NAME_MAX ? xstrndup(name, NAME_MAX - 12) : xstrdup(name);
        for (unsigned i = 1; r == 0; i++) {
                free(kept);
                kept = i == 1 ? xstrdup(base) : names_with_suffix(base, i, true);
                if (strlen(kept) + 12 > NAME_MAX)
                        kept[NAME_MAX - 12] = 0;
                char *from = xasprintf("%s/%s", q->cfg->inbox, name);
                char *to = xasprintf("%s/%s", dir, kept);
                char *st = xasprintf("%s/%s.status.json", dir, kept);
                bool status_taken = access(st, F_OK) == 0;
                r = status_taken ? -EEXIST : fs_move(from, to, true);
                free(from);
                free(to);
                free(st);
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
                return;
        }
        char *kept_path = xasprintf("%s/%s", dir, kept);
        (void) fs_set_owner(AT_FDCWD, kept_path, q->cfg->file_mode, q->gid);
        free(kept_path);
        char buf[40];
        json_t *j = json_pack("{s:o,s:s,s:s,s:s,s:s}", "file", names_to_json_display(kept), "queue", q->name,
                              "state", "rejected", "reason", reason, "rejected",
                              format_rfc3339(buf, sizeof(buf), now_usec(CLOCK_REALTIME)));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *stname = xasprintf("%s.status.json", kept);
        if (dfd >= 0) {
                (void) status_write_json(dfd, stname, j, q->cfg->file_mode, q->gid);
                close(dfd);
        }
        json_decref(j);
        log_full(LOG_WARNING, &ctx, 0, MSGID_DROP_REJECTED, "rejected %s: %s; moved to %s/%s", name, reason, dir,
                 kept);
        free(stname);
        free(kept);
        free(dir);
}

static void drop_take(struct drop *d, const struct stat *st) {
        struct queue *q = d->queue;
        char *name = xstrdup(d->name);
        const char *reason = NULL;

        drop_forget(d);
        if (S_ISREG(st->st_mode)) {
                int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                enum file_kind k = inbox >= 0 ? intake_classify(inbox, name, st, &reason) : FILE_PDF;
                if (inbox >= 0)
                        close(inbox);
                if (k != FILE_PDF) {
                        reject_file(q, name, reason);
                        free(name);
                        return;
                }
        } else if (!S_ISDIR(st->st_mode)) {
                /* A link, FIFO or device at the top: it stays where it is, said once. */
                const char *why = special_file_reason(st);
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, 0, MSGID_DROP_REJECTED,
                         "ignoring %s in the inbox: %s", name, why);
                free(name);
                return;
        }
        (void) claim_drop(q, name);
        free(name);
        pool_kick(q->spool);
}

static int on_drop_check(sd_event_source *s, uint64_t usec, void *userdata) {
        struct drop *d = userdata;
        struct queue *q = d->queue;
        struct fingerprint fp;
        struct stat st;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        if (q->hold || q->spool->stopping)
                return 0;
        if (fingerprint_drop(q, d->name, false, &fp, &st) < 0) {
                drop_forget(d); /* gone: moved away or deleted by its owner */
                return 0;
        }
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        d->walk_usec = now - start;
        if (fp.hash != d->fingerprint) {
                d->fingerprint = fp.hash;
                d->stable_since = now;
        }
        if (!fp.ready_marker && now - d->stable_since < q->cfg->settle_usec) {
                uint64_t left = q->cfg->settle_usec - (now - d->stable_since);
                uint64_t next = check_interval(d);
                drop_schedule(d, left < next ? left : next);
                return 0;
        }
        /* Quiet long enough; but a writer that holds a file open is not done. */
        if (fingerprint_drop(q, d->name, true, &fp, &st) < 0) {
                drop_forget(d);
                return 0;
        }
        if (fp.writer || fp.hash != d->fingerprint) {
                if (fp.hash != d->fingerprint) {
                        d->fingerprint = fp.hash;
                        d->stable_since = now_usec(CLOCK_MONOTONIC);
                }
                free(fp.incomplete);
                drop_schedule(d, check_interval(d));
                return 0;
        }
        /* Quiet and closed, but cut short: give the uploader a chance to resume. */
        now = now_usec(CLOCK_MONOTONIC);
        if (fp.incomplete && now - d->stable_since < q->cfg->incomplete_wait_usec) {
                uint64_t left = q->cfg->incomplete_wait_usec - (now - d->stable_since);
                if (!d->said_incomplete)
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "waiting for %s: %s; taken as it is after %.0f s without change", d->name,
                                 fp.incomplete, (double) q->cfg->incomplete_wait_usec / USEC_PER_SEC);
                d->said_incomplete = true;
                free(fp.incomplete);
                uint64_t next = check_interval(d);
                drop_schedule(d, left < next ? left : next);
                return 0;
        }
        free(fp.incomplete);
        drop_take(d, &st);
        return 0;
}

void intake_event(struct queue *q, const char *name) {
        struct drop *d;

        if (intake_is_ignored(q->cfg, name))
                return;
        d = drop_find(q, name);
        if (!d) {
                d = xcalloc(1, sizeof(*d));
                d->queue = q;
                d->name = xstrdup(name);
                d->next = q->drops;
                q->drops = d;
                d->fingerprint = 0;
        }
        d->stable_since = now_usec(CLOCK_MONOTONIC);
        /* Look soon, but not on every event of a busy copy. */
        int enabled = SD_EVENT_OFF;
        if (d->timer)
                (void) sd_event_source_get_enabled(d->timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                drop_schedule(d, MIN_CHECK_USEC);
}

void intake_rescan(struct queue *q, const char *reason) {
        DIR *dir;
        struct dirent *de;

        if (q->hold)
                return;
        if (reason)
                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL, "rescanning inbox %s: %s",
                         q->cfg->inbox, reason);
        dir = opendir(q->cfg->inbox);
        if (!dir) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, errno, NULL, "cannot read inbox %s: %m",
                         q->cfg->inbox);
                return;
        }
        for (struct drop *d = q->drops; d; d = d->next)
                d->seen = false;
        while ((de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    intake_is_ignored(q->cfg, de->d_name))
                        continue;
                struct drop *d = drop_find(q, de->d_name);
                if (d)
                        d->seen = true; /* already being watched settle; a rescan is no change */
                else {
                        intake_event(q, de->d_name);
                        q->drops->seen = true;
                }
        }
        closedir(dir);
        for (struct drop *d = q->drops, *next; d; d = next) {
                next = d->next;
                if (!d->seen)
                        drop_forget(d);
        }
}

int intake_start(struct queue *q) {
        int r = watch_start(q);
        if (r < 0)
                return r;
        intake_rescan(q, NULL);
        return 0;
}

void intake_stop(struct queue *q) {
        watch_stop(q);
        while (q->drops)
                drop_forget(q->drops);
}
