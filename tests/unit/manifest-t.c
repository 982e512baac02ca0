/* manifest-t: manifest.c reads every key of a *.batch.yaml, normalises paths,
 * and refuses each kind of mistake with the exact FILE:LINE:COLUMN and the
 * sentence a user sees; sha256.c gives the FIPS 180-4 test vectors and
 * manifest_sha256_file() hashes files without following links.
 *
 * Manifests are written to TMP/inbox/; the file name is part of the test
 * because the batch's default name and "cannot list itself" come from it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "manifest.h"
#include "sha256.h"
#include "tap.h"
#include "util.h"

static char *tmp;
static char *inbox;

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA_896 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA_NOT_HEX "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define MSG_896 "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"

/* Writes TMP/inbox/NAME; returns its path. */
static char *write_manifest(const char *name, const char *text, size_t len) {
        char *path = xasprintf("%s/%s", inbox, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0 || write(fd, text, len) != (ssize_t) len || close(fd) < 0)
                bail_out("cannot write %s", path);
        return path;
}

static struct manifest *load_ok(const char *name, const char *text, const char *what) {
        char *path = write_manifest(name, text, strlen(text)), *error = (char *) "untouched";
        struct manifest *m = NULL;
        int r = manifest_load(path, &m, &error);

        if (!ok(r == 0 && m && !error, "accepted: %s", what))
                diag("r=%d %s", r, error ? error : "(no message)");
        free(path);
        return r == 0 ? m : NULL;
}

/* Refused with exactly "PATH:" WANT and R. */
static void check_error_as(const char *name, const char *text, size_t len, int want_r, const char *want,
                           const char *what) {
        char *path = write_manifest(name, text, len), *error = NULL, *full = xasprintf("%s:%s", path, want);
        struct manifest *m = (struct manifest *) 0x1;
        int r = manifest_load(path, &m, &error);

        if (!ok(r == want_r && m == (struct manifest *) 0x1 && error && strcmp(error, full) == 0, "refused: %s", what))
                diag("     got: r=%d %s\n#   expected: r=%d %s", r, error ? error : "(no message)", want_r, full);
        free(error);
        free(full);
        free(path);
}

static void check_error(const char *text, const char *want, const char *what) {
        check_error_as("t.batch.yaml", text, strlen(text), -EINVAL, want, what);
}

