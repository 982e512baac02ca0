/* classify.c: judging a name and a file without changing anything: pure
 * helpers shared by intake (a drop at the top of an inbox) and registration
 * (every file inside a drop). */
#include "classify.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#define SNIFF_BYTES 1024

bool classify_is_ignored(const struct queue_config *qc, const char *name) {
        /* The daemon's own names in an inbox (a drop being claimed across file
         * systems) are never a drop, whatever the configuration ignores. */
        if (strncmp(name, CLASSIFY_DAEMON_PREFIX, strlen(CLASSIFY_DAEMON_PREFIX)) == 0)
                return true;
        for (size_t i = 0; i < qc->n_ignore; i++)
                if (fnmatch(qc->ignore[i], name, 0) == 0)
                        return true;
        return false;
}

/* Why a directory entry that is not a regular file is not taken; NULL if it is one. */
const char *classify_special_reason(const struct stat *st) {
        if (S_ISREG(st->st_mode))
                return NULL;
        if (S_ISLNK(st->st_mode))
                return "symbolic link: not followed";
        if (S_ISFIFO(st->st_mode))
                return "named pipe (FIFO): not a regular file";
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                return "device node: not a regular file";
        if (S_ISSOCK(st->st_mode))
                return "socket: not a regular file";
        return "not a regular file";
}

enum file_kind classify_file(int dirfd, const char *name, const struct stat *st, const char **ret_reason) {
        char buf[SNIFF_BYTES];
        ssize_t n;
        int fd;

        *ret_reason = classify_special_reason(st);
        if (*ret_reason)
                return FILE_SKIP;
        if (st->st_nlink > 1) {
                *ret_reason = CLASSIFY_REASON_HARD_LINK;
                return FILE_SKIP;
        }
        if (st->st_size == 0) {
                *ret_reason = "empty file (0 bytes)";
                return FILE_SKIP;
        }
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                /* Unreadable: it becomes a job, so that its status says why it failed. */
                return FILE_PDF;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0)
                return FILE_PDF;
        /* Readers accept junk before the header; so does mupdf within the first KiB. */
        if (memmem(buf, (size_t) n, "%PDF-", 5))
                return FILE_PDF;
        *ret_reason = "not a PDF";
        return FILE_SKIP;
}
