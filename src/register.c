/* register.c: what a claimed drop holds, and the batch it becomes.
 *
 * A claim holds a folder, a single file, an archive (unpacked first, in a
 * child: claim.c) or a manifest's set of files. Registration walks it without
 * following links, judges each file by its content, gives every job a name in
 * the batch's outbox that is unique whatever was dropped, checks a manifest's
 * checksums and turns its missing files into failed jobs; then the store
 * writes the batch record (spool_batch_record), all in a child process. */
#include "register.h"
#include "claim.h"
#include "classify.h"
#include "fsutil.h"
#include "log.h"
#include "spool.h"
#include "manifest.h"
#include "names.h"
#include "notify.h"
#include "unpack.h"
#include "util.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

/* ---- the registration walk: what is in a drop ---- */

struct walk_pdf {
        char *path;
        struct fs_ident taken;
};

struct walk {
        const struct queue_config *qc;
        struct walk_pdf *pdfs;
        size_t n_pdfs, alloc_pdfs;
        struct skipped *skipped;
        size_t n_skipped, alloc_skipped;
        size_t entries;
        int error;             /* -errno: a fault that left the walk incomplete; retried later */
        const char *error_path;
};

/* A walk that could not look is not a smaller drop: registration waits. */
static bool walk_failed(struct walk *w, int err, const char *what) {
        if (!errno_is_transient(err))
                return false;
        if (w->error == 0) {
                w->error = err < 0 ? err : -err;
                w->error_path = what;
        }
        return true;
}

/* PDFs in folders deeper than MAX_DEPTH are not processed, but every regular
 * file down to KEEP_MAX_DEPTH is still handed back in the outbox; below that a
 * folder is not looked at (each level holds a descriptor while it is walked). */
#define MAX_DEPTH 64
#define KEEP_MAX_DEPTH 256
#define MAX_ENTRIES 1000000

/* ST: the entry as it was found, or NULL (not in the claim, e.g. an archive entry
 * that was not extracted). A regular file with one link gets its identity kept. */
static void walk_add_skipped(struct walk *w, const char *path, const char *reason, const struct stat *st) {
        if (w->n_skipped == w->alloc_skipped) {
                w->alloc_skipped = w->alloc_skipped ? 2 * w->alloc_skipped : 16;
                w->skipped = xrealloc(w->skipped, w->alloc_skipped * sizeof(*w->skipped));
        }
        struct skipped *sk = &w->skipped[w->n_skipped++];
        *sk = (struct skipped) { .source = xstrdup(path), .reason = xstrdup(reason) };
        if (st && S_ISREG(st->st_mode) && st->st_nlink == 1)
                fs_ident_from_stat(&sk->taken, st);
}

static void walk_add_pdf(struct walk *w, const char *path, const struct stat *st) {
        if (w->n_pdfs == w->alloc_pdfs) {
                w->alloc_pdfs = w->alloc_pdfs ? 2 * w->alloc_pdfs : 16;
                w->pdfs = xrealloc(w->pdfs, w->alloc_pdfs * sizeof(*w->pdfs));
        }
        struct walk_pdf *p = &w->pdfs[w->n_pdfs++];
        p->path = xstrdup(path);
        fs_ident_from_stat(&p->taken, st);
}

static void walk_entry(struct walk *w, int dirfd, const char *name, const char *path, int depth);

static void walk_dir(struct walk *w, int fd, const char *prefix, int depth) {
        DIR *d = fdopendir(fd);
        struct dirent *de;

        if (!d) {
                (void) walk_failed(w, errno, "cannot read a folder of the drop");
                close(fd);
                return;
        }
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0 && !walk_failed(w, errno, "cannot read a folder of the drop"))
                                walk_add_skipped(w, prefix[0] ? prefix : ".", "folder could not be read to its end", NULL);
                        break;
                }
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                if (++w->entries % 4096 == 0)
                        notify_progress();
                if (w->entries > MAX_ENTRIES) {
                        walk_add_skipped(w, prefix[0] ? prefix : ".", "too many files in one drop; the rest was not looked at",
                                         NULL);
                        break;
                }
                if (classify_is_ignored(w->qc, de->d_name))
                        continue;
                char *path = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
                walk_entry(w, dirfd(d), de->d_name, path, depth);
                free(path);
        }
        closedir(d);
}