static void test_valid(void) {
        struct manifest *m;
        char hex[65];

        m = load_ok("example.batch.yaml",
                    "batch: lm317-review          # the batch name\n"
                    "files:\n"
                    "  - path: vendor-a/LM317.pdf\n"
                    "    sha256: " SHA_ABC "\n"
                    "  - vendor-b/\n"
                    "labels:\n"
                    "  project: power-supply\n"
                    "  requested_by: anna\n"
                    "options:\n"
                    "  thumbnail_size: 512\n"
                    "  job_timeout: 10m\n",
                    "the example from the design");
        if (m) {
                is_str(m->batch, "lm317-review", "batch name");
                is_int(m->n_files, 2, "two files");
                is_str(m->files[0].path, "vendor-a/LM317.pdf", "first path");
                manifest_sha256_hex(m->files[0].sha256, hex);
                ok(m->files[0].has_sha256 && strcmp(hex, SHA_ABC) == 0, "sha256 read as bytes");
                is_str(m->files[1].path, "vendor-b", "a folder's trailing / is dropped");
                ok(!m->files[1].has_sha256, "no sha256 given: none");
                ok(m->n_labels == 2 && strcmp(m->label_keys[0], "project") == 0 &&
                   strcmp(m->label_values[0], "power-supply") == 0 && strcmp(m->label_keys[1], "requested_by") == 0 &&
                   strcmp(m->label_values[1], "anna") == 0, "labels, in order");
                is_int(m->thumbnail_size, 512, "options: thumbnail_size");
                is_int(m->job_timeout_usec, 600 * USEC_PER_SEC, "options: job_timeout 10m");
        }
        manifest_free(m);

        m = load_ok("weekly.batch.yaml", "files:\n  - ./a/./b.pdf\n  - c//d.pdf\n  - {path: \"e f.pdf\"}\n",
                    "minimal, with paths to normalise");
        if (m) {
                is_str(m->batch, "weekly", "default batch name: the file name without .batch.yaml");
                ok(m->n_files == 3 && strcmp(m->files[0].path, "a/b.pdf") == 0 &&
                   strcmp(m->files[1].path, "c/d.pdf") == 0 && strcmp(m->files[2].path, "e f.pdf") == 0,
                   "\"./\", \".\" and \"//\" normalised away");
                ok(m->n_labels == 0 && m->thumbnail_size == 0 && m->job_timeout_usec == 0,
                   "no labels, options not set (0)");
        }
        manifest_free(m);

        m = load_ok("Review.Batch.YML", "{files: [a.pdf, {path: b.pdf, sha256: " SHA_EMPTY "}], labels: ,"
                    " options: , batch: \"Datenbl\xc3\xa4tter 2024\"}\n", "flow style, empty labels and options");
        if (m) {
                ok(strcmp(m->batch, "Datenbl\xc3\xa4tter 2024") == 0 && m->n_files == 2 && m->files[1].has_sha256 &&
                   m->files[1].sha256[0] == 0xe3 && m->files[1].sha256[31] == 0x55, "flow style read");
        }
        manifest_free(m);

        m = load_ok("Review.Batch.YAML", "files: [a.pdf]\nlabels:\n  count: 3\n  \"with space\": \"\"\n",
                    "upper-case suffix, number and empty text as label values");
        if (m) {
                is_str(m->batch, "Review", "default name with an upper-case suffix");
                ok(m->n_labels == 2 && strcmp(m->label_values[0], "3") == 0 && strcmp(m->label_keys[1], "with space") == 0 &&
                   strcmp(m->label_values[1], "") == 0, "labels are text");
        }
        manifest_free(m);
        manifest_free(NULL);

        ok(manifest_is_name("a.batch.yaml") && manifest_is_name("A.BATCH.YML") && !manifest_is_name(".batch.yaml") &&
           !manifest_is_name("a.yaml") && !manifest_is_name("a.batch.yaml.part"), "manifest_is_name");
}

static void test_key_errors(void) {
        check_error("files: [a.pdf]\nfils: [b.pdf]\n",
                    "2:1: unknown key \"fils\" (expected one of: batch, files, labels, options, profile, password)", "unknown top-level key");
        check_error("files:\n  - path: a.pdf\n    sha: " SHA_ABC "\n",
                    "3:5: unknown key \"sha\" in a file entry (expected one of: path, sha256, password)",
                    "unknown key in a file entry");
        check_error("files: [a.pdf]\noptions:\n  dpi: 300\n",
                    "3:3: unknown option \"dpi\" (expected one of: thumbnail_size, job_timeout, priority, not_before, meta, text, stext, outline, thumbs, pages, facts, tables, filters, thumbs.pages, thumbs.size, thumbs.format, pages.pages, pages.dpi, pages.format)", "unknown option");
        check_error("files: [a.pdf]\nbatch: x\nfiles: [b.pdf]\n",
                    "3:1: duplicate key \"files\" (already given at line 1)", "duplicate key");
        check_error("files: [a.pdf]\nlabels:\n  a: 1\n  a: 2\n",
                    "4:3: duplicate label \"a\" (already given at line 3)", "duplicate label");
        check_error("# nothing but\nbatch: x\n",
                    "2:1: no \"files\" key; expected the list of files and folders of the batch", "no files");
        check_error("- a.pdf\n",
                    "1:1: the top level must be a mapping of keys (batch, files, labels, options, profile, password), got a list",
                    "top level is a list");
        check_error("# only a comment\n", "1:1: the file is empty; expected a mapping with at least \"files\"",
                    "empty");
        check_error("files: [a.pdf]\n---\nfiles: [b.pdf]\n", "3:1: a second YAML document; expected exactly one",
                    "two documents");
        check_error("files: [a.pdf\n",
                    "2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 1, "
                    "column 8)", "invalid YAML");
        check_error("files:\n\t- a.pdf\n",
                    "2:1: invalid YAML: found character that cannot start any token (while scanning for the next "
                    "token at line 2, column 1)", "a tab");
}

