/* claim.c: taking a complete drop out of the inbox, atomically.
 *
 * A claim is a rename out of the inbox into a claim directory of this
 * instance (on another file system: copy, fsync, then remove, with an
 * "origin" note so that recovery can finish the job). A manifest's claim
 * moves the manifest first, then each file it lists, so that after a crash
 * recovery knows what belongs together. An archive is unpacked after the
 * claim, in a child process with the worker's memory limit: libarchive parses
 * untrusted bytes and must not be able to take the daemon down. */
#include "claim.h"
#include "classify.h"
#include "fsutil.h"
#include "log.h"
#include "names.h"
#include "notify.h"
#include "spool.h"
#include "unpack.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- claims across file systems ----
 *
 * rename(2) cannot move a drop to a state_dir on another file system. So the
 * drop is first renamed to a hidden name in its own inbox (atomic), then
 * copied into the claim, and then only what was copied and has not changed
 * since (same inode, same ctime) is removed from the inbox. What arrived or
 * changed during the copy stays, and goes back under the drop's name as a new
 * drop. copied.json records each entry taken, so that recovery after a crash
 * finishes the removal from the record, never from a guess. */

#define MAX_COPY_DEPTH 256

struct copy {
        json_t *taken;          /* hex(path) -> [ino, ctime_sec, ctime_nsec]: removed from the inbox once copied */
        json_t *left_out;       /* [{path, reason}]: taken from the inbox but not copied (hard links, FIFOs...) */
        size_t entries;
};

static char *hex_key(const char *path) {
        size_t n = strlen(path);
        char *hex = xmalloc(2 * n + 2);
        hex[0] = '/';  /* never empty: the top of a single-file drop is "" */
        for (size_t i = 0; i < n; i++)
                sprintf(hex + 1 + 2 * i, "%02x", (unsigned char) path[i]);
        hex[2 * n + 1] = 0;
        return hex;
}

static void copy_take(struct copy *c, const char *rel, const struct stat *st) {
        char *key = hex_key(rel);
        json_object_set_new(c->taken, key, json_pack("[I,I,I]", (json_int_t) st->st_ino, (json_int_t) st->st_ctim.tv_sec,
                                                     (json_int_t) st->st_ctim.tv_nsec));
        free(key);
}

static void copy_leave_out(struct copy *c, const char *rel, const struct stat *st, const char *reason) {
        copy_take(c, rel, st);
        json_array_append_new(c->left_out, json_pack("{s:o,s:s}", "path", names_to_json_exact(rel), "reason", reason));
}

static char *rel_join(const char *rel, const char *name) {
        return rel[0] ? xasprintf("%s/%s", rel, name) : xstrdup(name);
}

/* Copy SFD/NAME to DFD/NAME; REL is its path inside the drop ("" for the top). */
static int copy_entry(struct copy *c, int sfd, const char *name, int dfd, const char *dname, const char *rel,
                      int depth) {
        struct stat st;
        int r;

        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (++c->entries % 4096 == 0)
                notify_progress();
        if (S_ISREG(st.st_mode)) {
                if (st.st_nlink > 1) {
                        /* Its data belongs to another name too: never copied into the spool. */
                        copy_leave_out(c, rel, &st, "hard link to a file that also exists elsewhere: not taken");
                        return 0;
                }
                int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (in < 0)
                        return -errno;
                /* What is recorded is what is copied: the open file, not the name. */
                r = fstat(in, &st) < 0 ? -errno : !S_ISREG(st.st_mode) || st.st_nlink > 1 ? -EAGAIN : 0;
                if (r == 0)
                        r = fs_copy_fd(in, dfd, dname, st.st_mode & 0777, (gid_t) -1, true);
                close(in);
                if (r == 0) {
                        const struct timespec times[2] = { st.st_atim, st.st_mtim };
                        (void) utimensat(dfd, dname, times, AT_SYMLINK_NOFOLLOW);
                        copy_take(c, rel, &st);
                }
                return r;
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                /* Kept as a link, never followed: registration lists it as skipped. */
                if (symlinkat(target, dfd, dname) < 0)
                        return -errno;
                copy_take(c, rel, &st);
                return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
                copy_leave_out(c, rel, &st, S_ISFIFO(st.st_mode) ? "named pipe (FIFO): not a regular file"
                                            : S_ISSOCK(st.st_mode) ? "socket: not a regular file"
                                                                   : "device node: not a regular file");
                return 0;
        }
        if (depth >= MAX_COPY_DEPTH)
                return 0; /* stays in the inbox, and is said when the rest goes back there */
        if (mkdirat(dfd, dname, 0700) < 0)
                return -errno;
        DIR *d = fs_opendir_at(sfd, name);
        if (!d)
                return -errno;
        int sub = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
                r = -errno;
                closedir(d);
                return r;
        }
        for (r = 0; r == 0;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        r = errno != 0 ? -errno : 0;
                        break;
                }
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                char *child = rel_join(rel, de->d_name);
                r = copy_entry(c, dirfd(d), de->d_name, sub, de->d_name, child, depth + 1);
                free(child);
        }
        closedir(d);
        if (r == 0 && fsync(sub) < 0)
                r = -errno;
        close(sub);
        return r;
}

