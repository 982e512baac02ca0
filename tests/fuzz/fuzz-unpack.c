/* fuzz-unpack: libFuzzer target for unpack_archive(). Built by ./configure CC=clang --enable-fuzzing; or by hand:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz-unpack.c src/unpack.c src/fsutil.c src/names.c src/util.c \
 *       -larchive -ljansson -o fuzz-unpack && ./fuzz-unpack -max_total_time=60
 *
 * Seed it with small archives (zip, tar.gz, 7z). Each input is unpacked into an
 * empty folder with small limits; afterwards the folder is checked to hold only
 * folders and regular files, and emptied for the next input. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], archive[96], dest[96];

/* Only folders and regular files, nothing but what unpack made. */
static void check_tree(int fd, int depth) {
        DIR *d = fdopendir(fd);
        struct dirent *de;

        if (!d || depth > 70)
                abort();
        while ((de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        abort();
                if (S_ISDIR(st.st_mode))
                        check_tree(openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                                   depth + 1);
                else if (!S_ISREG(st.st_mode))
                        abort();
        }
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct unpack_limits limits = { 1000, 16 << 20, 1000 };
        struct unpack_result res = { 0 };
        char *error = NULL;
        FILE *f;
        int fd, r;

        if (!base[0]) {
                snprintf(base, sizeof(base), "/tmp/fuzz-unpack.%d", (int) getpid());
                snprintf(archive, sizeof(archive), "%s/in.zip", base);
                snprintf(dest, sizeof(dest), "%s/dest", base);
                if (mkdir(base, 0700) < 0 || mkdir(dest, 0700) < 0)
                        abort();
        }
        f = fopen(archive, "we");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();
        fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                abort();
        r = unpack_archive(archive, fd, &limits, &res, &error);
        if ((r < 0) != (error != NULL))
                abort();
        check_tree(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0);
        unpack_result_clear(&res);
        free(error);
        /* Empty it again for the next input. */
        (void) fs_remove_tree(AT_FDCWD, dest);
        if (mkdir(dest, 0700) < 0)
                abort();
        close(fd);
        /* Nothing may appear beside dest. */
        DIR *d = opendir(base);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "in.zip") &&
                    strcmp(de->d_name, "dest"))
                        abort();
        if (d)
                closedir(d);
        return 0;
}