static void test_file_errors(void) {
        check_error("files:\n", "1:1: \"files\" is empty; list at least one file or folder", "files: nothing");
        check_error("files: []\n", "1:8: \"files\" is empty; list at least one file or folder", "files: []");
        check_error("files: a.pdf\n", "1:8: \"files\" must be a list of paths relative to the inbox, got \"a.pdf\"",
                    "files is not a list");
        check_error("files:\n  - /etc/passwd\n",
                    "2:5: a path must be relative to the inbox, not start with \"/\", got \"/etc/passwd\"",
                    "absolute path");
        check_error("files:\n  - a.pdf\n  - sub/../../x.pdf\n",
                    "3:5: a path must not contain \"..\", got \"sub/../../x.pdf\"", "path with ..");
        check_error("files:\n  - \"\"\n", "2:5: a path must not be empty, got \"\"", "empty path");
        check_error("files:\n  - path:\n", "2:5: a path must not be empty, got nothing", "path: nothing");
        check_error("files:\n  - ./\n",
                    "2:5: a path must name a file or folder in the inbox, not the inbox itself, got \"./\"",
                    "the inbox itself");
        check_error("files:\n  - \"a\\0b.pdf\"\n", "2:5: a path must not contain a NUL byte, got \"a\"",
                    "NUL in a path");
        check_error("files:\n  - a.pdf\n  - ./t.batch.yaml\n",
                    "3:5: the manifest cannot list itself, got \"./t.batch.yaml\"", "lists itself");
        check_error("files:\n  - a.pdf\n  - b.pdf\n  - path: ./a.pdf\n",
                    "4:11: \"a.pdf\" is listed twice (first at line 2)", "listed twice");
        check_error("files:\n  - vendor-b/\n  - vendor-b/x.pdf\n",
                    "3:5: \"vendor-b/x.pdf\" is inside the folder \"vendor-b\" listed at line 2; list each file once",
                    "file inside a listed folder");
        check_error("files:\n  - vendor-b/sub/x.pdf\n  - vendor-b\n",
                    "3:5: \"vendor-b\" contains \"vendor-b/sub/x.pdf\" listed at line 2; list each file once",
                    "folder above a listed file");
        check_error("files:\n  - path: a.pdf\n    sha256: abc\n",
                    "3:13: \"sha256\" must be 64 hexadecimal digits, got \"abc\"", "short sha256");
        check_error("files:\n  - path: a.pdf\n    sha256: " SHA_NOT_HEX "\n",
                    "3:13: \"sha256\" must be 64 hexadecimal digits, got \"" SHA_NOT_HEX "\"",
                    "sha256 with a non-hex digit");
        check_error("files:\n  - sha256: " SHA_ABC "\n",
                    "2:5: a file entry needs \"path\": the file or folder, relative to the inbox", "entry without path");
        check_error("files:\n  - [a.pdf]\n",
                    "2:5: each entry of \"files\" must be a path, or a mapping with \"path\" and \"sha256\", got a list",
                    "entry is a list");
}