static void walk_entry(struct walk *w, int dirfd, const char *name, const char *path, int depth) {
        struct stat st;
        const char *reason;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (!walk_failed(w, errno, "cannot look at a file of the drop"))
                        walk_add_skipped(w, path, strerror(errno), NULL);
                return;
        }
        if (fs_is_hardlink_marker(dirfd, name, &st)) {
                /* A claim across file systems left a hard-linked file out (fs_copy_tree). */
                walk_add_skipped(w, path, CLASSIFY_REASON_HARD_LINK, NULL);
                return;
        }
        if (S_ISDIR(st.st_mode)) {
                if (depth >= KEEP_MAX_DEPTH) {
                        walk_add_skipped(w, path, "folders nested too deep; not looked at", NULL);
                        return;
                }
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        if (!walk_failed(w, errno, "cannot open a folder of the drop"))
                                walk_add_skipped(w, path, errno == EACCES ? "folder cannot be read: permission denied"
                                                                          : "folder cannot be read", NULL);
                        return;
                }
                walk_dir(w, fd, path, depth + 1);
                return;
        }
        if (depth > MAX_DEPTH && S_ISREG(st.st_mode) && st.st_nlink == 1) {
                walk_add_skipped(w, path, "in folders nested too deep (more than 64 levels): not processed; "
                                          "handed back as it is", &st);
                return;
        }
        if (classify_file(dirfd, name, &st, &reason) == FILE_PDF)
                walk_add_pdf(w, path, &st);
        else
                walk_add_skipped(w, path, reason, &st);
}

static int compare_pdfs(const void *a, const void *b) {
        return strcmp(((const struct walk_pdf *) a)->path, ((const struct walk_pdf *) b)->path);
}

/* ---- registering a claimed drop as a batch ---- */

static char *strip_pdf(const char *s) {
        if (str_has_suffix_nocase(s, ".pdf") && strlen(s) > 4)
                return xstrndup(s, strlen(s) - 4);
        return xstrdup(s);
}

static const char *basename_of(const char *path) {
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* Reserve an outbox folder for the batch: the drop's name, made unique. */
static int reserve_batch_id(struct queue *q, const char *id_base, char **ret) {
        char *base = xstrdup(id_base);

        if (base[0] == '.' || base[0] == 0) {
                char *b2 = xasprintf("batch%s", base);
                free(base);
                base = b2;
        }
        for (unsigned i = 1; ; i++) {
                char *id = i == 1 ? xstrdup(base) : names_with_suffix(base, i, false);
                if (strcmp(id, "rejected") != 0) {
                        /* An empty folder is one a crash left between reserving and recording. */
                        if (mkdirat(q->outbox_fd, id, q->cfg->dir_mode) == 0 ||
                            (errno == EEXIST && unlinkat(q->outbox_fd, id, AT_REMOVEDIR) == 0 &&
                             mkdirat(q->outbox_fd, id, q->cfg->dir_mode) == 0)) {
                                (void) fs_set_owner(q->outbox_fd, id, q->cfg->dir_mode, q->gid);
                                free(base);
                                *ret = id;
                                return 0;
                        }
                        if (errno != EEXIST && errno != ENOTEMPTY) {
                                int r = -errno;
                                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                         "cannot create a batch folder in the outbox %s: %s", q->cfg->outbox,
                                         strerror(-r));
                                free(id);
                                free(base);
                                return r;
                        }
                }
                free(id);
        }
}

