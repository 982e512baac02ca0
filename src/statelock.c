/* statelock.c: the lock that keeps a second pdfspoold out of a state
 * directory (see statelock.h), and the question whether one holds it. */
#include "statelock.h"
#include "fsutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOLDER_MAX_BYTES 1024

/* The holder as its file names it; false when the file says nothing usable. */
static bool read_holder(int fd, struct statelock_holder *h) {
        char buf[HOLDER_MAX_BYTES + 1];
        ssize_t n;

        *h = (struct statelock_holder) {};
        do
                n = pread(fd, buf, HOLDER_MAX_BYTES, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return false;
        buf[n] = 0;
        json_t *j = json_loads(buf, 0, NULL);
        json_t *pid = json_object_get(j, "pid");
        const char *host = json_string_value(json_object_get(j, "host"));
        if (json_is_integer(pid) && host) {
                h->pid = json_integer_value(pid);
                snprintf(h->host, sizeof(h->host), "%s", host);
                h->known = true;
        }
        json_decref(j);
        return h->known;
}

/* 1 when some open file description holds a lock on FD's file, 0 if not, -errno. */
static int lock_held(int fd) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return -errno;
        return fl.l_type != F_UNLCK;
}

/* The holder of a lock that is held: it writes its name right after taking the
 * lock, so a reader that came in between waits a moment for it. */
static void wait_for_holder(int fd, struct statelock_holder *h) {
        for (int i = 0; i < 20 && !read_holder(fd, h) && lock_held(fd) > 0; i++)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 25 * 1000 * 1000 }, NULL);
}

static int write_holder(int fd) {
        char host[256] = "", when[40];
        json_t *j;
        char *text;

        (void) gethostname(host, sizeof(host) - 1);
        j = json_pack("{s:I,s:s,s:s}", "pid", (json_int_t) getpid(), "host", host, "started",
                      format_rfc3339(when, sizeof(when), now_usec(CLOCK_REALTIME)));
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return -ENOMEM;
        /* In place: readers go by the lock, and a short read only makes them wait. */
        size_t len = strlen(text);
        int r = ftruncate(fd, 0) < 0 || pwrite(fd, text, len, 0) != (ssize_t) len ? -errno : 0;
        free(text);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

static int open_lock_file(const char *state_dir, int flags) {
        int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd;

        if (dfd < 0)
                return -errno;
        fd = openat(dfd, STATELOCK_FILE, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                fd = -errno;
        close(dfd);
        return fd;
}

int statelock_take(const char *state_dir, struct statelock_holder *ret_holder) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        int fd, r;

        r = fs_mkdir_p(state_dir, 0750);
        if (r < 0)
                return r;
        fd = open_lock_file(state_dir, O_RDWR | O_CREAT);
        if (fd < 0)
                return fd;
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                r = -errno;
                if (r == -EAGAIN || r == -EACCES) {
                        r = -EBUSY;
                        if (ret_holder)
                                wait_for_holder(fd, ret_holder);
                }
                close(fd);
                return r;
        }
        r = write_holder(fd);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

bool statelock_holder_gone(const struct statelock_holder *h) {
        char host[256] = "";

        if (!h->known || h->pid <= 0 || gethostname(host, sizeof(host) - 1) < 0 || strcmp(host, h->host) != 0)
                return false;
        return kill((pid_t) h->pid, 0) < 0 && errno == ESRCH;
}

int statelock_query(const char *state_dir, struct statelock_holder *ret_holder) {
        int fd = open_lock_file(state_dir, O_RDONLY);
        int r;

        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        r = lock_held(fd);
        if (r > 0 && ret_holder)
                wait_for_holder(fd, ret_holder);
        close(fd);
        return r;
}