static void test_value_errors(void) {
        char *long_name = xasprintf("batch: %0201d\nfiles: [a.pdf]\n", 0);

        check_error("batch: a/b\nfiles: [a.pdf]\n",
                    "1:8: \"batch\" must be a single folder name, without \"/\", got \"a/b\"", "batch with /");
        check_error("batch: .hidden\nfiles: [a.pdf]\n", "1:8: \"batch\" must not start with \".\", got \".hidden\"",
                    "batch starting with .");
        check_error("batch:\nfiles: [a.pdf]\n", "1:1: \"batch\" must be a name for the batch's folder, got nothing",
                    "batch: nothing");
        check_error("batch: \"a\\tb\"\nfiles: [a.pdf]\n",
                    "1:8: \"batch\" must not contain control characters, got \"a?b\"", "batch with a tab");
        /* The value is quoted as far as 151 bytes, then "...". */
        char *want = xasprintf("1:8: \"batch\" must be at most 200 bytes long, got \"%0151d...\"", 0);
        check_error(long_name, want, "batch of 201 bytes");
        free(want);
        check_error("files: [a.pdf]\nlabels: [a, b]\n", "2:9: \"labels\" must be a mapping of names to text, got a list",
                    "labels is a list");
        check_error("files: [a.pdf]\nlabels:\n  owner:\n", "3:3: label \"owner\" must have text as its value, got nothing",
                    "label without value");
        check_error("files: [a.pdf]\nlabels:\n  owner: [a, b]\n",
                    "3:10: label \"owner\" must have text as its value, got a list", "label value is a list");
        check_error("files: [a.pdf]\noptions:\n  thumbnail_size: 8\n",
                    "3:19: \"thumbnail_size\" must be a number of pixels from 16 to 4096, got \"8\"", "thumbnail too small");
        check_error("files: [a.pdf]\noptions:\n  thumbnail_size: big\n",
                    "3:19: \"thumbnail_size\" must be a number of pixels from 16 to 4096, got \"big\"", "thumbnail: text");
        check_error("files: [a.pdf]\noptions:\n  job_timeout: 0\n",
                    "3:16: \"job_timeout\" must be longer than zero, got \"0\"", "job_timeout 0");
        check_error("files: [a.pdf]\noptions:\n  job_timeout: soon\n",
                    "3:16: \"job_timeout\" must be a duration like 500ms, 2s, 5m, 1h, 1d or 1m30s (a bare number means "
                    "seconds), got \"soon\"", "job_timeout: text");
        check_error("files: [a.pdf]\noptions:\n  job_timeout: 400d\n",
                    "3:16: \"job_timeout\" must be at most 365d, got \"400d\"", "job_timeout too long");
        check_error("files: [a.pdf]\noptions: 5\n",
                    "2:10: \"options\" must be a mapping (thumbnail_size, job_timeout, priority, not_before, or a profile's options like stext or thumbs.size), got \"5\"", "options not a mapping");
        free(long_name);
}

static void test_file_limits(void) {
        size_t size = 7 * 100001 + 16, o = 0;
        char *text = xmalloc(size), *path, *error = NULL, *want;
        struct manifest *m = NULL;
        int r;

        /* 100001 distinct names of 4 base-36 digits, one per line. */
        o += (size_t) sprintf(text, "files:\n");
        for (unsigned i = 0; i < 100001; i++) {
                static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
                o += (size_t) sprintf(text + o, "- %c%c%c%c\n", digits[i / 46656 % 36], digits[i / 1296 % 36],
                                      digits[i / 36 % 36], digits[i % 36]);
        }
        check_error_as("many.batch.yaml", text, o, -EINVAL,
                       "100002:3: more than 100000 files in one manifest; split the batch into several",
                       "100001 files");
        path = write_manifest("enough.batch.yaml", text, o - 7); /* the last line dropped: 100000 */
        r = manifest_load(path, &m, &error);
        ok(r == 0 && m && m->n_files == 100000, "exactly 100000 files: accepted");
        manifest_free(m);
        free(error);
        free(path);
        free(text);

        text = xmalloc(MANIFEST_MAX_BYTES + 2);
        memset(text, '#', MANIFEST_MAX_BYTES + 1);
        path = write_manifest("big.batch.yaml", text, MANIFEST_MAX_BYTES + 1);
        error = NULL;
        r = manifest_load(path, &m, &error);
        want = xasprintf("%s: larger than 1 MiB; a manifest lists files, it does not contain them", path);
        ok(r == -EFBIG && error && strcmp(error, want) == 0, "over 1 MiB: refused (%s)", error ? error : "");
        free(want);
        free(error);
        free(path);
        free(text);

        char *target = xasprintf("%s/link.batch.yaml", inbox), *fifo = xasprintf("%s/fifo.batch.yaml", inbox);
        if (symlink("many.batch.yaml", target) < 0 || mkfifo(fifo, 0644) < 0)
                bail_out("cannot make a link or FIFO");
        error = NULL;
        r = manifest_load(target, &m, &error);
        want = xasprintf("%s: is a symbolic link; not followed", target);
        ok(r == -ELOOP && error && strcmp(error, want) == 0, "a symlink is not followed");
        free(want);
        free(error);
        error = NULL;
        r = manifest_load(fifo, &m, &error);
        want = xasprintf("%s: not a regular file", fifo);
        ok(r == -EINVAL && error && strcmp(error, want) == 0, "a FIFO is refused without blocking");
        free(want);
        free(error);
        free(target);
        free(fifo);
        target = xasprintf("%s/missing.batch.yaml", inbox);
        r = manifest_load(target, &m, NULL);
        is_int(r, -ENOENT, "missing file: -ENOENT, ret_error may be NULL");
        free(target);
}

