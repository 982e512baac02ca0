/* fsutil.h: file system operations done safely: atomic replace, directory fsync,
 * no-follow opens, cross-filesystem moves. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <jansson.h>

/* What registration took: a regular file with one link, and which one. */
struct fs_ident {
        dev_t dev;
        ino_t ino;
        off_t size;
        bool known;            /* false in records written before identities were kept */
};
void fs_ident_from_stat(struct fs_ident *ret, const struct stat *st);

/* FLAGS of fs_write_atomic and fs_write_json. */
enum {
        FS_WRITE_SYNC_DIR = 1 << 0, /* fsync the directory too: the name survives a crash */
        /* No fsync at all, still atomic for readers: for a staging folder that
         * whoever relies on it syncs first (the daemon's syncfs, move_outputs). */
        FS_WRITE_STAGED = 1 << 1,
        FS_WRITE_PRETTY = 1 << 2, /* fs_write_json: indented, for people */
};
/* Write DATA to DIRFD/NAME atomically: temp file ".NAME.tmp-XXXXXX" in the same
 * directory, write, fsync, rename over NAME (FLAGS above).
 * MODE is the file mode (before umask is NOT applied: fchmod'ed). Returns 0 or -errno. */
int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, gid_t gid,
                    unsigned flags);
/* Serialise J and write it with fs_write_atomic. */
int fs_write_json(int dirfd, const char *name, json_t *j, mode_t mode, gid_t gid, unsigned flags);
/* Open the folder that holds the last component of PATH (relative to DIRFD),
 * one component at a time, never following a symlink. *ret_last points into
 * PATH at the last component. Returns an fd or -errno (-ELOOP/-ENOTDIR for a link). */
int fs_open_parent(int dirfd, const char *path, const char **ret_last);
/* Give DIRFD/PATH (a file or a folder) exactly MODE and, unless GID is (gid_t) -1, that
 * group, through a descriptor. Never follows a symlink; refuses a regular file with
 * more than one link (-EMLINK): that inode also lives somewhere the daemon did not make. */
int fs_set_owner(int dirfd, const char *path, mode_t mode, gid_t gid);
/* Open PATH beneath DIRFD without following any link, magic link or "..":
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) where the
 * kernel has it, else O_NOFOLLOW one component at a time. O_CLOEXEC, O_NOFOLLOW and
 * O_NOCTTY are added to FLAGS. Returns an fd or -errno (-ELOOP: a link on the way). */
int fs_open_beneath(int dirfd, const char *path, int flags);
/* Open, for reading, the file registration took at PATH beneath DIRFD, and check it
 * is still that: a regular file with one link and, when TAKEN is known, the same
 * device, inode and size. Returns an fd, -ESTALE with *ret_why a sentence for the
 * user ("changed after it was taken: now a symbolic link"), or another -errno
 * (could not look; *ret_why NULL). */
int fs_open_taken(int dirfd, const char *path, const struct fs_ident *taken, const char **ret_why);
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
/* The daemon's temp names: ".pdfspool-tmp.*" (job folders in the making,
 * ZIPs), "*.tmp-*" (files being replaced, fs_write_atomic) and ".*.tmp" (the
 * worker's). Readers skip them; a start or a killed writer's parent removes them. */
bool fs_is_temp_name(const char *name);
/* Remove the temps in DIRFD/PATH (and, with RECURSE, in the folders below it,
 * never through a symlink) that a writer killed midway left. Best effort: what
 * cannot go now goes at the next start. */
void fs_remove_temps(int dirfd, const char *path, bool recurse);
/* The bytes an unprivileged writer may still use on the file system of
 * DIRFD/PATH (statvfs f_bavail). */
int fs_free_bytes(int dirfd, const char *path, uint64_t *ret);
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
/* Copy the open regular file IN into a new file DST_DIRFD/DST that the daemon owns:
 * a clone (FICLONE), else copy_file_range, else read/write, into a temp file that
 * gets MODE and (unless (gid_t) -1) GID, is fsync'ed (with SYNC; else the caller
 * syncs many at once) and renamed to DST, never over a file already there (-EEXIST). */
int fs_copy_fd(int in, int dst_dirfd, const char *dst, mode_t mode, gid_t gid, bool sync);
/* Read a whole file (at most max bytes) into a NUL-terminated buffer. */
int fs_read_file(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);
/* 1 if another process holds the file open for writing, 0 if not, -errno if it
 * cannot be told (e.g. a network file system that has no leases). */
int fs_has_writer(int dirfd, const char *name);
/* Copy a tree: directories and regular files (data fsync'ed); symlinks are
 * recreated, never followed; FIFOs, sockets and devices are left out. A regular
 * file with more than one link is not copied (its content may be anyone's): a
 * symlink to FS_HARDLINK_MARKER takes its place, so that registration says why. */
int fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst);
#define FS_HARDLINK_MARKER "pdfspool: hard link to a file that also exists elsewhere; not copied"
/* Is DIRFD/NAME (lstat'ed as ST) such a marker? */
bool fs_is_hardlink_marker(int dirfd, const char *name, const struct stat *st);