/* Remove DIRFD/NAME (REL inside the drop) where TAKEN says it was copied and it
 * has not changed since. 0: all gone; 1: something stays (new or changed);
 * -errno: could not look, and what was not looked at stays. */
static int remove_taken(json_t *taken, int parent, const char *name, const char *rel) {
        struct stat st;
        int r = 0;

        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                DIR *d = fs_opendir_at(parent, name);
                if (!d)
                        return -errno;
                for (;;) {
                        errno = 0;
                        struct dirent *de = readdir(d);
                        if (!de) {
                                if (errno != 0)
                                        r = -errno;
                                break;
                        }
                        if (fs_dot_or_dotdot(de->d_name))
                                continue;
                        char *child = rel_join(rel, de->d_name);
                        int k = remove_taken(taken, dirfd(d), de->d_name, child);
                        free(child);
                        if (k < 0) {
                                r = k;
                                break;
                        }
                        r = r > 0 ? r : k;
                }
                closedir(d);
                if (r != 0)
                        return r;
                if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                        return 0;
                return errno == ENOTEMPTY || errno == EEXIST ? 1 : -errno;
        }
        char *key = hex_key(rel);
        json_t *rec = json_object_get(taken, key);
        free(key);
        if (!rec || (uint64_t) json_integer_value(json_array_get(rec, 0)) != (uint64_t) st.st_ino ||
            json_integer_value(json_array_get(rec, 1)) != (json_int_t) st.st_ctim.tv_sec ||
            json_integer_value(json_array_get(rec, 2)) != (json_int_t) st.st_ctim.tv_nsec)
                return 1; /* arrived or changed after it was copied: it stays */
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Put what stays of a hidden drop back under its name (or NAME-2...), so that
 * it is taken as a new drop. */
static int unhide(struct queue *q, int inbox, const char *hidden, const char *name) {
        struct stat st;
        bool is_dir = fstatat(inbox, hidden, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);

        for (unsigned i = 1; i < 1000; i++) {
                char *to = i == 1 ? xstrdup(name) : names_with_suffix(name, i, !is_dir);
                int r = renameat2(inbox, hidden, inbox, to, RENAME_NOREPLACE) < 0 ? -errno : 0;
                if (r == -EINVAL)
                        r = faccessat(inbox, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? -EEXIST
                                                                                 : renameat(inbox, hidden, inbox, to) < 0 ? -errno : 0;
                if (r == 0 && i > 1)
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "what arrived in %s while it was claimed is in the inbox as %s", name, to);
                free(to);
                if (r != -EEXIST)
                        return r == -ENOENT ? 0 : r;
        }
        return -EEXIST;
}

