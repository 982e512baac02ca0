/* unpack-t: unpack.c extracts every supported kind of archive, never writes
 * outside the destination whatever the names say, skips what is not a file or
 * folder with a reason, and refuses bombs and damaged archives with a sentence,
 * leaving the destination empty.
 *
 * Every archive is built here with libarchive's writer, in a temporary
 * directory: TMP/archives/ holds them, TMP/box/dest is the destination, and
 * TMP/box must hold nothing else afterwards. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsutil.h"
#include "names.h"
#include "tap.h"
#include "unpack.h"
#include "util.h"

static char *tmp;
static char *box;       /* TMP/box */
static char *dest;      /* TMP/box/dest */
static int dest_fd = -1;

static const struct unpack_limits defaults = { 100000, 4ULL << 30, 200 };

/* ---- building archives ---- */

enum format { ZIP, TAR, SEVEN_ZIP };
enum filter { PLAIN, GZIP, BZIP2, XZ, ZSTD };

/* type: 'f' file, 'd' folder, 'l' symlink, 'h' hard link, 'p' FIFO, 'c' device */
struct spec {
        const char *name;
        char type;
        const char *data;       /* file contents, or the link target */
        size_t zeros;           /* file of this many zero bytes instead of data */
};

static char *archive_file(const char *name) {
        return xasprintf("%s/archives/%s", tmp, name);
}

static char *build_with(const char *name, enum format format, enum filter filter, const char *options,
                        const struct spec *specs, size_t n) {
        struct archive *a = archive_write_new();
        char *path = archive_file(name);
        static char zeros[65536];
        int r = 0;

        r |= format == ZIP ? archive_write_set_format_zip(a)
             : format == TAR ? archive_write_set_format_pax_restricted(a)
                             : archive_write_set_format_7zip(a);
        r |= filter == GZIP ? archive_write_add_filter_gzip(a)
             : filter == BZIP2 ? archive_write_add_filter_bzip2(a)
             : filter == XZ ? archive_write_add_filter_xz(a)
             : filter == ZSTD ? archive_write_add_filter_zstd(a) : ARCHIVE_OK;
        if (options)
                r |= archive_write_set_options(a, options);
        if (options && strstr(options, "encryption"))
                r |= archive_write_set_passphrase(a, "secret");
        r |= archive_write_open_filename(a, path);
        if (r != ARCHIVE_OK)
                bail_out("cannot start %s: %s", name, archive_error_string(a));
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                const struct spec *s = &specs[i];
                size_t size = s->type == 'f' ? (s->zeros ? s->zeros : strlen(s->data)) : 0;

                archive_entry_set_pathname(e, s->name);
                archive_entry_set_perm(e, s->type == 'd' ? 0755 : 0644);
                archive_entry_set_mtime(e, 1700000000, 0);
                switch (s->type) {
                case 'f': archive_entry_set_filetype(e, AE_IFREG); break;
                case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
                case 'l': archive_entry_set_filetype(e, AE_IFLNK); archive_entry_set_symlink(e, s->data); break;
                case 'h': archive_entry_set_filetype(e, AE_IFREG); archive_entry_set_hardlink(e, s->data); break;
                case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
                case 'c': archive_entry_set_filetype(e, AE_IFCHR); archive_entry_set_rdev(e, makedev(1, 3)); break;
                }
                archive_entry_set_size(e, (la_int64_t) size);
                if (archive_write_header(a, e) < ARCHIVE_WARN)
                        bail_out("cannot add %s to %s: %s", s->name, name, archive_error_string(a));
                if (s->type == 'f' && s->zeros) {
                        for (size_t done = 0; done < size;) {
                                size_t k = size - done < sizeof(zeros) ? size - done : sizeof(zeros);
                                if (archive_write_data(a, zeros, k) != (la_ssize_t) k)
                                        bail_out("cannot write to %s", name);
                                done += k;
                        }
                } else if (s->type == 'f' && size > 0 && archive_write_data(a, s->data, size) != (la_ssize_t) size)
                        bail_out("cannot write to %s: %s", name, archive_error_string(a));
                archive_entry_free(e);
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                bail_out("cannot finish %s: %s", name, archive_error_string(a));
        archive_write_free(a);
        return path;
}

