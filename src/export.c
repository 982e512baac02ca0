/* export.c: a batch's outbox folder as a ZIP, written with libarchive.
 *
 * The walk goes folder by folder in sorted order, so the same batch gives the
 * same entries in the same order; only one folder's names are in memory at a
 * time per level, and file data passes through one fixed buffer. */
#include "export.h"
#include "fsutil.h"
#include "model.h"
#include "status.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_MAX_DEPTH 64
#define TEMP_PREFIX ".pdfspool-tmp."

struct walk {
        struct archive *a;
        bool with_originals;
        json_t *skipped_kept;  /* batch status "skipped"[].kept_as, relative to the batch */
        char *error;
};

/* "WHAT PATH: reason"; R < 0 is an errno, 0 means libarchive's error. */
static int fail(struct walk *w, int r, const char *what, const char *path) {
        if (!w->error)
                w->error = xasprintf("%s %s: %s", what, path, r < 0 ? strerror(-r) : archive_error_string(w->a));
        return r < 0 ? r : -EIO;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool is_skipped_copy(const struct walk *w, const char *rel) {
        size_t i;
        json_t *s;

        json_array_foreach(w->skipped_kept, i, s) {
                const char *kept = json_string_value(json_object_get(s, "kept_as"));
                if (kept && strcmp(kept, rel) == 0)
                        return true;
        }
        return false;
}

static int add_file(struct walk *w, int dirfd, const char *name, const char *rel) {
        static char buf[64 * 1024];
        struct archive_entry *e;
        struct stat stbuf, *st = &stbuf;
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r = 0;

        /* Gone since the folder was read: a file the daemon replaced (a running batch). */
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0)
                return fail(w, -errno, "cannot open", rel);
        /* The size of what was opened: a status file replaced meanwhile is another inode. */
        if (fstat(fd, st) < 0) {
                r = -errno;
                close(fd);
                return fail(w, r, "cannot look at", rel);
        }
        if (!S_ISREG(st->st_mode)) {
                close(fd);
                return 0;
        }
        e = archive_entry_new();
        archive_entry_set_pathname(e, rel);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, st->st_size);
        archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                r = fail(w, 0, "cannot write the ZIP entry of", rel);
        /* Exactly the size in the header: a file that grows meanwhile is cut there. */
        for (off_t left = st->st_size; r == 0 && left > 0;) {
                ssize_t n = read(fd, buf, (size_t) (left < (off_t) sizeof(buf) ? left : (off_t) sizeof(buf)));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = fail(w, -errno, "cannot read", rel);
                else if (n == 0)
                        r = fail(w, -EIO, "cannot read (it shrank while read)", rel);
                else if (archive_write_data(w->a, buf, (size_t) n) != n)
                        r = fail(w, 0, "cannot write into the ZIP:", rel);
                else
                        left -= n;
        }
        if (r == 0 && archive_write_finish_entry(w->a) != ARCHIVE_OK)
                r = fail(w, 0, "cannot finish the ZIP entry of", rel);
        archive_entry_free(e);
        close(fd);
        return r;
}

/* DIRFD is the folder PREFIX ("" at the batch's top). */
static int walk_dir(struct walk *w, int dirfd, const char *prefix, int depth) {
        DIR *d;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (depth > EXPORT_MAX_DEPTH)
                return fail(w, -ELOOP, "too deep:", prefix);
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || !(d = fdopendir(fd))) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return fail(w, r, "cannot read the folder", prefix[0] ? prefix : ".");
        }
        rewinddir(d);
        errno = 0;
        while ((de = readdir(d))) {
                /* the daemon's temps: job folders in the making, files being replaced (fsutil.c) */
                if (fs_dot_or_dotdot(de->d_name) || fs_is_temp_name(de->d_name))
                        continue;
                names = xrealloc(names, (n + 1) * sizeof(char *));
                names[n++] = xstrdup(de->d_name);
                errno = 0;
        }
        if (errno != 0)
                r = fail(w, -errno, "cannot read the folder", prefix[0] ? prefix : ".");
        closedir(d);
        if (n > 0) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan) */
                qsort(names, n, sizeof(char *), compare_names);

        /* A job's folder: its status names the original. */
        char *original = NULL;
        if (!w->with_originals) {
                json_t *st = status_load(dirfd, STATUS_FILE);
                const char *o = json_string_value(json_object_get(st, "original"));
                if (json_object_get(st, "job") && o)
                        original = xstrdup(o);
                json_decref(st);
        }
        for (size_t i = 0; i < n && r == 0; i++) {
                struct stat st;
                char *rel = prefix[0] ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
                if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = errno == ENOENT ? 0 : fail(w, -errno, "cannot look at", rel);
                else if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                r = errno == ENOENT ? 0 : fail(w, -errno, "cannot open the folder", rel);
                        else {
                                r = walk_dir(w, sub, rel, depth + 1);
                                close(sub);
                        }
                } else if (S_ISREG(st.st_mode)) {
                        bool skip = !w->with_originals &&
                                    ((original && strcmp(original, names[i]) == 0) || is_skipped_copy(w, rel));
                        if (!skip)
                                r = add_file(w, dirfd, names[i], rel);
                }
                /* links and special files are never the daemon's: left out */
                free(rel);
        }
        free(original);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