/* The copy is in the claim: remove from the inbox what it took; what stays goes back. */
static int finish_cross_fs(struct queue *q, const char *claim_path, const char *name, const char *hidden) {
        struct log_ctx ctx = { .queue = q->name };
        char *text = NULL;
        char *rec_path = xasprintf("%s/copied.json", claim_path);
        int r = fs_read_file(AT_FDCWD, rec_path, 1 << 30, &text, NULL);
        json_t *rec = r == 0 ? json_loads(text, 0, NULL) : NULL;
        int inbox = -1;

        free(text);
        free(rec_path);
        if (r == 0 && !rec)
                r = -EBADMSG;
        if (r == 0 && (inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = -errno;
        if (r == 0)
                r = remove_taken(json_object_get(rec, "taken"), inbox, hidden, "");
        if (r > 0) {
                r = unhide(q, inbox, hidden, name);
                if (r == 0)
                        log_full(LOG_NOTICE, &ctx, 0, NULL,
                                 "files that arrived or changed in %s while it was copied stay in the inbox, as a new drop",
                                 name);
        }
        if (r == 0)
                (void) fsync(inbox);
        if (r < 0)
                log_full(LOG_WARNING, &ctx, -r, NULL,
                         "cannot finish moving %s out of the inbox: %s; what was copied stays there, hidden as %s, "
                         "until this can be done", name, strerror(-r), hidden);
        if (inbox >= 0)
                close(inbox);
        json_decref(rec);
        return r;
}

/* Copy inbox/HIDDEN into the claim's src/NAME, through src.partial, with the record. */
static int copy_claim(struct queue *q, const char *claim_path, const char *name, const char *hidden) {
        struct copy c = { .taken = json_object(), .left_out = json_array() };
        char *partial = xasprintf("%s/src.partial", claim_path), *src = xasprintf("%s/src", claim_path);
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int pfd = -1, r = 0;

        if (inbox < 0)
                r = -errno;
        if (r == 0 && (rmdir(src) < 0 && errno != ENOENT))
                r = -errno;
        if (r == 0)
                r = fs_remove_tree(AT_FDCWD, partial); /* our own copy of an earlier try */
        if (r == 0 && mkdir(partial, 0700) < 0)
                r = -errno;
        if (r == 0 && (pfd = open(partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                r = -errno;
        if (r == 0)
                r = copy_entry(&c, inbox, hidden, pfd, name, "", 0);
        if (r == 0 && fsync(pfd) < 0)
                r = -errno;
        if (r == 0)
                r = spool_write_record(claim_path, "copied.json",
                                       json_pack("{s:O,s:O}", "taken", c.taken, "left_out", c.left_out), true);
        if (r == 0 && rename(partial, src) < 0)
                r = -errno;
        if (r == 0) {
                r = fs_fsync_dir(AT_FDCWD, claim_path);
                /* Not known to be on disk: not committed. Back to src.partial, so
                 * that the undo removes this copy and the drop is claimed anew
                 * (never two claims of one drop). */
                if (r < 0 && rename(src, partial) < 0)
                        r = 0; /* it stays committed; finishing it is the way forward */
        }
        if (pfd >= 0)
                close(pfd);
        if (inbox >= 0)
                close(inbox);
        json_decref(c.taken);
        json_decref(c.left_out);
        free(src);
        free(partial);
        return r;
}

/* A claim that stopped before its copy was complete: the drop goes back. */
static int undo_cross_fs(struct queue *q, const char *claim_path, const char *name, const char *hidden) {
        char *partial = xasprintf("%s/src.partial", claim_path);
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = inbox < 0 ? -errno : fs_remove_tree(AT_FDCWD, partial);

        if (r == 0)
                r = unhide(q, inbox, hidden, name);
        if (r == 0)
                (void) fsync(inbox);
        if (inbox >= 0)
                close(inbox);
        free(partial);
        return r;
}

/* The claim of a drop whose state_dir is on another file system. */
static int claim_cross_fs(struct queue *q, const char *claim_path, const char *name, const char *hidden) {
        struct log_ctx ctx = { .queue = q->name };
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = inbox < 0 ? -errno : 0;

        /* Out of sight first: nothing new lands in it by its name from here on. */
        if (r == 0 && renameat2(inbox, name, inbox, hidden, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL)
                        r = renameat(inbox, name, inbox, hidden) < 0 ? -errno : 0;
        }
        if (r == 0)
                (void) fsync(inbox);
        if (inbox >= 0)
                close(inbox);
        if (r < 0)
                return r;
        r = copy_claim(q, claim_path, name, hidden);
        if (r < 0) {
                int k = undo_cross_fs(q, claim_path, name, hidden);
                if (k < 0)
                        log_full(LOG_WARNING, &ctx, -k, NULL, "cannot put %s back into the inbox: %s; done later", name,
                                 strerror(-k));
                return k < 0 ? 1 : r; /* 1: the claim stays, recovery puts the drop back */
        }
        return finish_cross_fs(q, claim_path, name, hidden) < 0 ? 1 : 0;
}

static char *hidden_name(const char *claim) {
        return xasprintf(CLASSIFY_DAEMON_PREFIX "%s", claim);
}

/* Finish or undo what an interrupted claim left (not a manifest's). */
static int recover_drop_claim(struct queue *q, const char *claim, const char *claim_path) {
        char *text = NULL, *origin_path = xasprintf("%s/origin", claim_path);
        int r = fs_read_file(AT_FDCWD, origin_path, 1 << 20, &text, NULL);
        json_t *origin = r == 0 ? json_loads(text, 0, NULL) : NULL;
        char *name = origin ? names_from_json_exact(json_object_get(origin, "name")) : NULL;
        char *hidden = hidden_name(claim);
        char *src = xasprintf("%s/src", claim_path);
        struct stat st;

        free(text);
        free(origin_path);
        if (r == -ENOENT)
                r = 0; /* a claim made before the origin note: nothing to finish */
        else if (r == 0 && !name)
                r = -EBADMSG;
        if (r == 0 && name) {
                int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                bool hidden_there = inbox >= 0 && fstatat(inbox, hidden, &st, AT_SYMLINK_NOFOLLOW) == 0;
                if (inbox < 0 || (!hidden_there && errno != ENOENT))
                        r = -errno;
                if (inbox >= 0)
                        close(inbox);
                char *copied = xasprintf("%s/copied.json", claim_path);
                bool committed = stat(src, &st) == 0 && access(copied, F_OK) == 0;
                free(copied);
                if (r == 0 && !committed && errno != ENOENT)
                        r = -errno;
                if (r == 0 && hidden_there)
                        r = committed ? finish_cross_fs(q, claim_path, name, hidden)
                                      : undo_cross_fs(q, claim_path, name, hidden);
        }
        if (r < 0) {
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot recover claim %s: %s; it stays as it is and is retried", claim_path, strerror(-r));
                if (r != -EBADMSG)
                        (void) spool_defer(q, "cannot recover a claim", r);
        }
        free(src);
        free(hidden);
        free(name);
        json_decref(origin);
        return r;
}

static char *new_claim_name(const struct spool *s) {
        uint64_t now = now_usec(CLOCK_REALTIME);
        unsigned rnd = 0;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) !read(fd, &rnd, sizeof(rnd));
                close(fd);
        }
        rnd ^= (unsigned) random();
        return xasprintf("%010" PRIu64 ".%06" PRIu64 ".%s.%d.%08x", now / USEC_PER_SEC, now % USEC_PER_SEC,
                         s->instance, (int) getpid(), rnd);
}

int claim_drop(struct queue *q, const char *name, char **ret_claim) {
        char *claim = new_claim_name(q->spool);
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *hidden = hidden_name(claim);
        char *from = xasprintf("%s/%s", q->cfg->inbox, name);
        char *src = xasprintf("%s/src", claim_path);
        char *to = xasprintf("%s/%s", src, name);
        struct log_ctx ctx = { .queue = q->name };
        struct stat st;
        int r;

        if (lstat(from, &st) < 0) {
                r = -errno;
                goto finish;
        }
        if (mkdir(claim_path, 0700) < 0) {
                r = -errno;
                log_full(LOG_ERR, &ctx, -r, NULL, "cannot create claim directory %s: %m", claim_path);
                (void) spool_defer(q, "cannot create a claim in the state directory", r);
                goto finish;
        }
        /* What is being claimed, so that recovery can finish or undo a move across file systems. */
        json_t *origin = json_pack("{s:o,s:I,s:I}", "name", names_to_json_exact(name),
                                   "dev", (json_int_t) st.st_dev, "ino", (json_int_t) st.st_ino);
        r = spool_write_record(claim_path, "origin", origin, true);
        if (r == 0 && mkdir(src, 0700) < 0)
                r = -errno;
        if (r < 0) {
                log_full(LOG_ERR, &ctx, -r, NULL, "cannot prepare claim %s: %s", claim_path, strerror(-r));
                (void) spool_defer(q, "cannot prepare a claim in the state directory", r);
                goto undo;
        }
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL && rename(from, to) == 0) /* no RENAME_NOREPLACE here; to cannot exist */
                        r = 0;
        } else
                r = 0;
        if (r == -EXDEV) {
                r = claim_cross_fs(q, claim_path, name, hidden);
                if (r > 0) {
                        /* Copied but not finished (or not undone): it stays claimed, and is done later. */
                        (void) spool_defer(q, "cannot finish a claim across file systems", EIO);
                        r = 0;
                        goto finish;
                }
        }
        if (r < 0) {
                if (r != -ENOENT) {
                        log_full(LOG_ERR, &ctx, -r, NULL, "cannot claim %s: %s; it stays in the inbox", from,
                                 strerror(-r));
                        if (errno_is_transient(r))
                                (void) spool_defer(q, "cannot claim a drop", r);
                }
                goto undo;
        }
        (void) fs_fsync_dir(AT_FDCWD, src);
        (void) fs_fsync_dir(AT_FDCWD, q->cfg->inbox);
        /* Claimed: the caller registers it (and a failed registration is retried from the claim). */
        *ret_claim = claim;
        claim = NULL;
        r = 0;
        goto finish;
undo:
        /* Nothing of the drop is in the claim (it never left the inbox): remove
         * exactly what was made here, never a tree. */
        if (rmdir(src) < 0 && errno != ENOENT)
                ;
        else {
                char *origin_path = xasprintf("%s/origin", claim_path);
                fs_remove_temps(AT_FDCWD, claim_path, false); /* the origin note's, if its write failed */
                if ((unlink(origin_path) == 0 || errno == ENOENT) && rmdir(claim_path) < 0 && errno != ENOENT)
                        log_full(LOG_WARNING, &ctx, errno, NULL, "cannot remove the empty claim %s: %m", claim_path);
                free(origin_path);
        }
finish:
        free(to);
        free(src);
        free(from);
        free(hidden);
        free(claim_path);
        free(claim);
        return r;
}

/* ---- manifests ---- */

/* Move inbox/PATH (a listed file or folder, walked without following links)
 * to <claim>/src/PATH. */
static int move_listed(struct queue *q, const char *claim_path, const char *path) {
        const char *last;
        int inbox = open(q->cfg->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (inbox < 0)
                return -errno;
        int from = fs_open_parent(inbox, path, &last);
        close(inbox);
        if (from < 0)
                return from;
        char *dst_parent = last == path ? xasprintf("%s/src", claim_path)
                                        : xasprintf("%s/src/%.*s", claim_path, (int) (last - path - 1), path);
        r = fs_mkdir_p(dst_parent, 0700);
        int to = r < 0 ? r : open(dst_parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        free(dst_parent);
        if (to < 0) {
                r = r < 0 ? r : -errno;
                close(from);
                return r;
        }
        r = renameat2(from, last, to, last, RENAME_NOREPLACE) < 0 ? -errno : 0;
        if (r == -EINVAL)
                r = faccessat(to, last, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? -EEXIST
                                                                          : (renameat(from, last, to, last) < 0 ? -errno : 0);
        struct stat in_claim, in_inbox;
        if (r == -EXDEV && fstatat(to, last, &in_claim, AT_SYMLINK_NOFOLLOW) == 0) {
                /* Copied by an earlier try (rename says EXDEV before it looks for the
                 * source). If that try could not remove the source, finish it: the
                 * same regular file, as the copy keeps its size and mtime. */
                r = -EEXIST;
                if (fstatat(from, last, &in_inbox, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(in_inbox.st_mode) &&
                    S_ISREG(in_claim.st_mode) && in_inbox.st_nlink == 1 && in_inbox.st_size == in_claim.st_size &&
                    in_inbox.st_mtim.tv_sec == in_claim.st_mtim.tv_sec &&
                    in_inbox.st_mtim.tv_nsec == in_claim.st_mtim.tv_nsec && unlinkat(from, last, 0) < 0 &&
                    errno != ENOENT)
                        r = -errno;
        } else if (r == -EXDEV && errno != ENOENT)
                r = -errno;
        if (r == -EXDEV) {
                /* Copy, then remove from the inbox only what was copied and has not
                 * changed since; what arrived meanwhile stays there. The copy is
                 * new (checked above), so a failed one is ours to remove. */
                struct copy c = { .taken = json_object(), .left_out = json_array() };
                r = copy_entry(&c, from, last, to, last, "", 0);
                if (r == 0 && fsync(to) < 0)
                        r = -errno;
                if (r == 0) {
                        r = remove_taken(c.taken, from, last, "");
                        if (r > 0) {
                                log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                         "what arrived in %s while it was copied stays in the inbox", path);
                                r = 0;
                        }
                } else
                        (void) fs_remove_tree(to, last); /* our own partial copy */
                json_decref(c.taken);
                json_decref(c.left_out);
        }
        if (r == 0)
                (void) fsync(from);
        close(from);
        close(to);
        return r;
}

static json_t *manifest_record(const char *name, const struct manifest *m, char *const *missing, size_t n_missing) {
        json_t *files = json_array(), *miss = json_array(), *labels = json_object();

        for (size_t i = 0; i < m->n_files; i++) {
                json_t *f = json_pack("{s:o}", "path", names_to_json_exact(m->files[i].path));
                if (m->files[i].has_sha256) {
                        char hex[65];
                        manifest_sha256_hex(m->files[i].sha256, hex);
                        json_object_set_new(f, "sha256", json_string(hex));
                }
                json_array_append_new(files, f);
        }
        for (size_t i = 0; i < n_missing; i++)
                json_array_append_new(miss, names_to_json_exact(missing[i]));
        for (size_t i = 0; i < m->n_labels; i++)
                json_object_set_new(labels, m->label_keys[i], names_to_json_display(m->label_values[i]));
        /* What the job message needs later: the profile, its overrides, the passwords. */
        json_t *processing = json_object(), *overrides = json_object(), *passwords = json_object();
        if (m->profile)
                json_object_set_new(processing, "profile", json_string(m->profile));
        for (size_t i = 0; i < m->n_overrides; i++)
                json_object_set_new(overrides, m->override_keys[i], json_string(m->override_values[i]));
        if (m->n_overrides)
                json_object_set(processing, "overrides", overrides);
        if (m->password)
                json_object_set_new(processing, "password", json_string(m->password));
        for (size_t i = 0; i < m->n_files; i++)
                if (m->files[i].password)
                        json_object_set_new(passwords, m->files[i].path, json_string(m->files[i].password));
        if (json_object_size(passwords))
                json_object_set(processing, "passwords", passwords);
        json_decref(overrides);
        json_decref(passwords);
        return json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:I,s:i,s:I,s:o}", "manifest", names_to_json_exact(name),
                         "batch", names_to_json_exact(m->batch), "files", files, "missing", miss, "labels", labels,
                         "thumbnail_size", (int) m->thumbnail_size, "job_timeout_usec",
                         (json_int_t) m->job_timeout_usec, "priority", m->priority, "not_before_usec",
                         (json_int_t) m->not_before_usec, "processing", processing);
}

/* Move every listed path that is in the inbox and not yet in the claim. The
 * missing ones are looked up in a set: both lists may hold 100,000 paths.
 * Returns the first failure (other than absence): then the claim is not
 * registered yet, and a retry moves the rest. */
static int move_manifest_files(struct queue *q, const char *claim_path, json_t *rec) {
        struct name_set *missing = name_set_new();
        json_t *e;
        size_t i;
        int result = 0;

        json_array_foreach(json_object_get(rec, "missing"), i, e) {
                char *mp = names_from_json_exact(e);
                if (mp)
                        name_set_add(missing, mp);
                free(mp);
        }
        json_array_foreach(json_object_get(rec, "files"), i, e) {
                char *path = names_from_json_exact(json_object_get(e, "path"));
                if (path && !name_set_contains(missing, path)) {
                        int r = move_listed(q, claim_path, path);
                        if (r < 0 && r != -EEXIST && r != -ENOENT) {
                                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                         "cannot move %s from the inbox into the batch: %s; retried", path,
                                         strerror(-r));
                                if (result == 0)
                                        result = r;
                        }
                }
                free(path);
        }
        name_set_free(missing);
        return result;
}

int claim_manifest(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                   size_t n_missing, char **ret_claim) {
        char *claim = new_claim_name(q->spool);
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *src = xasprintf("%s/src", claim_path);
        json_t *rec = manifest_record(name, m, missing, n_missing);
        int r;

        if (mkdir(claim_path, 0700) < 0 || mkdir(src, 0700) < 0)
                r = -errno;
        else
                r = spool_write_record(claim_path, "manifest.json", json_incref(rec), true);
        /* The manifest first: from here on the claim owns the set. */
        if (r == 0)
                r = move_listed(q, claim_path, name);
        if (r < 0) {
                if (r != -ENOENT)
                        log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                 "cannot claim manifest %s: %s; it stays in the inbox", name, strerror(-r));
                (void) fs_remove_tree(AT_FDCWD, claim_path);
        } else {
                r = move_manifest_files(q, claim_path, rec);
                (void) fs_fsync_dir(AT_FDCWD, q->cfg->inbox);
                if (r < 0)
                        (void) spool_defer(q, "cannot move a manifest's files into its claim", r);
                else {
                        *ret_claim = claim;
                        claim = NULL;
                }
                r = 0; /* claimed: what is left is retried from the claim */
        }
        json_decref(rec);
        free(src);
        free(claim_path);
        free(claim);
        return r;
}