static char *build(const char *name, enum format format, enum filter filter, const struct spec *specs, size_t n) {
        return build_with(name, format, filter, NULL, specs, n);
}

static void write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, data, len) != (ssize_t) len || close(fd) < 0)
                bail_out("cannot write %s", path);
}

static off_t file_size(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- looking at the result ---- */

struct listing {
        char **items;
        size_t n;
};

static void list_tree(int parent, const char *prefix, struct listing *l) {
        int fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                struct stat st;
                char *path, *shown;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                path = prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
                shown = names_display(path);
                l->items = xrealloc(l->items, (l->n + 1) * sizeof(char *));
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        l->items[l->n++] = xasprintf("%s/", shown);
                        if (sub >= 0) {
                                list_tree(sub, path, l);
                                close(sub);
                        }
                } else if (S_ISREG(st.st_mode))
                        l->items[l->n++] = xasprintf("%s:%lld", shown, (long long) st.st_size);
                else
                        l->items[l->n++] = xasprintf("%s:special", shown);
                free(shown);
                free(path);
        }
        if (d)
                closedir(d);
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every folder and file below DIRFD, sorted: "a.pdf:5 d/ d/b.pdf:7". Valid until the next call. */
static char *last;

static const char *tree_at(int dirfd) {
        struct listing l = { 0 };

        list_tree(dirfd, NULL, &l);
        if (l.n) /* qsort(NULL, 0, ...) is undefined (UBSan) */
                qsort(l.items, l.n, sizeof(char *), compare_strings);
        free(last);
        last = xstrdup("");
        for (size_t i = 0; i < l.n; i++) {
                char *s = xasprintf("%s%s%s", last, i ? " " : "", l.items[i]);
                free(last);
                free(l.items[i]);
                last = s;
        }
        free(l.items);
        return last;
}

static const char *tree(void) {
        return tree_at(dest_fd);
}

/* What is in TMP/box: must be "dest/..." only. */
static const char *box_tree(void) {
        int fd = open(box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *t = tree_at(fd);

        close(fd);
        return t;
}

static bool box_is_clean(void) {
        const char *t = box_tree();
        const char *p = t;

        /* every item starts with "dest/" or is "dest/" */
        while (*p) {
                if (strncmp(p, "dest/", 5) != 0)
                        return false;
                p = strchrnul(p, ' ');
                if (*p)
                        p++;
        }
        return true;
}

/* "name: reason | name: reason" */
static char *skipped_text(const struct unpack_result *r) {
        char *s = xstrdup("");

        for (size_t i = 0; i < r->n_skipped; i++) {
                char *shown = names_display(r->skipped[i].path);
                char *t = xasprintf("%s%s%s: %s", s, i ? " | " : "", shown, r->skipped[i].reason);
                free(shown);
                free(s);
                s = t;
        }
        return s;
}

static char *file_text(const char *name) {
        char *text = NULL;

        if (fs_read_file(dest_fd, name, 1 << 20, &text, NULL) < 0)
                return xstrdup("(cannot read)");
        return text;
}

/* A fresh, empty destination, then unpack. */
static int run(const char *archive, const struct unpack_limits *limits, struct unpack_result *res, char **error) {
        if (dest_fd >= 0)
                close(dest_fd);
        (void) fs_remove_tree(AT_FDCWD, box);
        if (mkdir(box, 0755) < 0 || mkdir(dest, 0755) < 0)
                bail_out("cannot make %s", dest);
        dest_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dest_fd < 0)
                bail_out("cannot open %s", dest);
        return unpack_archive(archive, dest_fd, limits, res, error);
}

/* ---- the tests ---- */

#define PDF_A "%PDF-1.4 a"
#define PDF_B "%PDF-1.7 bee"
#define PDF_C "%PDF-2.0 c"