static char *strip_archive_suffix(const char *name) {
        static const char *const suffixes[] = { ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tgz", ".txz",
                                                ".tzst", ".tbz2", ".zip", ".7z", ".tar" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (str_has_suffix_nocase(name, suffixes[i]) && strlen(name) > strlen(suffixes[i]))
                        return xstrndup(name, strlen(name) - strlen(suffixes[i]));
        return xstrdup(name);
}

/* A claim that never got its drop (the drop vanished, or a crash came between
 * creating the claim and moving the drop in): remove exactly what claim.c
 * makes, never a tree, so that nothing a user dropped can go with it. */
static void remove_empty_claim(struct queue *q, const char *claim_path) {
        char *src = xasprintf("%s/src", claim_path), *origin = xasprintf("%s/origin", claim_path);
        char *partial = xasprintf("%s/src.partial", claim_path), *copied = xasprintf("%s/copied.json", claim_path);

        /* src.partial is the daemon's own copy of a drop that is still in the inbox;
         * a temp on top is a record's write a kill interrupted (never inside src/). */
        fs_remove_temps(AT_FDCWD, claim_path, false);
        if ((rmdir(src) == 0 || errno == ENOENT) && fs_remove_tree(AT_FDCWD, partial) == 0 &&
            (unlink(copied) == 0 || errno == ENOENT) && (unlink(origin) == 0 || errno == ENOENT) &&
            rmdir(claim_path) < 0 && errno != ENOENT)
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, errno, NULL,
                         "cannot remove the empty claim %s: %m", claim_path);
        free(copied);
        free(partial);
        free(origin);
        free(src);
}

/* What a claim across file systems took from the inbox but did not copy
 * (hard links, FIFOs, devices): listed as skipped, with the reason. */
static int add_left_out(struct walk *w, const char *claim_path) {
        char *path = xasprintf("%s/copied.json", claim_path), *text = NULL;
        int r = fs_read_file(AT_FDCWD, path, 1 << 30, &text, NULL);
        json_t *rec = r == 0 ? json_loads(text, 0, NULL) : NULL, *e;
        size_t i;

        free(text);
        free(path);
        if (r == -ENOENT)
                return 0;
        if (r == 0 && !rec)
                r = -EBADMSG;
        json_array_foreach(json_object_get(rec, "left_out"), i, e) {
                char *p = names_from_json_exact(json_object_get(e, "path"));
                const char *why = json_string_value(json_object_get(e, "reason"));
                if (p && p[0])
                        walk_add_skipped(w, p, why ? why : "not taken", NULL);
                free(p);
        }
        json_decref(rec);
        return r;
}

/* Jobs that end before they start: a manifest's missing files and checksum mismatches. */
static void add_failed_job(struct batch *b, const char *source, const char *error) {
        b->jobs = xrealloc(b->jobs, (b->n_jobs + 1) * sizeof(struct job));
        b->jobs[b->n_jobs] = (struct job) { .batch = b, .index = (unsigned) b->n_jobs, .source = xstrdup(source),
                                            .state = JOB_FAILED, .error = xstrdup(error),
                                            .finished = now_usec(CLOCK_REALTIME) };
        b->n_jobs++;
}

/* What a manifest's claim holds (manifest.json, written by claim.c): walk the
 * listed paths, check the checksums, and turn missing files into failed jobs.
 * Both lists may hold 100,000 paths: the missing ones are looked up in a set. */
static int register_manifest(struct batch *b, int srcfd, json_t *mf, struct walk *w, char **ret_id_base) {
        json_t *files = json_object_get(mf, "files"), *e;
        struct name_set *missing = name_set_new();
        size_t i;
        int r = 0;

        json_array_foreach(json_object_get(mf, "missing"), i, e) {
                char *mp = names_from_json_exact(e);
                if (mp)
                        name_set_add(missing, mp);
                free(mp);
        }
        json_array_foreach(files, i, e) {
                char *path = names_from_json_exact(json_object_get(e, "path"));
                if (!path) {
                        r = -EBADMSG;
                        break;
                }
                if (!name_set_contains(missing, path)) {
                        /* Folders on its path are looked at without following links too. */
                        const char *last;
                        int parent = fs_open_parent(srcfd, path, &last);
                        if (parent >= 0) {
                                walk_entry(w, parent, last, path, 0);
                                close(parent);
                        } else if (!walk_failed(w, parent, "cannot open a folder of the drop"))
                                walk_add_skipped(w, path, parent == -ELOOP || parent == -ENOTDIR
                                                 ? "a folder on its path is a symbolic link: not followed"
                                                 : strerror(-parent), NULL);
                }
                free(path);
        }
        name_set_free(missing);
        if (r < 0)
                return r;
        *ret_id_base = names_from_json_exact(json_object_get(mf, "batch"));
        json_t *labels = json_object_get(mf, "labels");
        b->labels = json_is_object(labels) ? json_incref(labels) : NULL;
        json_t *processing = json_object_get(mf, "processing");
        b->processing = json_is_object(processing) && json_object_size(processing) ? json_incref(processing) : NULL;
        b->thumbnail_size = (unsigned) json_integer_value(json_object_get(mf, "thumbnail_size"));
        b->job_timeout_usec = (uint64_t) json_integer_value(json_object_get(mf, "job_timeout_usec"));
        b->priority = (int) json_integer_value(json_object_get(mf, "priority"));
        b->not_before = (uint64_t) json_integer_value(json_object_get(mf, "not_before_usec"));
        return *ret_id_base ? 0 : -EBADMSG;
}

