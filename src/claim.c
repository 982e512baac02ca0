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
#include "fsutil.h"
#include "log.h"
#include "names.h"
#include "register.h"
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A claim across file systems that did not finish copying: the inbox still has
 * the drop, so the partial copy goes. One that finished copying but not
 * removing: finish removing what the origin file names. */
static void recover_cross_fs(struct queue *q, const char *claim_path) {
        char *partial = xasprintf("%s/src.partial", claim_path);
        (void) fs_remove_tree(AT_FDCWD, partial);
        free(partial);

        char *origin_path = xasprintf("%s/origin", claim_path);
        json_t *origin = json_load_file(origin_path, 0, NULL);
        free(origin_path);
        char *name = origin ? names_from_json_exact(json_object_get(origin, "name")) : NULL;
        char *src = xasprintf("%s/src", claim_path);
        struct stat st;
        if (name && access(src, F_OK) == 0) {
                char *p = xasprintf("%s/%s", q->cfg->inbox, name);
                if (lstat(p, &st) == 0 && (uint64_t) st.st_dev == (uint64_t) json_integer_value(json_object_get(origin, "dev")) &&
                    (uint64_t) st.st_ino == (uint64_t) json_integer_value(json_object_get(origin, "ino"))) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "finishing an interrupted move of %s out of the inbox", p);
                        (void) fs_remove_tree(AT_FDCWD, p);
                }
                free(p);
        }
        free(src);
        free(name);
        json_decref(origin);
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

int claim_drop(struct queue *q, const char *name) {
        char *claim = new_claim_name(q->spool);
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
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
                goto finish;
        }
        /* What is being claimed, so that recovery can finish a move across file systems. */
        json_t *origin = json_pack("{s:o,s:I,s:I}", "name", names_to_json_exact(name),
                                   "dev", (json_int_t) st.st_dev, "ino", (json_int_t) st.st_ino);
        r = spool_write_record(claim_path, "origin", origin, true);
        if (r < 0 || mkdir(src, 0700) < 0) {
                r = r < 0 ? r : -errno;
                log_full(LOG_ERR, &ctx, -r, NULL, "cannot prepare claim %s: %s", claim_path, strerror(-r));
                (void) fs_remove_tree(AT_FDCWD, claim_path);
                goto finish;
        }
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL && rename(from, to) == 0) /* no RENAME_NOREPLACE here; to cannot exist */
                        r = 0;
        } else
                r = 0;
        if (r == -EXDEV) {
                /* The state directory is on another file system: copy, fsync, then remove. */
                char *partial = xasprintf("%s/src.partial", claim_path);
                char *partial_to = xasprintf("%s/%s", partial, name);
                (void) rmdir(src);
                r = mkdir(partial, 0700) < 0 ? -errno : fs_copy_tree(AT_FDCWD, from, AT_FDCWD, partial_to);
                if (r == 0)
                        r = fs_fsync_dir(AT_FDCWD, partial);
                if (r == 0 && rename(partial, src) < 0)
                        r = -errno;
                if (r == 0)
                        (void) fs_fsync_dir(AT_FDCWD, claim_path);
                if (r == 0)
                        r = fs_remove_tree(AT_FDCWD, from);
                free(partial_to);
                free(partial);
        }
        if (r < 0) {
                if (r != -ENOENT)
                        log_full(LOG_ERR, &ctx, -r, NULL, "cannot claim %s: %s; it stays in the inbox", from,
                                 strerror(-r));
                if (access(to, F_OK) < 0)
                        (void) fs_remove_tree(AT_FDCWD, claim_path);
                goto finish;
        }
        (void) fs_fsync_dir(AT_FDCWD, src);
        (void) fs_fsync_dir(AT_FDCWD, q->cfg->inbox);
        r = register_claim(q, claim);
finish:
        free(to);
        free(src);
        free(from);
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
        if (r == -EXDEV) {
                r = fs_copy_tree(from, last, to, last);
                if (r == 0 && fsync(to) < 0)
                        r = -errno;
                if (r == 0)
                        r = fs_remove_tree(from, last);
                else
                        (void) fs_remove_tree(to, last);
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
        return json_pack("{s:o,s:o,s:o,s:o,s:o,s:i,s:I}", "manifest", names_to_json_exact(name),
                         "batch", names_to_json_exact(m->batch), "files", files, "missing", miss, "labels", labels,
                         "thumbnail_size", (int) m->thumbnail_size, "job_timeout_usec",
                         (json_int_t) m->job_timeout_usec);
}