static void test_formats(void) {
        static const struct spec specs[] = {
                { "a.pdf", 'f', PDF_A, 0 },
                { "dir/", 'd', NULL, 0 },
                { "dir/b.pdf", 'f', PDF_B, 0 },
                { "x/y/z/c.pdf", 'f', PDF_C, 0 },
        };
        static const struct {
                const char *name;
                enum format format;
                enum filter filter;
        } kinds[] = {
                { "t.zip", ZIP, PLAIN }, { "t.tar", TAR, PLAIN }, { "t.tar.gz", TAR, GZIP },
                { "t.tar.xz", TAR, XZ }, { "t.tar.zst", TAR, ZSTD }, { "t.tar.bz2", TAR, BZIP2 },
                { "t.7z", SEVEN_ZIP, PLAIN },
        };
        int adir = -1;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                struct unpack_result res = { 0 };
                char *error = (char *) "untouched";
                char *path = build(kinds[i].name, kinds[i].format, kinds[i].filter, specs, ELEMENTSOF(specs));
                int r = run(path, &defaults, &res, &error);

                if (!is_int(r, 0, "%s: unpacks", kinds[i].name))
                        diag("%s", error ? error : "(no message)");
                ok(error == NULL, "%s: no message on success", kinds[i].name);
                is_str(tree(), "a.pdf:10 dir/ dir/b.pdf:12 x/ x/y/ x/y/z/ x/y/z/c.pdf:10", "%s: the tree", kinds[i].name);
                ok(res.n_files == 3 && res.n_dirs == 4 && res.bytes == 32 && res.n_skipped == 0,
                   "%s: 3 files, 4 folders, 32 bytes, nothing skipped", kinds[i].name);
                adir = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char *rel = xasprintf("archives/%s", kinds[i].name);
                is_int(unpack_sniff(adir, rel), 1, "%s: sniffed as an archive", kinds[i].name);
                ok(unpack_is_archive_name(kinds[i].name), "%s: named like an archive", kinds[i].name);
                free(rel);
                close(adir);
                unpack_result_clear(&res);
                free(path);
        }
        char *text = file_text("x/y/z/c.pdf");
        is_str(text, PDF_C, "contents are the archive's bytes");
        free(text);
}

static void test_hostile_names(void) {
        char *abs_dir = xasprintf("/tmp/unpack-t-abs.%d", (int) getpid());
        char *abs_file = xasprintf("%s/path", abs_dir);
        struct spec specs[] = {
                { "../evil", 'f', "evil", 0 },
                { abs_file, 'f', "abs", 0 },
                { "a/../../x", 'f', "x", 0 },
                { "shadow", 'l', "/etc/shadow", 0 },
                { "up", 'l', "..", 0 },
                { "up/escaped", 'f', "through the link?", 0 },
                { "hard", 'h', "/etc/passwd", 0 },
                { "fifo", 'p', NULL, 0 },
                { "null", 'c', NULL, 0 },
                { "./ok.pdf", 'f', PDF_A, 0 },
                { "./", 'd', NULL, 0 },
                { "sub/./deeper//file.pdf", 'f', PDF_B, 0 },
        };
        struct unpack_result res = { 0 };
        char *error = NULL, *skipped, *want;
        char *path = build("hostile.tar", TAR, PLAIN, specs, ELEMENTSOF(specs));
        int r = run(path, &defaults, &res, &error);
        struct stat st;

        is_int(r, 0, "hostile tar: unpacks what is safe");
        is_str(tree(), "ok.pdf:10 sub/ sub/deeper/ sub/deeper/file.pdf:12 up/ up/escaped:17",
               "hostile tar: only safe entries, \"./\" and \"//\" dropped, \"up\" is a real folder");
        bool clean = box_is_clean();
        ok(clean, "hostile tar: nothing written beside the destination (%s)", box_tree());
        ok(lstat(abs_dir, &st) < 0 && errno == ENOENT, "hostile tar: the absolute path was not created");
        ok(fstatat(dest_fd, "up", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode),
           "hostile tar: no symlink was made");
        skipped = skipped_text(&res);
        want = xasprintf("../evil: path contains \"..\": not extracted"
                         " | %s: absolute path (starts with /): not extracted"
                         " | a/../../x: path contains \"..\": not extracted"
                         " | shadow: symbolic link: not extracted (links are never made)"
                         " | up: symbolic link: not extracted (links are never made)"
                         " | hard: hard link: not extracted (links are never made)"
                         " | fifo: named pipe (FIFO): not a regular file; not extracted"
                         " | null: device node: not a regular file; not extracted", abs_file);
        is_str(skipped, want, "hostile tar: each skipped entry with its reason, in order");
        ok(res.n_files == 3 && res.n_dirs == 3, "hostile tar: 3 files, 3 folders counted");
        free(want);
        free(skipped);
        unpack_result_clear(&res);
        free(path);
        free(abs_file);
        free(abs_dir);
}