/* A file named one by one with its checksum. */
struct want_sha256 {
        char *path;
        const char *hex;
};

static int compare_want(const void *a, const void *b) {
        return strcmp(((const struct want_sha256 *) a)->path, ((const struct want_sha256 *) b)->path);
}

static int check_manifest_jobs(struct batch *b, int srcfd, json_t *mf, uint64_t timeout_usec) {
        json_t *files = json_object_get(mf, "files"), *missing = json_object_get(mf, "missing"), *e;
        struct want_sha256 *wants = xcalloc(json_array_size(files) + 1, sizeof(*wants));
        size_t i, n_wants = 0;

        /* checksums: only for files named one by one; sorted, so that each job
         * finds its own in O(log n) */
        json_array_foreach(files, i, e) {
                const char *want = json_string_value(json_object_get(e, "sha256"));
                char *path = want ? names_from_json_exact(json_object_get(e, "path")) : NULL;
                if (path)
                        wants[n_wants++] = (struct want_sha256) { .path = path, .hex = want };
        }
        if (n_wants > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(wants, n_wants, sizeof(*wants), compare_want);
        for (size_t n = 0; n_wants > 0 && n < b->n_jobs; n++) {
                struct job *j = &b->jobs[n];
                const struct want_sha256 key = { .path = j->source };
                const struct want_sha256 *w = bsearch(&key, wants, n_wants, sizeof(*wants), compare_want);
                if (!w)
                        continue;
                notify_progress();
                unsigned char got[32];
                char hex[65];
                int r = manifest_sha256_file(srcfd, w->path, got);
                if (r < 0 && errno_is_transient(r)) {
                        /* Could not read it now (no descriptors, an I/O error): not the file's fault. */
                        for (i = 0; i < n_wants; i++)
                                free(wants[i].path);
                        free(wants);
                        return r;
                }
                if (r == 0)
                        manifest_sha256_hex(got, hex);
                if (r < 0 || strcasecmp(hex, w->hex) != 0) {
                        j->state = JOB_FAILED;
                        j->finished = now_usec(CLOCK_REALTIME);
                        j->error = r < 0 ? xasprintf("cannot compute the checksum: %s", strerror(-r))
                                         : xasprintf("checksum mismatch: the manifest says sha256 %s, "
                                                     "the file has %s", w->hex, hex);
                }
        }
        for (i = 0; i < n_wants; i++)
                free(wants[i].path);
        free(wants);
        json_array_foreach(missing, i, e) {
                char *path = names_from_json_exact(e);
                if (!path)
                        continue;
                char *why = xasprintf("missing: the manifest lists it, but it was not in the inbox after %.0f s "
                                      "(manifest_timeout)", (double) timeout_usec / USEC_PER_SEC);
                add_failed_job(b, path, why);
                free(why);
                free(path);
        }
        return 0;
}

/* Why B is over its queue's limits (malloc'ed), or NULL. */
static char *over_limits(const struct queue_config *qc, const struct batch *b) {
        uint64_t files = b->n_jobs + b->n_skipped, bytes = 0;

        for (size_t i = 0; i < b->n_jobs; i++)
                bytes += (uint64_t) b->jobs[i].taken.size;
        for (size_t i = 0; i < b->n_skipped; i++)
                bytes += b->skipped[i].taken.known ? (uint64_t) b->skipped[i].taken.size : 0;
        if (qc->max_files && files > qc->max_files)
                return xasprintf("the drop holds %" PRIu64 " files, more than this queue's max_files (%" PRIu64 ")",
                                 files, qc->max_files);
        if (qc->max_bytes && bytes > qc->max_bytes)
                return xasprintf("the drop holds %" PRIu64 " bytes, more than this queue's max_bytes (%" PRIu64 ")",
                                 bytes, qc->max_bytes);
        return NULL;
}

/* What a registering child tells its parent, besides 0 (the batch record is
 * written) and a transient errno (try again later). */
#define REGISTER_EXIT_UNPACK 200        /* an archive: unpack it first */
#define REGISTER_EXIT_NOTHING 201       /* a claim that never got its drop, removed */
#define REGISTER_EXIT_FAILED 202        /* could not register, said why; the claim stays */

static int register_build(struct queue *q, const char *claim) {
        char *claim_path = xasprintf("%s/%s", q->claims_path, claim);
        char *rec_path = xasprintf("%s/batch.json", claim_path);
        char *mf_path = xasprintf("%s/manifest.json", claim_path);
        struct walk w = { .qc = q->cfg };
        struct batch *b;
        json_t *mf = NULL;
        char *id_base = NULL;
        int r = 0;

        /* Every look below tells absence (ENOENT) from a failure to look; a
         * failure leaves the claim as it is, and it is retried later. */
        bool registered = access(rec_path, F_OK) == 0;
        r = registered || errno == ENOENT ? 0 : -errno;
        free(rec_path);
        if (registered || r < 0) {
                free(mf_path);
                free(claim_path);
                if (r < 0)
                        (void) spool_defer(q, "cannot look at a claim", r);
                return r;
        }
        char *mf_text = NULL;
        r = fs_read_file(AT_FDCWD, mf_path, 64 << 20, &mf_text, NULL);
        free(mf_path);
        if (r == 0) {
                mf = json_loads(mf_text, 0, NULL);
                r = mf ? 0 : -EBADMSG;
        } else if (r == -ENOENT)
                r = 0;
        free(mf_text);
        if (r < 0) {
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot read the manifest record of claim %s: %s; it stays claimed", claim_path,
                         strerror(-r));
                if (r != -EBADMSG)
                        (void) spool_defer(q, "cannot read a claim's manifest record", r);
                free(claim_path);
                return r;
        }

        b = xcalloc(1, sizeof(*b));
        b->queue = q;
        b->claim = xstrdup(claim);
        b->claim_path = claim_path;
        b->created = now_usec(CLOCK_REALTIME);

        char *srcpath = xasprintf("%s/src", b->claim_path);
        int srcfd = open(srcpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int src_errno = errno;
        free(srcpath);
        if (srcfd < 0 && (src_errno != ENOENT || mf)) {
                r = -src_errno;
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot open claim %s/src: %s; it stays claimed and is retried", b->claim_path, strerror(-r));
                (void) spool_defer(q, "cannot open a claim", r);
                json_decref(mf);
                spool_batch_free(b);
                return r;
        }
        if (mf) {
                b->drop = names_from_json_exact(json_object_get(mf, "manifest"));
                b->root = xstrdup("src");
                struct stat mst;
                json_t *processing = json_object_get(mf, "processing");
                /* A manifest that gives passwords is not kept in the outbox: it would show them. */
                bool secret = json_object_get(processing, "password") || json_object_get(processing, "passwords");
                if (b->drop && !secret) {
                        b->kept_drop = xasprintf("src/%s", b->drop);
                        b->kept_drop_as = xstrdup(b->drop);
                        if (srcfd >= 0 && fstatat(srcfd, b->drop, &mst, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISREG(mst.st_mode) && mst.st_nlink == 1)
                                fs_ident_from_stat(&b->kept_drop_taken, &mst);
                }
                r = srcfd < 0 ? -errno : register_manifest(b, srcfd, mf, &w, &id_base);
        } else {
                struct stat st;
                r = srcfd < 0 ? -ENOENT : claim_drop_name(srcfd, &b->drop);
                if (r == 0 && fstatat(srcfd, b->drop, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = errno == ENOENT ? -EAGAIN : -errno; /* listed, then gone: look again */
                if (r == -ENOENT) {
                        /* Positively empty: a claim that never got its drop. */
                        if (srcfd >= 0)
                                close(srcfd);
                        remove_empty_claim(q, b->claim_path);
                        spool_batch_free(b);
                        return REGISTER_EXIT_NOTHING;
                }
                if (r < 0) {
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                 "cannot read claim %s/src: %s; it stays claimed and is retried", b->claim_path,
                                 strerror(-r));
                        (void) spool_defer(q, "cannot read a claim", r);
                        close(srcfd);
                        spool_batch_free(b);
                        return r;
                }
                int sniff = S_ISREG(st.st_mode) ? unpack_sniff(srcfd, b->drop) : 0;
                if (sniff < 0 && errno_is_transient(sniff)) {
                        close(srcfd);
                        (void) spool_defer(q, "cannot look into a claimed file", sniff);
                        spool_batch_free(b);
                        return sniff;
                }
                if (S_ISDIR(st.st_mode)) {
                        b->root = xasprintf("src/%s", b->drop);
                        id_base = xstrdup(b->drop);
                        int fd = openat(srcfd, b->drop, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                walk_dir(&w, fd, "", 0);
                        else if (!walk_failed(&w, errno, "cannot open the dropped folder"))
                                walk_add_skipped(&w, b->drop, "folder cannot be read", NULL);
                        int k = add_left_out(&w, b->claim_path);
                        if (k < 0)
                                (void) walk_failed(&w, k == -EBADMSG ? EIO : k, "cannot read the claim's copy record");
                } else if (sniff == 1 && st.st_nlink == 1) {
                        /* (A hard-linked archive is never unpacked: walk_entry says why below.) */
                        char *result_path = xasprintf("%s/unpack.json", b->claim_path);
                        char *res_text = NULL;
                        int k = fs_read_file(AT_FDCWD, result_path, 256 << 20, &res_text, NULL);
                        json_t *res = k == 0 ? json_loads(res_text, 0, NULL) : NULL;
                        free(res_text);
                        free(result_path);
                        if (k < 0 && k != -ENOENT) {
                                close(srcfd);
                                (void) spool_defer(q, "cannot read an archive's unpacking result", k);
                                spool_batch_free(b);
                                return k;
                        }
                        if (!res) {
                                /* Unpack first, in a child; registration goes on when it ends. */
                                close(srcfd);
                                spool_batch_free(b);
                                return REGISTER_EXIT_UNPACK;
                        }
                        id_base = strip_archive_suffix(b->drop);
                        b->kept_drop = xasprintf("src/%s", b->drop);
                        b->kept_drop_as = xstrdup(b->drop);
                        if (S_ISREG(st.st_mode) && st.st_nlink == 1)
                                fs_ident_from_stat(&b->kept_drop_taken, &st);
                        const char *error = json_string_value(json_object_get(res, "error"));
                        if (error) {
                                /* Refused or damaged: the archive itself is what is skipped, and why. */
                                b->root = xstrdup("src");
                                walk_add_skipped(&w, b->drop, error, &st);
                                free(b->kept_drop);
                                free(b->kept_drop_as);
                                b->kept_drop = b->kept_drop_as = NULL;
                        } else {
                                b->root = xstrdup("unpacked");
                                char *up = xasprintf("%s/unpacked", b->claim_path);
                                int fd = open(up, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                                free(up);
                                if (fd >= 0)
                                        walk_dir(&w, fd, "", 0);
                                else
                                        (void) walk_failed(&w, errno == ENOENT ? EIO : errno,
                                                           "cannot open the unpacked archive");
                                json_t *e;
                                size_t i;
                                json_array_foreach(json_object_get(res, "skipped"), i, e) {
                                        char *p = names_from_json_exact(json_object_get(e, "path"));
                                        const char *why = json_string_value(json_object_get(e, "reason"));
                                        if (p)
                                                walk_add_skipped(&w, p, why ? why : "not extracted", NULL);
                                        free(p);
                                }
                        }
                        json_decref(res);
                } else {
                        b->root = xstrdup("src");
                        id_base = strip_pdf(b->drop);
                        walk_entry(&w, srcfd, b->drop, b->drop, 0);
                }
        }
        if (w.n_pdfs > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(w.pdfs, w.n_pdfs, sizeof(*w.pdfs), compare_pdfs);

        /* The batch owns what the walk found from here on. */
        b->jobs = xcalloc(w.n_pdfs, sizeof(struct job));
        b->n_jobs = w.n_pdfs;
        for (size_t i = 0; i < w.n_pdfs; i++) {
                b->jobs[i].batch = b;
                b->jobs[i].index = (unsigned) i;
                b->jobs[i].source = w.pdfs[i].path;
                b->jobs[i].taken = w.pdfs[i].taken;
        }
        free(w.pdfs);
        b->skipped = w.skipped;
        b->n_skipped = w.n_skipped;
        if (r == 0 && w.error < 0) {
                r = w.error;
                log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL, "%s in claim %s: %s",
                         w.error_path, b->claim_path, strerror(-r));
        }
        if (mf && r == 0)
                r = check_manifest_jobs(b, srcfd, mf, q->cfg->manifest_timeout_usec);
        json_decref(mf);

        char *over = r == 0 ? over_limits(q->cfg, b) : NULL;
        if (over) {
                /* Rejected whole, before it has a name in the outbox; its files are kept. */
                r = spool_claim_reject(q, b->claim, b->drop ? b->drop : b->claim, over);
                free(over);
                free(id_base);
                if (srcfd >= 0)
                        close(srcfd);
                spool_batch_free(b);
                if (r < 0 && errno_is_transient(r))
                        (void) spool_defer(q, "cannot reject a drop over the queue's limits", r);
                return r < 0 ? r : REGISTER_EXIT_NOTHING;
        }
        if (r == 0)
                r = reserve_batch_id(q, id_base, &b->id);
        free(id_base);
        if (r < 0) {
                if (srcfd >= 0)
                        close(srcfd);
                log_full(LOG_ERR, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                         "cannot register claim %s: %s; it stays claimed and is retried", b->claim_path,
                         strerror(-r));
                if (errno_is_transient(r))
                        (void) spool_defer(q, "cannot register a claimed drop", r);
                spool_batch_free(b);
                return r;
        }

        /* Names in the batch's outbox folder, unique whatever was dropped. */
        struct name_set *names = name_set_new();
        name_set_add(names, STATUS_FILE);
        name_set_add(names, SUMMARY_FILE); /* the summary page's, whatever was dropped */
        static const char *const catalog[] = { MODEL_BATCH_CATALOG };
        for (size_t i = 0; i < ELEMENTSOF(catalog); i++)
                name_set_add(names, catalog[i]); /* and the parts catalog's */
        if (b->kept_drop_as)
                name_set_add(names, b->kept_drop_as);
        for (size_t i = 0; i < b->n_jobs; i++) {
                struct job *j = &b->jobs[i];
                const char *orig = basename_of(j->source);
                bool clash = strcmp(orig, STATUS_FILE) == 0;
                for (size_t k = 0; model_job_all_outputs[k]; k++)
                        clash = clash || strcmp(orig, model_job_all_outputs[k]) == 0;
                j->original = clash ? xasprintf("original-%s", orig) : xstrdup(orig);
                const char *extras[] = { MODEL_JOB_OUTPUTS, MODEL_JOB_OPTIONAL_OUTPUTS, STATUS_FILE, j->original, NULL };
                char *stem = strip_pdf(j->source);
                j->name = name_set_claim_unique(names, stem, extras, false);
                free(stem);
        }
        for (size_t i = 0; i < b->n_skipped; i++) {
                struct skipped *sk = &b->skipped[i];
                /* Keep (a copy of) every regular file a user dropped, however deep;
                 * never links, devices or FIFOs. */
                if (sk->taken.known)
                        sk->kept_as = name_set_claim_unique(names, sk->source, NULL, true);
        }
        name_set_free(names);
        if (srcfd >= 0)
                close(srcfd);

        r = spool_batch_record(b);
        spool_batch_free(b);
        return r;
}

/* ---- the registering child ---- */

#define MAX_REGISTERING 2       /* children at once; the rest wait their turn */

struct registering {
        struct queue *queue;
        char *claim;
        const struct register_handlers *h;
        void *userdata;
        sd_event_source *child;
        bool started;
        struct registering *next;
};

static struct registering *registerings;

bool register_busy(const struct queue *q, const char *claim) {
        for (const struct registering *r = registerings; r; r = r->next)
                if (r->queue == q && strcmp(r->claim, claim) == 0)
                        return true;
        return false;
}

bool register_queue_busy(const struct queue *q) {
        for (const struct registering *r = registerings; r; r = r->next)
                if (r->queue == q)
                        return true;
        return false;
}

static void start_next(void);

static void registering_free(struct registering *reg) {
        for (struct registering **p = &registerings; *p; p = &(*p)->next)
                if (*p == reg) {
                        *p = reg->next;
                        break;
                }
        sd_event_source_disable_unref(reg->child);
        free(reg->claim);
        free(reg);
}

static int on_register_exit(sd_event_source *s, const siginfo_t *si, void *reg_ptr) {
        struct registering *reg = reg_ptr;
        struct queue *q = reg->queue;
        struct log_ctx ctx = { .queue = q->name };
        char *claim = xstrdup(reg->claim);
        int code = si->si_code == CLD_EXITED ? si->si_status : -1;
        const struct register_handlers *h = reg->h;
        void *userdata = reg->userdata;

        registering_free(reg);
        if (q->spool->stopping) {
                free(claim);
                return 0;       /* the next start picks it up where it is */
        }
        if (code == 0)
                h->registered(q, claim, userdata);
        else if (code == REGISTER_EXIT_UNPACK) {
                char *src = xasprintf("%s/%s/src", q->claims_path, claim), *drop = NULL;
                int fd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = fd < 0 ? -errno : claim_drop_name(fd, &drop);
                if (fd >= 0)
                        close(fd);
                if (r == 0)
                        h->needs_unpack(q, claim, drop, userdata);
                else
                        (void) spool_defer(q, "cannot read a claim", r);
                free(drop);
                free(src);
        } else if (code == REGISTER_EXIT_NOTHING || code == REGISTER_EXIT_FAILED)
                ;       /* said by the child */
        else if (code > 0 && errno_is_transient(code))
                (void) spool_defer(q, "cannot register a claimed drop", code);
        else {
                log_full(LOG_ERR, &ctx, 0, NULL, "registering claim %s ended %s %d; it stays claimed and is retried",
                         claim, code < 0 ? "by signal" : "with status", code < 0 ? si->si_status : code);
                (void) spool_defer(q, "cannot register a claimed drop", EIO);
        }
        free(claim);
        start_next();
        return 0;
}

static void child_main(struct queue *q, const char *claim) {
        int r = register_build(q, claim);
        if (r < 0)
                _exit(errno_is_transient(r) ? -r : REGISTER_EXIT_FAILED);
        _exit(r);
}

static int start_one(struct registering *reg) {
        struct queue *q = reg->queue;
        pid_t pid = fork_bound();
        int r;

        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_main(q, reg->claim);
        r = sd_event_add_child(q->spool->event, &reg->child, pid, WEXITED, on_register_exit, reg);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        reg->started = true;
        return 0;
}

static void start_next(void) {
        size_t running = 0;

        for (struct registering *reg = registerings; reg; reg = reg->next)
                running += reg->started;
        for (struct registering *reg = registerings, *next; reg && running < MAX_REGISTERING; reg = next) {
                next = reg->next;
                if (reg->started)
                        continue;
                struct queue *q = reg->queue;
                int r = start_one(reg);
                if (r < 0) {
                        /* No process to be had now: the claim stays, and is retried. */
                        log_full(LOG_WARNING, &(struct log_ctx) { .queue = q->name }, -r, NULL,
                                 "cannot start registering claim %s: %s", reg->claim, strerror(-r));
                        registering_free(reg);
                        (void) spool_defer(q, "cannot start registering a claimed drop", r);
                        continue;
                }
                running++;
        }
}

int register_claim(struct queue *q, const char *claim, const struct register_handlers *h, void *userdata) {
        if (register_busy(q, claim))
                return 0;
        struct registering *reg = xcalloc(1, sizeof(*reg)), **p = &registerings;
        reg->queue = q;
        reg->claim = xstrdup(claim);
        reg->h = h;
        reg->userdata = userdata;
        while (*p)
                p = &(*p)->next;
        *p = reg;       /* in order: claims are registered as they came */
        start_next();
        return 0;
}

