/* unpack.c: unpacking an untrusted archive with libarchive, entry by entry.
 *
 * Only the readers pdfspool needs are enabled, not archive_read_support_*_all():
 * "all" brings formats nobody drops datasheets in (mtree, cpio, iso9660, rar,
 * cab, ...) and filters that run an external program (lrzip, lzop, grzip),
 * which a crafted file could make the daemon exec. The whole run switches the
 * thread to the C.UTF-8 locale: libarchive converts names to the current
 * locale, and in the C locale a zip name flagged as UTF-8 fails to convert and
 * comes back as NULL; non-UTF-8 zip names are not converted and stay bytes. */
#include "unpack.h"
#include "fsutil.h"
#include "names.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64
#define BLOCK_SIZE (64 * 1024)
#define SNIFF_BYTES 512

#define R_SYMLINK "symbolic link: not extracted (links are never made)"
#define R_HARDLINK "hard link: not extracted (links are never made)"
#define R_DEVICE "device node: not a regular file; not extracted"
#define R_FIFO "named pipe (FIFO): not a regular file; not extracted"
#define R_SOCKET "socket: not a regular file; not extracted"
#define R_OTHER "not a regular file or folder; not extracted"
#define R_ENCRYPTED "encrypted: a password is required; not extracted"
#define R_ABSOLUTE "absolute path (starts with /): not extracted"
#define R_DOTDOT "path contains \"..\": not extracted"
#define R_DEEP "nested deeper than 64 folders: not extracted"
#define R_EMPTY "empty name: not extracted"
#define R_LONG "a file or folder name longer than 255 bytes: not extracted"
#define R_DUPLICATE "duplicate name: an earlier entry has the same path; the first one was kept"
#define R_PARENT_FILE "a folder on its path is a file extracted earlier: not extracted"

struct unpacker {
        struct archive *archive;
        int dest;
        const struct unpack_limits *limits;
        uint64_t ratio_allowance;       /* bytes the ratio limit lets through; UINT64_MAX: none */
        uint64_t entries;
        struct unpack_result result;
        size_t alloc_skipped;
        char **dirs;                    /* folders made, relative to dest, fsync'ed at the end */
        size_t n_dirs, alloc_dirs;
        char *error;
        char buf[BLOCK_SIZE];
};

void unpack_result_clear(struct unpack_result *result) {
        if (!result)
                return;
        for (size_t i = 0; i < result->n_skipped; i++) {
                free(result->skipped[i].path);
                free(result->skipped[i].reason);
        }
        free(result->skipped);
        *result = (struct unpack_result) { 0 };
}

/* ---- messages ---- */

static int fail(struct unpacker *u, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct unpacker *u, int r, const char *fmt, ...) {
        va_list ap;

        if (u->error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&u->error, fmt, ap) < 0)
                u->error = xstrdup("cannot unpack the archive (out of memory)");
        va_end(ap);
        return r;
}

/* libarchive's message, as UTF-8 (it may quote a name from the archive). */
static char *archive_message(struct archive *a) {
        const char *m = archive_error_string(a);
        return names_display(m ? m : "unknown error");
}

/* libarchive gave up: either no reader recognised the content at all, or it
 * broke somewhere inside. */
static int fail_damaged(struct unpacker *u) {
        char *m;
        int r;

        if (u->entries == 0 && archive_format(u->archive) == 0 &&
            archive_errno(u->archive) == EILSEQ) /* libarchive's ARCHIVE_ERRNO_FILE_FORMAT */
                return fail(u, -EBADMSG, "not an archive: the content is not zip, 7z or tar "
                            "(plain or compressed with gzip, bzip2, xz or zstd)");
        m = archive_message(u->archive);
        r = fail(u, -EBADMSG, "damaged archive: %s", m);
        free(m);
        return r;
}