/* ---- archives ---- */

struct unpacking {
        struct queue *queue;
        char *claim;
        claim_unpacked_fn done;
        void *userdata;
        sd_event_source *child;
        struct unpacking *next;
};

/* Unpackings under way, so that a retry never starts a second one. */
static struct unpacking *unpackings;

bool claim_unpacking(const struct queue *q, const char *claim) {
        for (const struct unpacking *u = unpackings; u; u = u->next)
                if (u->queue == q && strcmp(u->claim, claim) == 0)
                        return true;
        return false;
}

bool claim_queue_unpacking(const struct queue *q) {
        for (const struct unpacking *u = unpackings; u; u = u->next)
                if (u->queue == q)
                        return true;
        return false;
}

static void unpack_child(struct queue *q, const char *claim_path, const char *drop) {
        const struct config *c = q->spool->config;
        struct rlimit as = { c->worker_memory, c->worker_memory }, core = { 0, 0 };
        struct unpack_limits limits = { c->archive_max_entries, c->archive_max_bytes, c->archive_max_ratio };
        struct unpack_result res = {};
        char *error = NULL;

        if (!UTIL_ASAN) /* RLIMIT_AS stops an ASan build at once (util.h) */
                (void) setrlimit(RLIMIT_AS, &as);
        (void) setrlimit(RLIMIT_CORE, &core);

        char *archive = xasprintf("%s/src/%s", claim_path, drop);
        char *dest = xasprintf("%s/unpacked", claim_path);
        int fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r = fd < 0 ? -errno : unpack_archive(archive, fd, &limits, &res, &error);
        json_t *skipped = json_array();
        for (size_t i = 0; r == 0 && i < res.n_skipped; i++)
                json_array_append_new(skipped, json_pack("{s:o,s:s}", "path", names_to_json_exact(res.skipped[i].path),
                                                         "reason", res.skipped[i].reason));
        /* A fault of the spool's disk or descriptors is not the archive's: no
         * result, and the exit status (the errno) tells the daemon to try again.
         * Running out of memory is the archive's fault: it has the worker's limit. */
        if (r < 0 && r != -ENOMEM && errno_is_transient(r))
                _exit(-r);
        json_t *out = json_pack("{s:o,s:I,s:I,s:o}", "error",
                                r < 0 ? json_string(error ? error : strerror(-r)) : json_null(), "files",
                                (json_int_t) res.n_files, "bytes", (json_int_t) res.bytes, "skipped", skipped);
        r = spool_write_record(claim_path, "unpack.json", out, true);
        _exit(r < 0 ? (errno_is_transient(r) ? -r : EIO) : 0);
}