/* Move every listed path that is in the inbox and not yet in the claim. The
 * missing ones are looked up in a set: both lists may hold 100,000 paths. */
static void move_manifest_files(struct queue *q, const char *claim_path, json_t *rec) {
        struct name_set *missing = name_set_new();
        json_t *e;
        size_t i;

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
                        if (r < 0 && r != -EEXIST && r != -ENOENT)
                                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                         "cannot move %s from the inbox into the batch: %s", path, strerror(-r));
                }
                free(path);
        }
        name_set_free(missing);
}

int claim_manifest(struct queue *q, const char *name, const struct manifest *m, char *const *missing,
                   size_t n_missing) {
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
                move_manifest_files(q, claim_path, rec);
                (void) fs_fsync_dir(AT_FDCWD, q->cfg->inbox);
                r = register_claim(q, claim);
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
        sd_event_source *child;
};

static void unpack_child(struct queue *q, const char *claim_path, const char *drop) {
        const struct config *c = q->spool->config;
        struct rlimit as = { c->worker_memory, c->worker_memory }, core = { 0, 0 };
        struct unpack_limits limits = { c->archive_max_entries, c->archive_max_bytes, c->archive_max_ratio };
        struct unpack_result res = {};
        char *error = NULL;
        sigset_t none;

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
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
        json_t *out = json_pack("{s:o,s:I,s:I,s:o}", "error",
                                r < 0 ? json_string(error ? error : strerror(-r)) : json_null(), "files",
                                (json_int_t) res.n_files, "bytes", (json_int_t) res.bytes, "skipped", skipped);
        _exit(spool_write_record(claim_path, "unpack.json", out, true) < 0 ? 1 : 0);
}

static int on_unpack_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        struct unpacking *u = userdata;
        struct queue *q = u->queue;
        char *claim_path = xasprintf("%s/%s", q->claims_path, u->claim);
        char *result = xasprintf("%s/unpack.json", claim_path);

        if (access(result, F_OK) < 0) {
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
        if (!q->spool->stopping)
                (void) register_claim(q, u->claim);
        sd_event_source_disable_unref(u->child);
        free(result);
        free(claim_path);
        free(u->claim);
        free(u);
        return 0;
}

int claim_unpack_start(struct queue *q, const char *claim, const char *drop) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *dest = xasprintf("%s/unpacked", claim_path);
        int r;

        (void) fs_remove_tree(AT_FDCWD, dest);
        if (mkdir(dest, 0700) < 0) {
                r = -errno;
                goto finish;
        }
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                goto finish;
        }
        if (pid == 0)
                unpack_child(q, claim_path, drop);
        struct unpacking *u = xcalloc(1, sizeof(*u));
        u->queue = q;
        u->claim = xstrdup(claim);
        r = sd_event_add_child(q->spool->event, &u->child, pid, WEXITED, on_unpack_exit, u);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                free(u->claim);
                free(u);
                goto finish;
        }
        log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL, "unpacking archive %s", drop);
finish:
        if (r < 0)
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot unpack archive %s: %s; it stays claimed and is retried at the next start", drop,
                         strerror(-r));
        free(dest);
        free(claim_path);
        return r;
}

/* ---- recovery ---- */

void claim_recover(struct queue *q, const char *claim) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *mf_path = xasprintf("%s/manifest.json", claim_path);
        json_t *rec = json_load_file(mf_path, 0, NULL);

        if (rec) {
                /* A manifest's claim stopped half-way: bring the rest of its files. */
                char *name = names_from_json_exact(json_object_get(rec, "manifest"));
                char *kept = name ? xasprintf("%s/src/%s", claim_path, name) : NULL;
                if (kept && access(kept, F_OK) == 0)
                        move_manifest_files(q, claim_path, rec);
                free(kept);
                free(name);
                json_decref(rec);
        } else
                recover_cross_fs(q, claim_path);
        free(mf_path);
        free(claim_path);
}
