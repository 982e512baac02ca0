/* unpack.h: archives dropped into an inbox (zip, 7z, tar plain or compressed),
 * unpacked with libarchive into a folder of their own, safely.
 *
 * An archive is untrusted input. Nothing is ever written outside the
 * destination: absolute names and names with ".." are skipped, only regular
 * files and folders are made (never a link, so nothing can be written through
 * one), every path is opened one component at a time with O_NOFOLLOW, and
 * limits on entries, bytes and compression ratio refuse bombs while they
 * stream. Names stay bytes, exactly as the archive holds them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The daemon passes config's archive_max_entries, archive_max_bytes and
 * archive_max_ratio. 0 means "no limit" for each. */
struct unpack_limits {
        uint64_t max_entries;   /* headers read, whatever their kind (skipped ones too) */
        uint64_t max_bytes;     /* bytes written, all files together */
        unsigned max_ratio;     /* bytes written / archive file size; only counts past
                                 * UNPACK_RATIO_FLOOR bytes, so a small archive of
                                 * compressible text is not taken for a bomb */
};
#define UNPACK_RATIO_FLOOR ((uint64_t) 1 << 20)

/* An entry that was not extracted, and why (a sentence for a person, UTF-8). */
struct unpack_skipped {
        char *path;             /* the entry's name in the archive, bytes as stored */
        char *reason;
};

struct unpack_result {
        uint64_t n_files;       /* regular files written */
        uint64_t n_dirs;        /* folders created (named in the archive or implied by a path) */
        uint64_t bytes;         /* bytes unpacked, as counted against the limits */
        struct unpack_skipped *skipped;  /* in archive order */
        size_t n_skipped;
};

/* Frees what RESULT holds (not RESULT itself) and zeroes it; NULL is fine. */
void unpack_result_clear(struct unpack_result *result);

/* Unpack ARCHIVE_PATH into DEST_DIRFD, which must be an empty folder
 * (-ENOTEMPTY otherwise, nothing touched).
 *
 * Regular files and folders are extracted; files get mode 0644 and folders
 * 0755 (before umask), whatever the archive says; each file is fsync'ed, and
 * so is every folder made, DEST_DIRFD included. Everything else is skipped
 * with a reason in ret->skipped: symbolic links, hard links, devices, FIFOs,
 * sockets, encrypted entries, absolute names, names with "..", names nested
 * deeper than 64 folders or with a component over 255 bytes, an entry whose
 * path runs through a file extracted earlier, and a damaged entry (bad
 * checksum, unsupported compression method). "." components and a leading
 * "./" are dropped. A name that occurs twice: the FIRST entry is kept, each
 * later one is skipped ("duplicate name ..."); a folder named twice is just
 * one folder.
 *
 * Returns 0 and fills *ret (may be NULL). On failure returns -errno, leaves
 * *ret untouched, removes everything it wrote under DEST_DIRFD (so it is
 * empty again) and, when ret_error is not NULL, sets *ret_error to a malloc'd
 * sentence for a person:
 *   -EFBIG    a limit refused the whole archive: "archive refused: ..."
 *   -EBADMSG  "not an archive: ..." or "damaged archive: <libarchive's message>"
 *   -ENOTEMPTY, -ENOENT, -EIO, -ENOSPC, ...  "cannot ...: <strerror>"
 * On success *ret_error is set to NULL. */
int unpack_archive(const char *archive_path, int dest_dirfd, const struct unpack_limits *limits,
                   struct unpack_result *ret, char **ret_error);

/* NAME ends in .zip .7z .tar .tar.gz .tgz .tar.xz .txz .tar.zst .tzst .tar.bz2
 * .tbz2 (any case) and has something before the suffix. The name alone does
 * not make an archive: check the content with unpack_sniff() too. */
bool unpack_is_archive_name(const char *name);

/* 1 if DIRFD/NAME is a regular file whose first bytes are those of a zip, 7z,
 * ustar, gzip, xz, zstd or bzip2 file; 0 if not (a text file named x.zip is not
 * an archive); -errno if it cannot be read. Never follows a symlink and never
 * blocks on a FIFO. */
int unpack_sniff(int dirfd, const char *name);
