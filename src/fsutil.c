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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
                snprintf(tmpname, size, "%.*s.%s.tmp-%s", (int) dirlen, name, base ? base + 1 : name, rnd);
                int fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int fs_write_json(int dirfd, const char *name, json_t *j, mode_t mode, gid_t gid, bool sync_dir, bool pretty) {
        char *text;
        int r;

        if (!j)
                return -EINVAL;
        text = json_dumps(j, pretty ? JSON_INDENT(2) | JSON_REAL_PRECISION(6) : JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        size_t len = strlen(text);
        text = xrealloc(text, len + 2);
        text[len] = '\n';
        text[len + 1] = 0;
        r = fs_write_atomic(dirfd, name, text, len + 1, mode, gid, sync_dir);
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

int fs_set_owner(int dirfd, const char *path, mode_t mode, gid_t gid) {
        if (gid != (gid_t) -1 && fchownat(dirfd, path, (uid_t) -1, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
                return -errno;
        /* after chown, which may clear set-id bits */
        return fchmodat(dirfd, path, mode, 0) < 0 ? -errno : 0;
}

int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, gid_t gid,
                    bool sync_dir) {
        char tmp[PATH_MAX];
        int fd, r;

        fd = open_temp(dirfd, name, tmp, sizeof(tmp), mode);
        if (fd < 0)
                return fd;
        r = write_all(fd, data, len);
        /* A group that cannot be given (not a member, a sandbox without chown) is
         * checked and reported once, when the queue starts; never a lost write. */
        if (r == 0 && gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0 && errno != EPERM)
                r = -errno;
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (sync_dir) {
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

int fs_copy_fd(int in, int dst_dirfd, const char *dst, mode_t mode) {
        int out, r = 0;

        out = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (out < 0)
                return -errno;
        for (off_t off = 0;;) {
                ssize_t n = copy_file_range(in, &off, out, NULL, 1 << 30, 0);
                if (n == 0)
                        break;
                if (n > 0)
                        continue;
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
                        r = -errno;
                        break;
                }
                /* Fall back to read/write from where we are. */
                char buf[128 * 1024];
                for (;;) {
                        ssize_t k = pread(in, buf, sizeof(buf), off);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0) {
                                r = -errno;
                                break;
                        }
                        if (k == 0)
                                break;
                        off += k;
                        r = write_all(out, buf, (size_t) k);
                        if (r < 0)
                                break;
                }
                break;
        }
        if (r == 0 && fchmod(out, mode) < 0)
                r = -errno;
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        if (close(out) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dst_dirfd, dst, 0);
        return r;
}

int fs_copy_file(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode) {
        struct stat st;
        int in, r;

        in = openat(src_dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (in < 0)
                return -errno;
        if (fstat(in, &st) < 0)
                r = -errno;
        else
                r = S_ISREG(st.st_mode) ? fs_copy_fd(in, dst_dirfd, dst, mode) : -EINVAL;
        close(in);
        return r;
}

int fs_link_or_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode) {
        if (linkat(src_dirfd, src, dst_dirfd, dst, 0) == 0)
                return 0;
        if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
                return -errno;
        return fs_copy_file(src_dirfd, src, dst_dirfd, dst, mode);
}

/* Copy a tree: directories and regular files; symlinks are recreated as links
 * (never followed); FIFOs, sockets and devices are left out. */
int fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst) {
        struct stat st;
        int r;

        if (fstatat(src_dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISREG(st.st_mode))
                return fs_copy_file(src_dirfd, src, dst_dirfd, dst, st.st_mode & 07777);
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