static void add_skipped(struct unpacker *u, const char *path, const char *reason) {
        struct unpack_result *res = &u->result;

        if (res->n_skipped == u->alloc_skipped) {
                u->alloc_skipped = u->alloc_skipped ? 2 * u->alloc_skipped : 16;
                res->skipped = xrealloc(res->skipped, u->alloc_skipped * sizeof(*res->skipped));
        }
        res->skipped[res->n_skipped++] = (struct unpack_skipped) { .path = xstrdup(path), .reason = xstrdup(reason) };
}

static void add_skipped_archive_error(struct unpacker *u, const char *path, const char *what) {
        char *m = archive_message(u->archive), *reason = xasprintf("%s: %s; not extracted", what, m);

        add_skipped(u, path, reason);
        free(reason);
        free(m);
}

/* ---- names ---- */

/* The entry's name as a relative path without "." or empty components; ""
 * for the destination itself. NULL and *why when it must not be extracted. */
static char *normalize_name(const char *name, const char **why) {
        static const char *const reasons[] = {
                [NAMES_PATH_EMPTY] = R_EMPTY, [NAMES_PATH_ABSOLUTE] = R_ABSOLUTE,
                [NAMES_PATH_DOTDOT] = R_DOTDOT, [NAMES_PATH_TOO_DEEP] = R_DEEP,
        };
        enum names_path_problem problem;
        char *out = names_normalize_relative(name, MAX_DEPTH, &problem);

        if (!out)
                *why = reasons[problem];
        return out;
}

/* ---- the destination tree ---- */

static void remember_dir(struct unpacker *u, const char *path, size_t len) {
        if (u->n_dirs == u->alloc_dirs) {
                u->alloc_dirs = u->alloc_dirs ? 2 * u->alloc_dirs : 16;
                u->dirs = xrealloc(u->dirs, u->alloc_dirs * sizeof(char *));
        }
        u->dirs[u->n_dirs++] = xstrndup(path, len);
        u->result.n_dirs++;
}

/* Open the folder made of the first LEN bytes of PATH below dest, making each
 * missing component, never following a link. Returns an fd or -errno; with
 * -ENOTDIR, *ret_failed_len is the length of the prefix that is not a folder. */
static int open_tree(struct unpacker *u, const char *path, size_t len, size_t *ret_failed_len) {
        int fd = openat(u->dest, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < len;) {
                size_t n = strcspn(path + i, "/");
                char *component;
                int sub = -1, r = 0;

                if (i + n > len)
                        n = len - i;
                component = xstrndup(path + i, n);
                if (mkdirat(fd, component, 0755) == 0)
                        remember_dir(u, path, i + n);
                else if (errno != EEXIST)
                        r = -errno;
                if (r == 0) {
                        sub = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        /* ELOOP: a link, which this code never makes; treat it as a file. */
                        r = sub >= 0 ? 0 : errno == ELOOP ? -ENOTDIR : -errno;
                }
                free(component);
                close(fd);
                if (r < 0) {
                        *ret_failed_len = i + n;
                        return r;
                }
                fd = sub;
                i += n + 1;
        }
        return fd;
}

static int dir_is_empty(int dirfd) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        int r = 1;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        while ((de = readdir(d)))
                if (!fs_dot_or_dotdot(de->d_name)) {
                        r = 0;
                        break;
                }
        closedir(d);
        return r;
}


static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* ---- entries ---- */

static int refuse_size(struct unpacker *u, uint64_t total) {
        char size[32];

        if (u->limits->max_bytes && total > u->limits->max_bytes) {
                format_size(size, sizeof(size), u->limits->max_bytes);
                return fail(u, -EFBIG, "archive refused: it would unpack to more than %s (archive_max_bytes)", size);
        }
        if (total > u->ratio_allowance)
                return fail(u, -EFBIG, "archive refused: compression ratio over %u:1 (archive_max_ratio); a zip bomb?",
                            u->limits->max_ratio);
        return 0;
}

/* Stream the entry's data into FD. 0, 1 when the entry is damaged (skipped),
 * or -errno when the whole archive is refused. */