/* Limits are checked before the work they bound: a 1 MiB manifest of labels
 * with a duplicate among them is refused for the count, at the 101st name; a
 * path too long or too deep is refused before its folders are remembered. */
static void test_list_limits(void) {
        size_t size = 1024 * 1024, o = 0;
        char *text = xmalloc(size), want[512];
        size_t w;

        o += (size_t) sprintf(text, "files: [a.pdf]\nlabels:\n  l0: v\n");
        for (unsigned i = 0; o + 32 < size; i++)
                o += (size_t) sprintf(text + o, "  l%u: v\n", i);
        check_error_as("labels.batch.yaml", text, o, -EINVAL, "103:3: more than 100 labels",
                       "a 1 MiB manifest of labels with a duplicate: the count first");

        o = (size_t) sprintf(text, "files:\n- ");
        for (unsigned i = 0; i < 300000; i++)
                o += (size_t) sprintf(text + o, "%sa", i ? "/" : "");
        text[o++] = '\n';
        w = (size_t) sprintf(want, "2:3: a path must be at most 4095 bytes long, got \"");
        for (unsigned i = 0; i < 75; i++)
                w += (size_t) sprintf(want + w, "a/");
        sprintf(want + w, "a...\"");
        check_error_as("deep.batch.yaml", text, o, -EINVAL, want, "a path of 300000 components: refused for its length");

        o = (size_t) sprintf(text, "files:\n- ");
        for (unsigned i = 0; i < 65; i++)
                o += (size_t) sprintf(text + o, "%sd", i ? "/" : "");
        text[o++] = '\n';
        w = (size_t) sprintf(want, "2:3: a path must have at most 64 components, got \"");
        memcpy(want + w, text + 9, o - 10);
        sprintf(want + w + o - 10, "\"");
        check_error_as("deep.batch.yaml", text, o, -EINVAL, want, "65 components");
        char *path = write_manifest("deep.batch.yaml", text, o - 3); /* 64 components */
        struct manifest *m = NULL;
        int r = manifest_load(path, &m, NULL);
        ok(r == 0 && m && m->n_files == 1, "64 components: accepted");
        manifest_free(m);
        free(path);
        free(text);
}

static bool digest_is(const unsigned char d[32], const char *hex) {
        char got[65];

        manifest_sha256_hex(d, got);
        if (strcmp(got, hex) != 0) {
                diag("     got: %s\n#   expected: %s", got, hex);
                return false;
        }
        return true;
}