int export_batch_zip(int outbox_fd, const char *batch, bool with_originals, int out_fd, char **ret_error) {
        struct walk w = { .with_originals = with_originals };
        int r, bfd;

        bfd = openat(outbox_fd, batch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0) {
                r = -errno;
                *ret_error = xasprintf("cannot open the batch's folder %s: %s", batch, strerror(-r));
                return r;
        }
        json_t *status = status_load(bfd, STATUS_FILE);
        w.skipped_kept = json_incref(json_object_get(status, "skipped"));
        json_decref(status);

        w.a = archive_write_new();
        if (archive_write_set_format_zip(w.a) != ARCHIVE_OK ||
            archive_write_zip_set_compression_deflate(w.a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(w.a, out_fd) != ARCHIVE_OK)
                r = fail(&w, 0, "cannot start the ZIP of", batch);
        else
                r = walk_dir(&w, bfd, "", 0);
        if (archive_write_close(w.a) != ARCHIVE_OK && r == 0)
                r = fail(&w, 0, "cannot finish the ZIP of", batch);
        archive_write_free(w.a);
        json_decref(w.skipped_kept);
        close(bfd);
        if (r < 0)
                *ret_error = w.error ? w.error : xasprintf("cannot export %s: %s", batch, strerror(-r));
        else
                free(w.error);
        return r;
}

/* Temps of this batch's ZIP that a writer killed midway (a daemon stopped
 * while it wrote) left: their writer's pid is gone. Only the daemon's own
 * names, never anything else. */
void export_remove_stale_temps(int outbox_fd, const char *batch) {
        char *prefix = xasprintf(TEMP_PREFIX "%s.zip.", batch);
        size_t len = strlen(prefix);
        int fd = fcntl(outbox_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!d) {
                if (fd >= 0)
                        close(fd);
                free(prefix);
                return;
        }
        rewinddir(d);
        while ((de = readdir(d))) {
                char *end;
                if (strncmp(de->d_name, prefix, len) != 0)
                        continue;
                long pid = strtol(de->d_name + len, &end, 10);
                if (*end == 0 && pid > 0 && kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                        (void) unlinkat(outbox_fd, de->d_name, 0);
        }
        closedir(d);
        free(prefix);
}

int export_batch_zip_file(int outbox_fd, const char *batch, mode_t mode, gid_t gid, char **ret_error) {
        char *name = xasprintf("%s.zip", batch), *tmp = xasprintf(TEMP_PREFIX "%s.zip.%d", batch, (int) getpid());
        int r, fd;

        export_remove_stale_temps(outbox_fd, batch);
        fd = openat(outbox_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

        if (fd < 0) {
                r = -errno;
                *ret_error = xasprintf("cannot create %s: %s", tmp, strerror(-r));
                goto out;
        }
        r = export_batch_zip(outbox_fd, batch, false, fd, ret_error);
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && gid != (gid_t) -1)
                (void) fchown(fd, (uid_t) -1, gid); /* said once at start when it cannot */
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(outbox_fd, tmp, outbox_fd, name) < 0)
                r = -errno;
        if (r == 0)
                r = fs_fsync_dir(outbox_fd, ".");
        if (r < 0) {
                (void) unlinkat(outbox_fd, tmp, 0);
                if (!*ret_error)
                        *ret_error = xasprintf("cannot write %s: %s", name, strerror(-r));
        }
out:
        free(name);
        free(tmp);
        return r;
}