static int on_unpack_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct unpacking *u = userdata;
        struct queue *q = u->queue;
        char *claim_path = xasprintf("%s/%s", q->claims_path, u->claim);
        char *result = xasprintf("%s/unpack.json", claim_path);

        bool retry = si->si_code == CLD_EXITED && errno_is_transient(si->si_status) && access(result, F_OK) < 0;
        if (retry) {
                /* Disk full, no descriptors...: unpacked again once the queue's work may go on. */
                char *up = xasprintf("%s/unpacked", claim_path);
                (void) fs_remove_tree(AT_FDCWD, up);
                free(up);
                (void) spool_defer(q, "cannot unpack an archive", si->si_status);
        } else if (access(result, F_OK) < 0) {
                /* The unpacker died (a libarchive bug, its memory limit): say so, keep the archive. */
                char *why = si->si_code == CLD_EXITED
                                    ? xasprintf("the archive could not be unpacked (unpacker exited with status %d)",
                                                si->si_status)
                                    : xasprintf("the archive could not be unpacked: unpacker killed by SIG%s%s",
                                                sigabbrev_np(si->si_status) ?: "?",
                                                si->si_status == SIGKILL ? " (probably out of memory)" : "");
                char *up = xasprintf("%s/unpacked", claim_path);
                (void) fs_remove_tree(AT_FDCWD, up);
                free(up);
                (void) spool_write_record(claim_path, "unpack.json", json_pack("{s:s,s:[]}", "error", why, "skipped"),
                                          true);
                free(why);
        }
        for (struct unpacking **p = &unpackings; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        if (!q->spool->stopping && !retry)
                u->done(q, u->claim, u->userdata);
        sd_event_source_disable_unref(u->child);
        free(result);
        free(claim_path);
        free(u->claim);
        free(u);
        return 0;
}