static int copy_data(struct unpacker *u, int fd, const char *name, const char *path) {
        for (;;) {
                la_ssize_t n = archive_read_data(u->archive, u->buf, sizeof(u->buf));
                int r;

                if (n == 0)
                        return 0;
                if (n == ARCHIVE_FATAL)
                        return fail_damaged(u);
                if (n < 0) {
                        add_skipped_archive_error(u, name, "damaged entry");
                        return 1;
                }
                r = refuse_size(u, u->result.bytes + (uint64_t) n);
                if (r < 0)
                        return r;
                r = write_all(fd, u->buf, (size_t) n);
                if (r < 0) {
                        char *shown = names_display(path);
                        fail(u, r, "cannot write \"%s\" while unpacking: %s", shown, strerror(-r));
                        free(shown);
                        return r;
                }
                u->result.bytes += (uint64_t) n;
        }
}

static int fail_create(struct unpacker *u, int r, const char *path) {
        char *shown = names_display(path);

        fail(u, r, "cannot create \"%s\" while unpacking: %s", shown, strerror(-r));
        free(shown);
        return r;
}

/* The reason to skip an entry that open_tree() or openat() refused with R, or
 * NULL when R is an error of the file system rather than of the name. */
static const char *create_reason(int r, bool duplicate) {
        if (r == -ENOTDIR)
                return duplicate ? R_DUPLICATE : R_PARENT_FILE;
        if (r == -EEXIST)
                return R_DUPLICATE;
        if (r == -ENAMETOOLONG)
                return R_LONG;
        return NULL;
}

static int extract_file(struct unpacker *u, struct archive_entry *e, const char *name, const char *path) {
        const char *slash = strrchr(path, '/');
        const char *leaf = slash ? slash + 1 : path;
        size_t failed_len = 0;
        int parent, fd, r;

        parent = open_tree(u, path, slash ? (size_t) (slash - path) : 0, &failed_len);
        if (parent < 0) {
                const char *why = create_reason(parent, false);
                if (!why)
                        return fail_create(u, parent, path);
                add_skipped(u, name, why);
                return 0;
        }
        fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0) {
                const char *why;
                r = -errno;
                why = create_reason(r, true);
                close(parent);
                if (!why)
                        return fail_create(u, r, path);
                add_skipped(u, name, why);
                return 0;
        }
        /* A size the header states is refused before a byte is written; the
         * stream is counted too, because a header can lie. */
        r = archive_entry_size_is_set(e) && archive_entry_size(e) > 0
                ? refuse_size(u, u->result.bytes + (uint64_t) archive_entry_size(e)) : 0;
        if (r == 0)
                r = copy_data(u, fd, name, path);
        if (r == 0 && fsync(fd) < 0) {
                r = -errno;
                fail(u, r, "cannot write unpacked files to disk: %s", strerror(-r));
        }
        (void) close(fd);
        if (r != 0)
                (void) unlinkat(parent, leaf, 0); /* damaged or refused: no half file */
        close(parent);
        if (r == 0)
                u->result.n_files++;
        return r < 0 ? r : 0;
}

static int extract_dir(struct unpacker *u, const char *name, const char *path) {
        size_t len = strlen(path), failed_len = 0;
        const char *why;
        int fd;

        if (len == 0)
                return 0; /* "." or "./": the destination itself */
        fd = open_tree(u, path, len, &failed_len);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        why = create_reason(fd, failed_len == len);
        if (!why)
                return fail_create(u, fd, path);
        add_skipped(u, name, why);
        return 0;
}

static const char *type_reason(struct archive_entry *e) {
        if (archive_entry_hardlink(e))
                return R_HARDLINK;
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
        case AE_IFDIR:
                return NULL;
        case AE_IFLNK:
                return R_SYMLINK;
        case AE_IFCHR:
        case AE_IFBLK:
                return R_DEVICE;
        case AE_IFIFO:
                return R_FIFO;
        case AE_IFSOCK:
                return R_SOCKET;
        default:
                return R_OTHER;
        }
}