static void test_sha256(void) {
        static const struct {
                size_t len;
                const char *hex;
        } xs[] = {
                { 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072" },
                { 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e" },
                { 63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2" },
                { 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c" },
                { 65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9" },
                { 119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c" },
                { 120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98" },
                { 128, "24da1b81d0b16df6428eee73c69fcb2a93c76bc6df706f0c6670fe6bfe800464" },
        };
        unsigned char d[32], d2[32];
        struct sha256_ctx c;
        char *million = xmalloc(1000000), x[128];
        bool all = true;
        int dir;

        sha256_buffer("abc", 3, d);
        ok(digest_is(d, SHA_ABC), "sha256(\"abc\")");
        sha256_buffer("", 0, d);
        ok(digest_is(d, SHA_EMPTY), "sha256(\"\")");
        sha256_buffer(MSG_448, strlen(MSG_448), d);
        ok(digest_is(d, SHA_448), "sha256 of the 448-bit message");
        sha256_buffer(MSG_896, strlen(MSG_896), d);
        ok(digest_is(d, SHA_896), "sha256 of the 896-bit message");
        memset(million, 'a', 1000000);
        sha256_init(&c);
        for (int i = 0; i < 1000; i++)
                sha256_update(&c, million, 1000);
        sha256_final(&c, d);
        ok(digest_is(d, SHA_MILLION_A), "sha256 of a million 'a', in 1000-byte pieces");
        memset(x, 'x', sizeof(x));
        for (size_t i = 0; i < ELEMENTSOF(xs); i++) {
                sha256_buffer(x, xs[i].len, d);
                all = digest_is(d, xs[i].hex) && all;
        }
        ok(all, "sha256 at every padding boundary (55, 56, 63, 64, 65, 119, 120, 128 bytes)");
        sha256_init(&c);
        for (size_t i = 0; i < strlen(MSG_896); i++)
                sha256_update(&c, &MSG_896[i], 1);
        sha256_final(&c, d2);
        sha256_buffer(MSG_896, strlen(MSG_896), d);
        ok(memcmp(d, d2, 32) == 0, "byte by byte gives the same digest as all at once");

        /* Files: TMP/files/sub/million.txt and abc.txt; TMP/files/link -> sub. */
        char *files = xasprintf("%s/files", tmp);
        if (mkdir(files, 0755) < 0)
                bail_out("cannot make %s", files);
        dir = open(files, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || mkdirat(dir, "sub", 0755) < 0 || symlinkat("sub", dir, "link") < 0 ||
            symlinkat("abc.txt", dir, "abc-link") < 0)
                bail_out("cannot make the files to hash");
        free(write_manifest("../files/sub/million.txt", million, 1000000));
        free(write_manifest("../files/abc.txt", "abc", 3));
        memset(d, 0, sizeof(d));
        is_int(manifest_sha256_file(dir, "abc.txt", d), 0, "manifest_sha256_file: a file");
        ok(digest_is(d, SHA_ABC), "manifest_sha256_file: abc.txt");
        ok(manifest_sha256_file(dir, "./sub//million.txt", d) == 0 && digest_is(d, SHA_MILLION_A),
           "manifest_sha256_file: a million 'a' in a folder");
        memset(d, 0x5a, sizeof(d));
        is_int(manifest_sha256_file(dir, "link/million.txt", d), -ELOOP, "a symlinked folder is not followed");
        is_int(manifest_sha256_file(dir, "abc-link", d), -ELOOP, "a symlinked file is not followed");
        is_int(manifest_sha256_file(dir, "sub/../abc.txt", d), -EINVAL, "\"..\" is refused");
        is_int(manifest_sha256_file(dir, "sub", d), -EINVAL, "a folder has no checksum");
        is_int(manifest_sha256_file(dir, "missing.pdf", d), -ENOENT, "missing file: -ENOENT");
        ok(d[0] == 0x5a && d[31] == 0x5a, "the output is left alone on failure");
        close(dir);
        free(files);
        free(million);
}

int main(void) {
        char template[] = "/tmp/manifest-t.XXXXXX";

        if (!mkdtemp(template))
                bail_out("cannot make a temporary directory");
        tmp = template;
        inbox = xasprintf("%s/inbox", tmp);
        if (mkdir(inbox, 0755) < 0)
                bail_out("cannot make %s", inbox);

        test_valid();
        test_key_errors();
        test_file_errors();
        test_value_errors();
        test_file_limits();
        test_list_limits();
        test_sha256();

        (void) fs_remove_tree(AT_FDCWD, tmp);
        free(inbox);
        return done_testing();
}