int claim_unpack_start(struct queue *q, const char *claim, const char *drop, claim_unpacked_fn done,
                       void *userdata) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *dest = xasprintf("%s/unpacked", claim_path);
        int r;

        (void) fs_remove_tree(AT_FDCWD, dest);
        if (mkdir(dest, 0700) < 0) {
                r = -errno;
                goto finish;
        }
        pid_t pid = fork_bound();
        if (pid < 0) {
                r = -errno;
                goto finish;
        }
        if (pid == 0)
                unpack_child(q, claim_path, drop);
        struct unpacking *u = xcalloc(1, sizeof(*u));
        u->queue = q;
        u->claim = xstrdup(claim);
        u->done = done;
        u->userdata = userdata;
        r = sd_event_add_child(q->spool->event, &u->child, pid, WEXITED, on_unpack_exit, u);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                free(u->claim);
                free(u);
                goto finish;
        }
        u->next = unpackings;
        unpackings = u;
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL, "unpacking archive %s", drop);
finish:
        if (r < 0)
                (void) spool_defer(q, "cannot start unpacking an archive", r);
        free(dest);
        free(claim_path);
        return r;
}

/* The one entry of a claim's src/ (a folder, a file, an archive) in *RET;
 * -ENOENT when src/ is positively empty, another -errno when it cannot be read. */