static int extract_entry(struct unpacker *u, struct archive_entry *e, const char *name) {
        const char *why = type_reason(e);
        char *path;
        int r;

        if (!why && archive_entry_is_encrypted(e))
                why = R_ENCRYPTED;
        if (why) {
                add_skipped(u, name, why);
                return 0;
        }
        path = normalize_name(name, &why);
        if (!path) {
                add_skipped(u, name, why);
                return 0;
        }
        if (archive_entry_filetype(e) == AE_IFDIR)
                r = extract_dir(u, name, path);
        else if (!path[0]) {
                add_skipped(u, name, R_EMPTY); /* a file named "." or "./" */
                r = 0;
        } else
                r = extract_file(u, e, name, path);
        free(path);
        return r;
}

/* ---- the archive ---- */

static int open_archive(struct unpacker *u, const char *archive_path, int *ret_fd) {
        struct stat st;
        int fd, r;

        fd = open(archive_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fail(u, -errno, "cannot open the archive: %s", strerror(errno));
        r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EBADMSG;
        if (r < 0) {
                close(fd);
                return r == -EBADMSG ? fail(u, r, "not an archive: not a regular file")
                                     : fail(u, r, "cannot read the archive: %s", strerror(-r));
        }
        if (u->limits->max_ratio == 0)
                u->ratio_allowance = UINT64_MAX;
        else if (__builtin_mul_overflow((uint64_t) st.st_size, (uint64_t) u->limits->max_ratio,
                                        &u->ratio_allowance))
                u->ratio_allowance = UINT64_MAX;
        if (u->ratio_allowance < UNPACK_RATIO_FLOOR)
                u->ratio_allowance = UNPACK_RATIO_FLOOR;

        u->archive = archive_read_new();
        if (!u->archive) {
                close(fd);
                return fail(u, -ENOMEM, "cannot read the archive: out of memory");
        }
        /* Each must be built in: ARCHIVE_WARN would mean "runs an external program". */
        if (archive_read_support_filter_gzip(u->archive) != ARCHIVE_OK ||
            archive_read_support_filter_bzip2(u->archive) != ARCHIVE_OK ||
            archive_read_support_filter_xz(u->archive) != ARCHIVE_OK ||
            archive_read_support_filter_zstd(u->archive) != ARCHIVE_OK ||
            archive_read_support_format_tar(u->archive) != ARCHIVE_OK ||
            archive_read_support_format_gnutar(u->archive) != ARCHIVE_OK ||
            archive_read_support_format_zip(u->archive) != ARCHIVE_OK ||
            archive_read_support_format_7zip(u->archive) != ARCHIVE_OK) {
                close(fd);
                return fail(u, -EOPNOTSUPP, "cannot read archives: this libarchive lacks built-in "
                            "gzip, bzip2, xz, zstd, tar, zip or 7z support");
        }
        if (archive_read_open_fd(u->archive, fd, BLOCK_SIZE) != ARCHIVE_OK) {
                close(fd);
                return fail_damaged(u);
        }
        *ret_fd = fd;
        return 0;
}

static int read_entries(struct unpacker *u) {
        for (;;) {
                struct archive_entry *e;
                const char *name;
                int r = archive_read_next_header(u->archive, &e);

                if (r == ARCHIVE_EOF)
                        return 0;
                if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY)
                        return fail_damaged(u);
                u->entries++;
                if (u->limits->max_entries && u->entries > u->limits->max_entries)
                        return fail(u, -EFBIG, "archive refused: more than %" PRIu64 " entries (archive_max_entries)",
                                    u->limits->max_entries);
                name = archive_entry_pathname(e);
                if (!name) {
                        char *which = xasprintf("(entry %" PRIu64 ")", u->entries);
                        add_skipped_archive_error(u, which, "its name cannot be read");
                        free(which);
                        continue;
                }
                if (r == ARCHIVE_FAILED) {
                        add_skipped_archive_error(u, name, "cannot be read");
                        continue;
                }
                r = extract_entry(u, e, name);
                if (r < 0)
                        return r;
        }
}

/* fsync every folder made, and dest: each is opened by walking from dest, as a
 * 64-level path of 255-byte names is longer than PATH_MAX. */