static void test_zip_bomb(void) {
        struct spec bomb[] = { { "zeros.pdf", 'f', NULL, 50 << 20 } };
        struct unpack_result res = { .n_files = 4242 };
        char *error = NULL;
        char *path = build("bomb.zip", ZIP, PLAIN, bomb, 1);
        off_t size = file_size(path);
        int r;

        ok(size > 0 && size < (50 << 20) / 200, "zip bomb: 50 MiB of zeros packs into %lld bytes", (long long) size);
        r = run(path, &defaults, &res, &error);
        is_int(r, -EFBIG, "zip bomb: refused");
        is_str(error, "archive refused: compression ratio over 200:1 (archive_max_ratio); a zip bomb?",
               "zip bomb: the reason");
        is_str(tree(), "", "zip bomb: nothing left in the destination");
        ok(res.n_files == 4242 && res.skipped == NULL, "zip bomb: result untouched on failure");
        free(error);

        /* The central directory lies: it says 1000 bytes. Counting the stream catches it. */
        int fd = open(path, O_RDWR | O_CLOEXEC);
        unsigned char *buf = xmalloc((size_t) size);
        bool patched = false;
        if (fd >= 0 && read(fd, buf, (size_t) size) == size)
                for (off_t i = size - 22; i >= 0 && !patched; i--)
                        if (memcmp(buf + i, "PK\1\2", 4) == 0) {
                                unsigned char small[4] = { 0xe8, 0x03, 0, 0 };
                                patched = pwrite(fd, small, 4, i + 24) == 4;
                        }
        if (fd >= 0)
                close(fd);
        free(buf);
        struct unpack_limits tight = { 100, 8 << 20, 0 };
        error = NULL;
        r = run(path, &tight, &res, &error);
        ok(patched && r == -EFBIG && error && strcmp(error, "archive refused: it would unpack to more than "
                                                            "8.0 MiB (archive_max_bytes)") == 0,
           "zip whose header understates the size: refused while streaming (%d: %s)", r, error ? error : "");
        is_str(tree(), "", "lying zip: nothing left in the destination");
        free(error);
        free(path);

        /* Below the floor, a high ratio is fine: a small archive of compressible text. */
        struct spec small[] = { { "text.txt", 'f', NULL, 512 << 10 } };
        path = build("small.zip", ZIP, PLAIN, small, 1);
        r = run(path, &defaults, &res, &error);
        ok(r == 0 && res.bytes == 512 << 10 && file_size(path) * 200 < (512 << 10),
           "512 KiB at ratio > 200:1 is under UNPACK_RATIO_FLOOR: unpacked");
        unpack_result_clear(&res);
        free(error);
        free(path);
}

static void test_limits(void) {
        struct spec many[20], two[2] = {
                { "one.pdf", 'f', NULL, 1000 }, { "two.pdf", 'f', NULL, 1000 },
        };
        struct unpack_limits ten = { 10, 0, 0 }, bytes = { 0, 1536, 0 };
        struct unpack_result res = { 0 };
        char *names[20], *error = NULL, *path;
        int r;

        for (size_t i = 0; i < 20; i++) {
                names[i] = xasprintf("f%02zu.pdf", i);
                many[i] = (struct spec) { names[i], 'f', PDF_A, 0 };
        }
        path = build("many.zip", ZIP, PLAIN, many, 20);
        r = run(path, &ten, &res, &error);
        is_int(r, -EFBIG, "20 entries, limit 10: refused");
        is_str(error, "archive refused: more than 10 entries (archive_max_entries)", "too many entries: the reason");
        is_str(tree(), "", "too many entries: the 10 files written are removed again");
        free(error);
        free(path);
        path = build("ten.zip", ZIP, PLAIN, many, 10);
        r = run(path, &ten, &res, NULL);
        ok(r == 0 && res.n_files == 10, "exactly 10 entries, limit 10: unpacked");
        unpack_result_clear(&res);
        free(path);

        path = build("two.tar.gz", TAR, GZIP, two, 2);
        r = run(path, &bytes, &res, &error);
        is_int(r, -EFBIG, "2000 bytes, limit 1.5 KiB: refused");
        is_str(error, "archive refused: it would unpack to more than 1.5 KiB (archive_max_bytes)",
               "too many bytes: the reason, size for people");
        is_str(tree(), "", "too many bytes: the first file is removed again");
        free(error);
        free(path);
        for (size_t i = 0; i < 20; i++)
                free(names[i]);
}

