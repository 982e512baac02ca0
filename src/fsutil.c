/* fsutil.c: file system operations done safely.
 *
 * Every file a reader may look at is replaced atomically (temp file in the same
 * directory, fsync, rename), symlinks are never followed, and a move that
 * crosses file systems is a copy that is fsync'ed before the source goes. */
#include "fsutil.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int fs_fsync_dir(int dirfd, const char *path) {
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0 && errno != EINVAL)
                r = -errno;
        close(fd);
        return r;
}

/* Open a new temp file ".NAME.tmp-XXXXXX" in dirfd; its name goes to tmpname. */
static int open_temp(int dirfd, const char *name, char *tmpname, size_t size, mode_t mode) {
        static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

        for (int attempt = 0; attempt < 100; attempt++) {
                char rnd[7];
                uint64_t x = now_usec(CLOCK_MONOTONIC) ^ ((uint64_t) getpid() << 20) ^ (uint64_t) random();
                for (int i = 0; i < 6; i++, x /= 36)
                        rnd[i] = chars[x % 36];
                rnd[6] = 0;
                const char *base = strrchr(name, '/');
                size_t dirlen = base ? (size_t) (base - name + 1) : 0;
                /* ".", ".tmp-" and six characters around the name: cut it to stay within NAME_MAX. */
                snprintf(tmpname, size, "%.*s.%.*s.tmp-%s", (int) dirlen, name, NAME_MAX - 12, base ? base + 1 : name,
                         rnd);
                int fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int fs_write_json(int dirfd, const char *name, json_t *j, mode_t mode, gid_t gid, unsigned flags) {
        char *text;
        int r;

        if (!j)
                return -EINVAL;
        text = json_dumps(j, flags & FS_WRITE_PRETTY ? JSON_INDENT(2) | JSON_REAL_PRECISION(6) : JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        size_t len = strlen(text);
        text = xrealloc(text, len + 2);
        text[len] = '\n';
        text[len + 1] = 0;
        r = fs_write_atomic(dirfd, name, text, len + 1, mode, gid, flags);
        free(text);
        return r;
}

int fs_open_parent(int dirfd, const char *path, const char **ret_last) {
        const char *p = path, *slash;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        while ((slash = strchr(p, '/'))) {
                char *part = xstrndup(p, (size_t) (slash - p));
                int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int err = errno;
                free(part);
                close(fd);
                if (next < 0)
                        return -err;
                fd = next;
                p = slash + 1;
        }
        *ret_last = p;
        return fd;
}

/* Mode and group of an open file or folder. */
static int set_owner_fd(int fd, mode_t mode, gid_t gid) {
        if (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0 && errno != EPERM)
                return -errno;
        /* after chown, which may clear set-id bits */
        return fchmod(fd, mode) < 0 ? -errno : 0;
}

int fs_set_owner(int dirfd, const char *path, mode_t mode, gid_t gid) {
        struct stat before, st;
        int fd, r;

        /* Looked at first, so that opening it cannot touch a device or block on a FIFO. */
        if (fstatat(dirfd, path, &before, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(before.st_mode) && !S_ISDIR(before.st_mode))
                return -EINVAL;
        fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (st.st_dev != before.st_dev || st.st_ino != before.st_ino)
                r = -ESTALE;
        else if (S_ISREG(st.st_mode) && st.st_nlink != 1)
                /* Another name for it exists somewhere: not an inode the daemon made alone. */
                r = -EMLINK;
        else
                r = set_owner_fd(fd, mode, gid);
        close(fd);
        return r;
}

/* Does PATH go up, or start at the root? Such a path is never beneath anything. */
static bool path_leaves(const char *path) {
        if (path[0] == '/')
                return true;
        for (const char *c = path; *c;) {
                const char *end = strchrnul(c, '/');
                if (end - c == 2 && c[0] == '.' && c[1] == '.')
                        return true;
                c = *end ? end + 1 : end;
        }
        return false;
}

int fs_open_beneath(int dirfd, const char *path, int flags) {
        static bool no_openat2;
        const char *last;
        int parent, fd;

        if (path_leaves(path))
                return -EXDEV;
        flags |= O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
        if (!no_openat2) {
                struct open_how how = { .flags = (uint64_t) flags,
                                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
                fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                /* EAGAIN: a rename raced the lookup, which openat2 then refuses; the walk below decides. */
                if (errno != ENOSYS && errno != EPERM && errno != EAGAIN)
                        return -errno;
                if (errno == ENOSYS)
                        no_openat2 = true;
        }
        /* One component at a time, never through a link. */
        parent = fs_open_parent(dirfd, path, &last);
        if (parent < 0)
                return parent;
        fd = openat(parent, last, flags);
        fd = fd < 0 ? -errno : fd;
        close(parent);
        return fd;
}

/* Why the file at PATH (beneath DIRFD) cannot be opened the way it was taken, after
 * fs_open_beneath() failed with ERR; NULL when ERR is not about what is there. */
static const char *why_not_taken(int dirfd, const char *path, int err) {
        const char *last;
        struct stat st;
        int parent;

        if (err != -ELOOP && err != -ENOTDIR && err != -ENOENT && err != -EXDEV)
                return NULL;
        parent = fs_open_parent(dirfd, path, &last);
        if (parent == -ELOOP || parent == -ENOTDIR)
                return "changed after it was taken: a folder on its path is now a symbolic link or not a folder";
        if (parent < 0)
                return parent == -ENOENT ? "changed after it was taken: a folder on its path is gone" : NULL;
        int r = fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
        close(parent);
        if (r == -ENOENT)
                return "changed after it was taken: it is gone";
        if (r == 0 && S_ISLNK(st.st_mode))
                return "changed after it was taken: now a symbolic link";
        if (r == 0 && !S_ISREG(st.st_mode))
                return "changed after it was taken: no longer a regular file";
        return err == -EXDEV ? "changed after it was taken: its path leads outside the drop" : NULL;
}

/* A file system can come back under another device number (a reboot that
 * numbers disks or loop devices anew): a file on the same file system as
 * DIRFD (the claim it was taken into) is judged by its inode and size. */
static bool same_fs(int dirfd, const struct stat *st) {
        struct stat dst;
        return dirfd != AT_FDCWD && fstat(dirfd, &dst) == 0 && dst.st_dev == st->st_dev;
}

int fs_open_taken(int dirfd, const char *path, const struct fs_ident *taken, const char **ret_why) {
        struct stat st;
        const char *why = NULL;
        int fd = fs_open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK);

        *ret_why = NULL;
        if (fd < 0) {
                *ret_why = why_not_taken(dirfd, path, fd);
                return *ret_why ? -ESTALE : fd;
        }
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode))
                why = "changed after it was taken: no longer a regular file";
        else if (taken->known && (st.st_ino != taken->ino || (st.st_dev != taken->dev && !same_fs(dirfd, &st))))
                why = "changed after it was taken: now a different file";
        else if (st.st_nlink != 1)
                why = "changed after it was taken: now a hard link to a file that also exists elsewhere";
        else if (taken->known && st.st_size != taken->size)
                why = "changed after it was taken: its size changed";
        if (why) {
                close(fd);
                *ret_why = why;
                return -ESTALE;
        }
        /* Reads block from here on: a regular file never blocks anyway. */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
}

void fs_ident_from_stat(struct fs_ident *ret, const struct stat *st) {
        *ret = (struct fs_ident) { .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .known = true };
}

int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, gid_t gid,
                    unsigned flags) {
        char tmp[PATH_MAX];
        int fd, r;

        fd = open_temp(dirfd, name, tmp, sizeof(tmp), mode);
        if (fd < 0)
                return fd;
        r = write_all(fd, data, len);
        /* A group that cannot be given (not a member, a sandbox without chown) is
         * checked and reported once, when the queue starts; never a lost write. */
        if (r == 0)
                r = set_owner_fd(fd, mode, gid);
        if (r == 0 && !(flags & FS_WRITE_STAGED) && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (flags & FS_WRITE_SYNC_DIR) {
                const char *slash = strrchr(name, '/');
                if (slash) {
                        char *dir = xstrndup(name, (size_t) (slash - name));
                        r = fs_fsync_dir(dirfd, dir[0] ? dir : "/");
                        free(dir);
                } else
                        r = fs_fsync_dir(dirfd, ".");
        }
        return r;
}

int fs_mkdirat_p(int dirfd, const char *path, mode_t mode) {
        return fs_mkdirat_p_owned(dirfd, path, mode, (gid_t) -1);
}

int fs_mkdirat_p_owned(int dirfd, const char *path, mode_t mode, gid_t gid) {
        char *p = xstrdup(path);
        int r = 0;

        for (char *s = p + 1; ; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        if (mkdirat(dirfd, p, mode) == 0)
                                (void) fs_set_owner(dirfd, p, mode, gid);
                        else if (errno != EEXIST) {
                                r = -errno;
                                break;
                        }
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        free(p);
        if (r == 0) {
                struct stat st;
                if (fstatat(dirfd, path, &st, 0) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return r;
}

int fs_mkdir_p(const char *path, mode_t mode) {
        return fs_mkdirat_p_owned(AT_FDCWD, path, mode, (gid_t) -1);
}

DIR *fs_opendir_at(int dirfd, const char *path) {
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return NULL;
        d = fdopendir(fd);
        if (!d) {
                int err = errno;
                close(fd);
                errno = err;
        }
        return d;
}

int fs_empty_dir(int parent_fd, const char *path) {
        DIR *d = fs_opendir_at(parent_fd, path);
        struct dirent *de;
        int r = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                int k = fs_remove_tree(dirfd(d), de->d_name);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        return r;
}

int fs_remove_tree(int dirfd, const char *name) {
        int r;

        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        r = fs_empty_dir(dirfd, name);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

/* All of IN (from its start) into OUT: a clone where the file system shares
 * blocks, else an in-kernel copy, else read and write. */
static int copy_data(int in, int out) {
        struct stat st;

        if (fstat(in, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode) && st.st_size == 0)
                return 0;       /* nothing to copy: an empty file is common among skipped ones */
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        if (lseek(in, 0, SEEK_SET) < 0 || lseek(out, 0, SEEK_SET) < 0 || ftruncate(out, 0) < 0)
                return -errno;
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n == 0)
                        return 0;
                if (n > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                        return -errno;
                break;
        }
        /* Fall back to read/write from where we are. */
        char buf[128 * 1024];
        for (;;) {
                ssize_t k = read(in, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                int r = write_all(out, buf, (size_t) k);
                if (r < 0)
                        return r;
        }
}

/* Give OUT its mode and group, sync it (unless not SYNC), close it. */
static int finish_copy(int out, mode_t mode, gid_t gid, bool sync) {
        int r = set_owner_fd(out, mode, gid);
        if (r == 0 && sync && fsync(out) < 0)
                r = -errno;
        if (close(out) < 0 && r == 0)
                r = -errno;
        return r;
}

int fs_copy_fd(int in, int dst_dirfd, const char *dst, mode_t mode, gid_t gid, bool sync) {
        char tmp[PATH_MAX];
        int out, r;

        out = open_temp(dst_dirfd, dst, tmp, sizeof(tmp), 0600);
        if (out < 0)
                return out;
        r = copy_data(in, out);
        if (r == 0)
                r = finish_copy(out, mode, gid, sync);
        else
                close(out);
        /* Atomic, and never over a file already there. */
        if (r == 0 && renameat2(dst_dirfd, tmp, dst_dirfd, dst, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL)
                        r = faccessat(dst_dirfd, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? -EEXIST
                            : renameat(dst_dirfd, tmp, dst_dirfd, dst) < 0 ? -errno : 0;
        }
        if (r < 0)
                (void) unlinkat(dst_dirfd, tmp, 0);
        return r;
}

/* Copy one regular file that has no other link (never through a symlink); the
 * copy is fsync'ed. -EMLINK for a file with more than one link: copying it would
 * hide that it also exists elsewhere. */
static int copy_file(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode) {
        int in, out, r = 0;
        struct stat st;

        in = openat(src_dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (in < 0)
                return -errno;
        if (fstat(in, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EINVAL;
        else if (st.st_nlink > 1)
                r = -EMLINK;
        if (r < 0) {
                close(in);
                return r;
        }
        out = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0) {
                r = -errno;
                close(in);
                return r;
        }
        r = copy_data(in, out);
        if (r == 0)
                r = finish_copy(out, mode, (gid_t) -1, true);
        else
                close(out);
        close(in);
        if (r < 0)
                (void) unlinkat(dst_dirfd, dst, 0);
        return r;
}

bool fs_is_hardlink_marker(int dirfd, const char *name, const struct stat *st) {
        char target[sizeof(FS_HARDLINK_MARKER) + 1];

        if (!S_ISLNK(st->st_mode))
                return false;
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
        return n == (ssize_t) strlen(FS_HARDLINK_MARKER) && memcmp(target, FS_HARDLINK_MARKER, (size_t) n) == 0;
}

/* Copy a tree: directories and regular files; symlinks are recreated as links
 * (never followed); FIFOs, sockets and devices are left out; a hard-linked file
 * becomes FS_HARDLINK_MARKER. */
int fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst) {
        struct stat st;
        int r;

        if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISREG(st.st_mode)) {
                /* A file with another name elsewhere is not copied: the copy would have one
                 * link and pass for the user's own file. A marker stands in its place, so
                 * that registration can say why it was not taken. */
                r = st.st_nlink > 1 ? -EMLINK : copy_file(src_dirfd, src, dst_dirfd, dst, st.st_mode & 07777);
                if (r == -EMLINK)
                        r = symlinkat(FS_HARDLINK_MARKER, dst_dirfd, dst) < 0 ? -errno : 0;
                return r;
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(src_dirfd, src, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = 0;
                return symlinkat(target, dst_dirfd, dst) < 0 ? -errno : 0;
        }
        if (!S_ISDIR(st.st_mode))
                return 0;

        if (mkdirat(dst_dirfd, dst, (st.st_mode & 07777) | 0700) < 0)
                return -errno;
        DIR *d = fs_opendir_at(src_dirfd, src);
        if (!d)
                return -errno;
        int dfd = openat(dst_dirfd, dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                closedir(d);
                return r;
        }
        struct dirent *de;
        r = 0;
        while ((de = readdir(d))) {
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                r = fs_copy_tree(dirfd(d), de->d_name, dfd, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r == 0 && fsync(dfd) < 0)
                r = -errno;
        close(dfd);
        return r;
}

int fs_move(const char *src, const char *dst, bool noreplace) {
        if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, noreplace ? RENAME_NOREPLACE : 0) == 0)
                return 0;
        if (errno == EINVAL && noreplace) {
                /* File systems without RENAME_NOREPLACE (some NFS): check, then rename. */
                if (faccessat(AT_FDCWD, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        return -EEXIST;
                if (rename(src, dst) == 0)
                        return 0;
        }
        if (errno != EXDEV)
                return -errno;
        if (faccessat(AT_FDCWD, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;
        /* Only what was copied may go: the source is looked at before and after,
         * and a file that changed meanwhile stays where it was (-EBUSY). */
        struct stat before, after;
        if (lstat(src, &before) < 0)
                return -errno;
        if (S_ISDIR(before.st_mode))
                return -EISDIR; /* a tree needs a record of what was taken: claim.c */
        int r = fs_copy_tree(AT_FDCWD, src, AT_FDCWD, dst);
        if (r == 0 && lstat(src, &after) < 0)
                r = -errno;
        if (r == 0 && (after.st_ino != before.st_ino || after.st_size != before.st_size ||
                       after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec))
                r = -EBUSY;
        if (r < 0) {
                (void) unlinkat(AT_FDCWD, dst, 0);
                return r;
        }
        return unlink(src) < 0 && errno != ENOENT ? -errno : 0;
}

int fs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len) {
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        size_t size = 0, alloc = 4096;
        char *buf;

        if (fd < 0)
                return -errno;
        buf = xmalloc(alloc);
        for (;;) {
                if (size + 1 >= alloc) {
                        if (alloc > max + 1) {
                                free(buf);
                                close(fd);
                                return -EFBIG;
                        }
                        alloc *= 2;
                        buf = xrealloc(buf, alloc);
                }
                ssize_t n = read(fd, buf + size, alloc - size - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        free(buf);
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        close(fd);
        if (size > max) {
                free(buf);
                return -EFBIG;
        }
        buf[size] = 0;
        *ret = buf;
        if (ret_len)
                *ret_len = size;
        return 0;
}

int fs_has_writer(int dirfd, const char *name) {
        /* A read lease is refused with EAGAIN while anyone has the file open for
         * writing. The daemon ignores SIGIO, so a lease break cannot hurt it. */
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        int r;

        if (fd < 0)
                return -errno;
        if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
                (void) fcntl(fd, F_SETLEASE, F_UNLCK);
                r = 0;
        } else
                r = errno == EAGAIN ? 1 : -errno;
        close(fd);
        return r;
}

bool fs_is_temp_name(const char *name) {
        size_t n = strlen(name);

        return name[0] == '.' && (strncmp(name, ".pdfspool-tmp.", 14) == 0 || strstr(name, ".tmp-") ||
                                  (n > 5 && strcmp(name + n - 4, ".tmp") == 0));
}

static void remove_temps(int parent_fd, const char *path, bool recurse, unsigned depth) {
        DIR *d = fs_opendir_at(parent_fd, path);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (fs_dot_or_dotdot(de->d_name))
                        continue;
                if (fs_is_temp_name(de->d_name))
                        (void) fs_remove_tree(dirfd(d), de->d_name);
                else if (recurse && de->d_type == DT_DIR && depth < 64)
                        remove_temps(dirfd(d), de->d_name, true, depth + 1);
        }
        closedir(d);
}

void fs_remove_temps(int dirfd, const char *path, bool recurse) {
        remove_temps(dirfd, path, recurse, 0);
}

int fs_free_bytes(int dirfd, const char *path, uint64_t *ret) {
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct statvfs st;
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fstatvfs(fd, &st) < 0)
                r = -errno;
        else
                *ret = (uint64_t) st.f_bavail * st.f_frsize;
        close(fd);
        return r;
}