static int sync_dirs(struct unpacker *u) {
        int r = 0;

        for (size_t i = 0; r == 0 && i <= u->n_dirs; i++) {
                const char *path = i < u->n_dirs ? u->dirs[i] : "";
                size_t failed_len;
                int fd = open_tree(u, path, strlen(path), &failed_len);

                if (fd < 0)
                        r = fd;
                else {
                        if (fsync(fd) < 0 && errno != EINVAL)
                                r = -errno;
                        close(fd);
                }
        }
        if (r < 0)
                fail(u, r, "cannot write the unpacked folders to disk: %s", strerror(-r));
        return r;
}

int unpack_archive(const char *archive_path, int dest_dirfd, const struct unpack_limits *limits,
                   struct unpack_result *ret, char **ret_error) {
        struct unpacker *u = xcalloc(1, sizeof(*u));
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        locale_t old = utf8 ? uselocale(utf8) : (locale_t) 0;
        int fd = -1, r;

        u->dest = dest_dirfd;
        u->limits = limits;
        r = dir_is_empty(dest_dirfd);
        if (r < 0) {
                fail(u, r, "cannot unpack: the destination folder cannot be read: %s", strerror(-r));
                goto finish;
        }
        if (r == 0) {
                r = fail(u, -ENOTEMPTY, "cannot unpack: the destination folder is not empty");
                goto finish;
        }
        /* From here on, whatever is in dest was written by this call. */
        r = open_archive(u, archive_path, &fd);
        if (r == 0)
                r = read_entries(u);
        if (r == 0 && archive_read_close(u->archive) < ARCHIVE_WARN)
                r = fail_damaged(u);
        if (r == 0)
                r = sync_dirs(u);
        if (r < 0)
                (void) fs_empty_dir(dest_dirfd, ".");
finish:
        if (u->archive)
                archive_read_free(u->archive);
        if (fd >= 0)
                close(fd);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i]);
        free(u->dirs);
        if (utf8) {
                uselocale(old);
                freelocale(utf8);
        }
        if (r < 0) {
                unpack_result_clear(&u->result);
                if (ret_error)
                        *ret_error = u->error ? u->error : xstrdup("cannot unpack the archive");
                else
                        free(u->error);
                free(u);
                return r;
        }
        if (ret)
                *ret = u->result;
        else
                unpack_result_clear(&u->result);
        if (ret_error)
                *ret_error = NULL;
        free(u->error);
        free(u);
        return 0;
}

/* ---- recognising an archive ---- */

bool unpack_is_archive_name(const char *name) {
        static const char *const suffixes[] = {
                ".zip", ".7z", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz",
                ".tar.zst", ".tzst", ".tar.bz2", ".tbz2",
        };

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (strlen(name) > strlen(suffixes[i]) && str_has_suffix_nocase(name, suffixes[i]))
                        return true;
        return false;
}

int unpack_sniff(int dirfd, const char *name) {
        static const struct {
                size_t offset, len;
                const char *bytes;
        } magic[] = {
                { 0, 4, "PK\3\4" },                     /* zip */
                { 0, 4, "PK\5\6" },                     /* zip without entries */
                { 0, 6, "7z\xbc\xaf\x27\x1c" },         /* 7z */
                { 257, 5, "ustar" },                    /* POSIX and GNU tar */
                { 0, 2, "\x1f\x8b" },                   /* gzip */
                { 0, 6, "\xfd" "7zXZ\0" },              /* xz */
                { 0, 4, "\x28\xb5\x2f\xfd" },           /* zstd */
        };
        unsigned char buf[SNIFF_BYTES];
        size_t len = 0;
        struct stat st;
        int fd, r = 0;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return 0;
        }
        while (len < sizeof(buf)) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        for (size_t i = 0; i < ELEMENTSOF(magic); i++)
                if (len >= magic[i].offset + magic[i].len &&
                    memcmp(buf + magic[i].offset, magic[i].bytes, magic[i].len) == 0)
                        return 1;
        /* bzip2: "BZh" and the block size digit */
        if (len >= 4 && memcmp(buf, "BZh", 3) == 0 && buf[3] >= '1' && buf[3] <= '9')
                return 1;
        return 0;
}