static void test_names(void) {
        char long_name[257], *too_long_name, deep[200] = "", too_deep[256] = "";
        struct unpack_result res = { 0 };
        char *error = NULL, *path, *skipped;
        struct stat st;
        int r;

        memset(long_name, 'n', 255);
        memcpy(long_name + 251, ".pdf", 5);
        too_long_name = xasprintf("x%s", long_name);
        for (int i = 0; i < 63; i++)
                strcat(deep, "d/");
        strcat(deep, "f.pdf");
        snprintf(too_deep, sizeof(too_deep), "d/%s", deep);

        struct spec specs[] = {
                { "caf\xe9.pdf", 'f', PDF_A, 0 },       /* latin-1, not UTF-8 */
                { "\x81\x94.pdf", 'f', PDF_B, 0 },      /* CP437 "üö" */
                { long_name, 'f', PDF_C, 0 },
                { too_long_name, 'f', PDF_C, 0 },
                { deep, 'f', PDF_A, 0 },
                { too_deep, 'f', PDF_A, 0 },
        };
        path = build("names.zip", ZIP, PLAIN, specs, ELEMENTSOF(specs));
        r = run(path, &defaults, &res, &error);
        is_int(r, 0, "zip with raw non-UTF-8 names: unpacks");
        ok(fstatat(dest_fd, "caf\xe9.pdf", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 10,
           "latin-1 name kept as its bytes");
        ok(fstatat(dest_fd, "\x81\x94.pdf", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 12,
           "CP437 name kept as its bytes");
        ok(fstatat(dest_fd, long_name, &st, AT_SYMLINK_NOFOLLOW) == 0, "a 255-byte name is extracted");
        ok(fstatat(dest_fd, deep, &st, AT_SYMLINK_NOFOLLOW) == 0, "64 levels deep is extracted");
        skipped = skipped_text(&res);
        char *want = xasprintf("%s: a file or folder name longer than 255 bytes: not extracted"
                               " | %s: nested deeper than 64 folders: not extracted", too_long_name, too_deep);
        is_str(skipped, want, "256-byte name and 65 levels: skipped with reasons");
        free(want);
        free(skipped);
        unpack_result_clear(&res);
        free(path);

        /* 20 folders of 250-byte names: the path is longer than PATH_MAX (4096). */
        char *very_long = xstrdup("");
        for (int i = 0; i < 20; i++) {
                char *t = xasprintf("%s%0250d/", very_long, i);
                free(very_long);
                very_long = t;
        }
        char *very_long_file = xasprintf("%sf.pdf", very_long);
        struct spec long_path[] = { { very_long_file, 'f', PDF_A, 0 } };
        path = build("long-path.tar", TAR, PLAIN, long_path, 1);
        r = run(path, &defaults, &res, &error);
        ok(r == 0 && res.n_files == 1 && res.n_dirs == 20 && res.n_skipped == 0,
           "a path of %zu bytes (over PATH_MAX) is extracted (%s)", strlen(very_long_file), error ? error : "");
        unpack_result_clear(&res);
        free(error);
        free(path);
        free(very_long);
        free(very_long_file);

        /* A zip that flags its names as UTF-8, read while the process is in the C locale. */
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        locale_t old = uselocale(utf8);
        struct spec flagged[] = { { "Schaltplan-\xc3\xbc.pdf", 'f', PDF_A, 0 } };
        path = build_with("utf8.zip", ZIP, PLAIN, "hdrcharset=UTF-8", flagged, 1);
        uselocale(old);
        freelocale(utf8);
        unsigned char header[8] = { 0 };
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ok(fd >= 0 && read(fd, header, 8) == 8 && (header[7] & 0x08), "test zip has the UTF-8 name flag (bit 11)");
        if (fd >= 0)
                close(fd);
        r = run(path, &defaults, &res, &error);
        ok(r == 0 && res.n_skipped == 0 &&
           fstatat(dest_fd, "Schaltplan-\xc3\xbc.pdf", &st, AT_SYMLINK_NOFOLLOW) == 0,
           "UTF-8 flagged zip name extracted in the C locale (%s)", error ? error : tree());
        ok(strcmp(setlocale(LC_CTYPE, NULL), "C") == 0, "the process locale is left as it was");
        unpack_result_clear(&res);
        free(error);
        free(path);

        struct spec pax_latin[] = { { "Datenbl\xe4tter/caf\xe9.pdf", 'f', PDF_A, 0 } };
        path = build("latin.tar.xz", TAR, XZ, pax_latin, 1);
        r = run(path, &defaults, &res, NULL);
        is_str(r == 0 ? tree() : "(failed)", "Datenbl\\xe4tter/ Datenbl\\xe4tter/caf\\xe9.pdf:10",
               "tar with latin-1 names: bytes kept");
        unpack_result_clear(&res);
        free(path);
        free(too_long_name);
}

static void test_duplicates(void) {
        struct spec specs[] = {
                { "dup.pdf", 'f', "first", 0 },
                { "dup.pdf", 'f', "second!", 0 },
                { "d/", 'd', NULL, 0 },
                { "d", 'f', "file named like a folder", 0 },
                { "f", 'f', "a file", 0 },
                { "f/", 'd', NULL, 0 },
                { "f/g.pdf", 'f', PDF_A, 0 },
                { "d/", 'd', NULL, 0 },
                { "d/in.pdf", 'f', PDF_B, 0 },
        };
        struct unpack_result res = { 0 };
        char *error = NULL, *skipped, *text;
        char *path = build("dups.zip", ZIP, PLAIN, specs, ELEMENTSOF(specs));
        int r = run(path, &defaults, &res, &error);

        is_int(r, 0, "duplicates: unpacks");
        is_str(tree(), "d/ d/in.pdf:12 dup.pdf:5 f:6", "duplicates: first of each name kept");
        text = file_text("dup.pdf");
        is_str(text, "first", "duplicates: the first file's contents");
        free(text);
        skipped = skipped_text(&res);
        is_str(skipped,
               "dup.pdf: duplicate name: an earlier entry has the same path; the first one was kept"
               " | d: duplicate name: an earlier entry has the same path; the first one was kept"
               " | f/: duplicate name: an earlier entry has the same path; the first one was kept"
               " | f/g.pdf: a folder on its path is a file extracted earlier: not extracted",
               "duplicates: later ones skipped, a folder named twice is one folder");
        free(skipped);
        unpack_result_clear(&res);
        free(path);
}

static void test_damaged(void) {
        struct spec specs[3];
        char *data[3], *error = NULL, *path, *text_zip;
        struct unpack_result res = { 0 };
        int r, adir = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* Incompressible data, so that half the file is half the entries. */
        for (size_t i = 0; i < 3; i++) {
                data[i] = xmalloc(100001);
                for (size_t k = 0; k < 100000; k++)
                        data[i][k] = (char) ('a' + (random() % 26));
                data[i][100000] = 0;
                specs[i] = (struct spec) { i == 0 ? "one.pdf" : i == 1 ? "two.pdf" : "three.pdf", 'f', data[i], 0 };
        }
        path = build("cut.tar.gz", TAR, GZIP, specs, 3);
        if (truncate(path, file_size(path) / 2) < 0)
                bail_out("cannot truncate %s", path);
        r = run(path, &defaults, &res, &error);
        is_int(r, -EBADMSG, "truncated tar.gz: refused");
        ok(error && strncmp(error, "damaged archive: ", 17) == 0, "truncated tar.gz: \"%s\"", error ? error : "");
        is_str(tree(), "", "truncated tar.gz: what was extracted is removed again");
        free(error);
        free(path);

        path = build("cut.zip", ZIP, PLAIN, specs, 3);
        if (truncate(path, file_size(path) / 2) < 0)
                bail_out("cannot truncate %s", path);
        r = run(path, &defaults, &res, &error);
        ok(r == -EBADMSG && error && strncmp(error, "damaged archive: ", 17) == 0, "truncated zip: \"%s\"",
           error ? error : "");
        is_str(tree(), "", "truncated zip: destination empty");
        free(error);
        free(path);

        /* A flipped byte in a stored entry: its checksum fails, the others are fine. */
        struct spec crc[] = { { "good.pdf", 'f', PDF_A, 0 }, { "bad.pdf", 'f', "%PDF-1.4 XXXXXXXX", 0 } };
        path = build_with("crc.zip", ZIP, PLAIN, "zip:compression=store", crc, 2);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        off_t size = file_size(path);
        char *buf = xmalloc((size_t) size);
        char *hit = fd >= 0 && read(fd, buf, (size_t) size) == size ? memmem(buf, (size_t) size, "XXXXXXXX", 8) : NULL;
        if (!hit || pwrite(fd, "Y", 1, hit - buf) != 1)
                bail_out("cannot damage %s", path);
        close(fd);
        free(buf);
        r = run(path, &defaults, &res, &error);
        char *skipped = skipped_text(&res);
        char *got = xstrdup(tree());
        ok(r == 0 && strcmp(got, "good.pdf:10") == 0, "bad checksum: the other entries are extracted (%s)",
           error ? error : got);
        free(got);
        ok(strncmp(skipped, "bad.pdf: damaged entry: ", 24) == 0 && str_has_suffix(skipped, "; not extracted"),
           "bad checksum: skipped as damaged (%s)", skipped);
        free(skipped);
        unpack_result_clear(&res);
        free(path);

        text_zip = archive_file("notes.zip");
        write_file(text_zip, "these are not the files you are looking for\n", 45);
        ok(unpack_is_archive_name("notes.zip"), "notes.zip is named like an archive");
        is_int(unpack_sniff(adir, "archives/notes.zip"), 0, "a text file named .zip is not sniffed as one");
        r = run(text_zip, &defaults, &res, &error);
        is_int(r, -EBADMSG, "text file named .zip: refused");
        is_str(error, "not an archive: the content is not zip, 7z or tar (plain or compressed with gzip, bzip2, "
                      "xz or zstd)", "text file named .zip: the reason");
        free(error);
        free(text_zip);

        path = archive_file("empty.tar");
        write_file(path, "", 0);
        r = run(path, &defaults, &res, &error);
        ok(r == -EBADMSG && error && strncmp(error, "not an archive: ", 16) == 0, "empty file: not an archive");
        free(error);
        free(path);

        path = archive_file("missing.zip");
        r = run(path, &defaults, &res, &error);
        is_int(r, -ENOENT, "missing archive: -ENOENT");
        is_str(error, "cannot open the archive: No such file or directory", "missing archive: the reason");
        free(error);
        free(path);

        for (size_t i = 0; i < 3; i++)
                free(data[i]);
        close(adir);
}

static void test_dest_not_empty(void) {
        struct spec specs[] = { { "a.pdf", 'f', PDF_A, 0 } };
        char *path = build("one.zip", ZIP, PLAIN, specs, 1), *error = NULL;
        int r;

        (void) run(path, &defaults, NULL, NULL);
        r = unpack_archive(path, dest_fd, &defaults, NULL, &error);
        is_int(r, -ENOTEMPTY, "destination not empty: refused");
        is_str(error, "cannot unpack: the destination folder is not empty", "destination not empty: the reason");
        is_str(tree(), "a.pdf:10", "destination not empty: what was there is left alone");
        free(error);
        free(path);
}

static void test_encrypted(void) {
        struct spec specs[] = { { "secret.pdf", 'f', PDF_A, 0 }, { "open.pdf", 'f', PDF_B, 0 } };
        struct unpack_result res = { 0 };
        char *error = NULL, *path, *skipped;
        struct archive *probe = archive_write_new();
        bool can = archive_write_set_format_zip(probe) == ARCHIVE_OK &&
                   archive_write_set_options(probe, "zip:encryption=zipcrypt") == ARCHIVE_OK;
        int r;

        archive_write_free(probe);
        if (!can) {
                skip("this libarchive cannot write encrypted zips");
                return;
        }
        path = build_with("secret.zip", ZIP, PLAIN, "zip:encryption=zipcrypt", specs, 2);
        r = run(path, &defaults, &res, &error);
        skipped = skipped_text(&res);
        ok(r == 0 && strcmp(tree(), "") == 0 &&
           strcmp(skipped, "secret.pdf: encrypted: a password is required; not extracted"
                           " | open.pdf: encrypted: a password is required; not extracted") == 0,
           "encrypted zip entries: skipped with a reason (%s)", error ? error : skipped);
        free(skipped);
        free(error);
        unpack_result_clear(&res);
        free(path);
}

static void test_names_and_sniff(void) {
        static const char *const yes[] = { "a.zip", "A.ZIP", "b.tar", "c.tar.gz", "d.TGZ", "e.tar.xz", "f.txz",
                                           "g.tar.zst", "h.tzst", "i.tar.bz2", "j.tbz2", "k.7z" };
        static const char *const no[] = { ".zip", "zip", "a.gz", "a.pdf", "a.zip.pdf", "a.xz", "a.tar.gz.part" };
        bool all_yes = true, all_no = true;
        int adir = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *fifo = xasprintf("%s/fifo.zip", tmp), *link = xasprintf("%s/link.zip", tmp);
        char *pdf = xasprintf("%s/a.pdf", tmp), *bz = xasprintf("%s/b.tar.bz2", tmp);

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (!unpack_is_archive_name(yes[i])) {
                        all_yes = false;
                        diag("not recognised: %s", yes[i]);
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (unpack_is_archive_name(no[i])) {
                        all_no = false;
                        diag("wrongly recognised: %s", no[i]);
                }
        ok(all_yes, "every archive suffix, any case");
        ok(all_no, "no suffix alone, no other suffix");

        write_file(pdf, "%PDF-1.4\n", 9);
        write_file(bz, "BZh91AY&SY", 10);
        if (mkfifo(fifo, 0644) < 0 || symlink("archives/t.zip", link) < 0)
                bail_out("cannot make fifo or link");
        is_int(unpack_sniff(adir, "a.pdf"), 0, "sniff: a PDF is not an archive");
        is_int(unpack_sniff(adir, "b.tar.bz2"), 1, "sniff: bzip2 magic");
        is_int(unpack_sniff(adir, "fifo.zip"), 0, "sniff: a FIFO is not an archive (and did not block)");
        is_int(unpack_sniff(adir, "link.zip"), -ELOOP, "sniff: a symlink is not followed");
        is_int(unpack_sniff(adir, "missing.zip"), -ENOENT, "sniff: missing file");
        close(adir);
        free(fifo);
        free(link);
        free(pdf);
        free(bz);
}

int main(void) {
        char template[] = "/tmp/unpack-t.XXXXXX";

        if (!mkdtemp(template))
                bail_out("cannot make a temporary directory");
        tmp = template;
        box = xasprintf("%s/box", tmp);
        dest = xasprintf("%s/dest", box);
        char *archives = archive_file("");
        if (mkdir(archives, 0755) < 0)
                bail_out("cannot make %s", archives);
        free(archives);

        test_formats();
        test_hostile_names();
        test_zip_bomb();
        test_limits();
        test_names();
        test_duplicates();
        test_damaged();
        test_dest_not_empty();
        test_encrypted();
        test_names_and_sniff();

        if (dest_fd >= 0)
                close(dest_fd);
        (void) fs_remove_tree(AT_FDCWD, tmp);
        free(box);
        free(dest);
        free(last);
        return done_testing();
}
