/* fsutil.h: file system operations done safely: atomic replace, directory fsync,
 * no-follow opens, cross-filesystem moves. */
#pragma once
#include <stdbool.h>
#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* Write DATA to DIRFD/NAME atomically: temp file ".NAME.tmp-XXXXXX" in the same
 * directory, write, fsync, rename over NAME. With sync_dir, fsync the directory too.
 * MODE is the file mode (before umask is NOT applied: fchmod'ed). Returns 0 or -errno. */
int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, gid_t gid,
                    bool sync_dir);
/* Serialise J (pretty: indented, for people) and write it with fs_write_atomic. */
int fs_write_json(int dirfd, const char *name, json_t *j, mode_t mode, gid_t gid, bool sync_dir, bool pretty);
/* Open the folder that holds the last component of PATH (relative to DIRFD),
 * one component at a time, never following a symlink. *ret_last points into
 * PATH at the last component. Returns an fd or -errno (-ELOOP/-ENOTDIR for a link). */
int fs_open_parent(int dirfd, const char *path, const char **ret_last);
/* Give DIRFD/PATH exactly MODE and, unless GID is (gid_t) -1, that group. Never follows a symlink. */
int fs_set_owner(int dirfd, const char *path, mode_t mode, gid_t gid);
int fs_fsync_dir(int dirfd, const char *path);      /* path relative to dirfd, or "." */
int fs_mkdir_p(const char *path, mode_t mode);       /* like mkdir -p; 0 if it exists */
/* Create every directory in PATH below DIRFD (PATH relative); the ones it
 * creates get exactly MODE (no umask) and, unless GID is (gid_t) -1, that group. */
int fs_mkdirat_p(int dirfd, const char *path, mode_t mode);
int fs_mkdirat_p_owned(int dirfd, const char *path, mode_t mode, gid_t gid);
/* rm -rf below dirfd; never follows symlinks. */
int fs_remove_tree(int dirfd, const char *name);
/* Remove everything inside DIRFD/PATH, not the folder itself. */
int fs_empty_dir(int dirfd, const char *path);
/* DIRFD/PATH as a directory stream, never through a symlink; NULL with errno set. */
DIR *fs_opendir_at(int dirfd, const char *path);
/* "." or "..", the two entries every readdir() loop skips. */
static inline bool fs_dot_or_dotdot(const char *name) {
        return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}
/* Move SRC to DST (both paths). rename(2); on EXDEV copy the tree (regular files and
 * directories only, data fsync'ed), then remove the source. With noreplace, fail
 * with -EEXIST rather than replace DST. Returns 0 or -errno. */
int fs_move(const char *src, const char *dst, bool noreplace);
/* Copy what the open file IN holds (from its start) to a new file DST_DIRFD/DST
 * with exactly MODE; fsync the copy. A partial copy is removed. */
int fs_copy_fd(int in, int dst_dirfd, const char *dst, mode_t mode);
/* Copy one regular file (no symlink following), fsync the copy. */
int fs_copy_file(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode);
/* Link if possible (same fs), else copy. */
int fs_link_or_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst, mode_t mode);
/* Read a whole file (at most max bytes) into a NUL-terminated buffer. */
int fs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);
/* 1 if another process holds the file open for writing, 0 if not, -errno if it
 * cannot be told (e.g. a network file system that has no leases). */
int fs_has_writer(int dirfd, const char *name);
/* Copy a tree: directories and regular files (data fsync'ed); symlinks are
 * recreated, never followed; FIFOs, sockets and devices are left out. */
int fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst);