int claim_drop_name(int srcfd, char **ret) {
        int fd = openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        struct dirent *de;
        int r = -ENOENT;

        if (!d) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = -errno;
                        break;
                }
                if (!fs_dot_or_dotdot(de->d_name)) {
                        *ret = xstrdup(de->d_name);
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

/* ---- recovery ---- */

int claim_recover(struct queue *q, const char *claim) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *mf_path = xasprintf("%s/manifest.json", claim_path);
        char *text = NULL;
        int r = fs_read_file(AT_FDCWD, mf_path, 64 << 20, &text, NULL);
        json_t *rec = r == 0 ? json_loads(text, 0, NULL) : NULL;

        free(text);
        if (rec) {
                /* A manifest's claim stopped half-way: bring the rest of its files. */
                char *name = names_from_json_exact(json_object_get(rec, "manifest"));
                char *kept = name ? xasprintf("%s/src/%s", claim_path, name) : NULL;
                r = 0;
                if (kept && access(kept, F_OK) == 0)
                        r = move_manifest_files(q, claim_path, rec);
                else if (kept && errno != ENOENT)
                        r = -errno;
                if (r < 0)
                        (void) spool_defer(q, "cannot move a manifest's files into its claim", r);
                free(kept);
                free(name);
                json_decref(rec);
        } else if (r == -ENOENT)
                r = recover_drop_claim(q, claim, claim_path);
        else if (r == 0)
                r = -EBADMSG; /* registration says so */
        else
                (void) spool_defer(q, "cannot read a claim's manifest record", r);
        free(mf_path);
        free(claim_path);
        return r == -EBADMSG ? 0 : r;
}
