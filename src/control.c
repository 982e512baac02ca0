/* control.c: request and outcome files in <state_dir>/control/, shared by
 * pdfspoolctl (writes requests, waits for outcomes) and the daemon (reads
 * requests, writes outcomes). See control.h. */
#include "control.h"
#include "fsutil.h"
#include "names.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQUEST_MAX_BYTES (64 * 1024)
#define MAX_JOBS_PER_REQUEST 10000

static const char *const actions[] = { "cancel", "retry", "hold", "release", "delete", "priority" };
/* what a person on the share may ask by a file's name */
static const char *const share_actions[] = { "cancel", "retry", "hold", "release" };

void control_request_free(struct control_request *rq) {
        if (!rq)
                return;
        for (size_t i = 0; i < rq->n_jobs; i++)
                free(rq->jobs[i]);
        free(rq->jobs);
        free(rq->id);
        free(rq->action);
        free(rq->batch);
        free(rq->queue);
        free(rq);
}

bool control_action_known(const char *action) {
        for (size_t i = 0; action && i < ELEMENTSOF(actions); i++)
                if (strcmp(action, actions[i]) == 0)
                        return true;
        return false;
}

char *control_dir_path(const char *state_dir) {
        return xasprintf("%s/" CONTROL_DIR, state_dir);
}

int control_dir_setup(const char *state_dir) {
        char *path = control_dir_path(state_dir);
        int r = 0;

        if (mkdir(path, 02770) < 0 && errno != EEXIST)
                r = -errno;
        if (r == 0) {
                struct group *g = getgrnam(CONTROL_GROUP);
                int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        r = -errno;
                /* Who may write here may control the daemon: its group, nobody else. */
                else {
                        if (g)
                                (void) fchown(fd, (uid_t) -1, g->gr_gid);
                        if (fchmod(fd, 02770) < 0)
                                r = -errno;
                        close(fd);
                }
        }
        free(path);
        return r;
}

static bool name_ok(const char *s) {
        return s && s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

int control_request_submit(const char *state_dir, struct control_request *rq, char **ret_id) {
        char *dir = control_dir_path(state_dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
        char host[64] = "";
        unsigned rnd = 0;

        free(dir);
        if (fd < 0)
                return -errno;
        (void) gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
                if (*p == '/' || *p == '.')
                        *p = '_';
        int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (urandom >= 0) {
                if (read(urandom, &rnd, sizeof(rnd)) != sizeof(rnd))
                        rnd = 0;
                close(urandom);
        }
        uint64_t now = now_usec(CLOCK_REALTIME);
        char *id = xasprintf("%llu.%06llu.%s.%d.%08x", (unsigned long long) (now / USEC_PER_SEC),
                             (unsigned long long) (now % USEC_PER_SEC), host, (int) getpid(), rnd);
        /* Names are bytes: exact, so that no job named can drop out of the list
         * (an empty list would mean every job). */
        json_t *jobs = json_array();
        for (size_t i = 0; i < rq->n_jobs; i++)
                json_array_append_new(jobs, names_to_json_exact(rq->jobs[i]));
        char when[40];
        json_t *j = json_pack("{s:s,s:o,s:s?,s:o,s:b,s:i,s:s,s:I,s:s}", "action", rq->action, "batch",
                              names_to_json_exact(rq->batch), "queue", rq->queue, "jobs", jobs, "force", rq->force,
                              "priority", rq->priority, "created", format_rfc3339(when, sizeof(when), now), "uid",
                              (json_int_t) getuid(), "host", host);
        char *name = xasprintf("%s" CONTROL_REQUEST_SUFFIX, id);
        r = j ? fs_write_json(fd, name, j, 0660, (gid_t) -1, 0) : -EINVAL;
        json_decref(j);
        free(name);
        close(fd);
        if (r < 0) {
                free(id);
                return r;
        }
        *ret_id = id;
        return 0;
}

static void remove_pair(int dirfd, const char *id) {
        char *rq = xasprintf("%s" CONTROL_REQUEST_SUFFIX, id), *out = xasprintf("%s" CONTROL_OUTCOME_SUFFIX, id);
        (void) unlinkat(dirfd, rq, 0);
        (void) unlinkat(dirfd, out, 0);
        free(rq);
        free(out);
}

/* 0 with the outcome, -ENOENT while there is none, -errno. */
static int read_outcome(int dirfd, const char *id, json_t **ret) {
        char *name = xasprintf("%s" CONTROL_OUTCOME_SUFFIX, id), *text = NULL;
        int r = fs_read_file(dirfd, name, REQUEST_MAX_BYTES, &text, NULL);

        free(name);
        if (r < 0)
                return r;
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

int control_outcome_wait(const char *state_dir, const char *id, uint64_t timeout_usec,
                         bool (*still_running)(void *userdata), void *userdata, json_t **ret) {
        char *dir = control_dir_path(state_dir);
        int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), r;
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;

        if (dirfd < 0 || ino < 0) {
                r = -errno;
                goto out;
        }
        /* Watched before the first look, so that no outcome slips between. On a
         * network file system another host's write raises no event: the look
         * every quarter second covers that. */
        (void) inotify_add_watch(ino, dir, IN_MOVED_TO | IN_CLOSE_WRITE);
        for (unsigned round = 0;; round++) {
                r = read_outcome(dirfd, id, ret);
                if (r != -ENOENT)
                        break;
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                if (round % 4 == 3 && still_running && !still_running(userdata)) {
                        r = -ESRCH;
                        break;
                }
                uint64_t left = deadline - now;
                struct pollfd p = { .fd = ino, .events = POLLIN };
                (void) poll(&p, 1, (int) (left < 250 * USEC_PER_MSEC ? left / USEC_PER_MSEC + 1 : 250));
                char buf[4096];
                while (read(ino, buf, sizeof(buf)) > 0)
                        ;
        }
out:
        if (dirfd >= 0) {
                remove_pair(dirfd, id);
                close(dirfd);
        }
        if (ino >= 0)
                close(ino);
        free(dir);
        return r;
}

bool control_is_request(const char *name, char **ret_id) {
        if (name[0] == '.' || !str_has_suffix(name, CONTROL_REQUEST_SUFFIX))
                return false;
        size_t n = strlen(name) - strlen(CONTROL_REQUEST_SUFFIX);
        if (n == 0)
                return false;
        *ret_id = xstrndup(name, n);
        return true;
}

int control_request_read(int dirfd, const char *id, struct control_request **ret) {
        char *name = xasprintf("%s" CONTROL_REQUEST_SUFFIX, id), *text = NULL;
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r;
        struct stat st;

        free(name);
        if (fd < 0)
                return errno == ELOOP ? -EBADMSG : -errno;
        /* A group-writable folder: only a plain file is a request. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > REQUEST_MAX_BYTES) {
                close(fd);
                return -EBADMSG;
        }
        text = xmalloc((size_t) st.st_size + 1);
        ssize_t n = pread(fd, text, (size_t) st.st_size, 0);
        r = n < 0 ? -errno : 0;
        text[n > 0 ? n : 0] = 0;
        close(fd);
        if (r < 0) {
                free(text);
                return r;
        }
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        const char *action = json_string_value(json_object_get(j, "action"));
        char *batch = names_from_json_exact(json_object_get(j, "batch"));
        const char *queue = json_string_value(json_object_get(j, "queue"));
        json_t *jobs = json_object_get(j, "jobs");
        if (!control_action_known(action) || !name_ok(batch) || (queue && !name_ok(queue)) ||
            (jobs && !json_is_array(jobs)) || json_array_size(jobs) > MAX_JOBS_PER_REQUEST) {
                free(batch);
                json_decref(j);
                return -EBADMSG;
        }
        struct control_request *rq = xcalloc(1, sizeof(*rq));
        rq->id = xstrdup(id);
        rq->action = xstrdup(action);
        rq->batch = batch;
        rq->queue = queue ? xstrdup(queue) : NULL;
        rq->force = json_is_true(json_object_get(j, "force"));
        json_int_t prio = json_integer_value(json_object_get(j, "priority"));
        rq->priority = prio < -100 ? -100 : prio > 100 ? 100 : (int) prio;
        rq->jobs = xcalloc(json_array_size(jobs) + 1, sizeof(char *));
        for (size_t i = 0; i < json_array_size(jobs); i++) {
                char *job = names_from_json_exact(json_array_get(jobs, i));
                if (!job) {
                        json_decref(j);
                        control_request_free(rq);
                        return -EBADMSG;
                }
                rq->jobs[rq->n_jobs++] = job;
        }
        json_decref(j);
        *ret = rq;
        return 0;
}

int control_outcome_exists(int dirfd, const char *id) {
        char *name = xasprintf("%s" CONTROL_OUTCOME_SUFFIX, id);
        int r = faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
        free(name);
        return r;
}

int control_outcome_write(int dirfd, const char *id, int code, const char *message) {
        char when[40];
        json_t *j = json_pack("{s:b,s:i,s:s,s:s}", "ok", code == CONTROL_OK, "code", code, "message", message,
                              "finished", format_rfc3339(when, sizeof(when), now_usec(CLOCK_REALTIME)));
        char *name = xasprintf("%s" CONTROL_OUTCOME_SUFFIX, id);
        int r = j ? fs_write_json(dirfd, name, j, 0660, (gid_t) -1, 0) : -EINVAL;
        json_decref(j);
        free(name);
        return r;
}

void control_sweep(int dirfd, uint64_t max_age_usec) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        struct dirent *de;
        uint64_t now = now_usec(CLOCK_REALTIME);

        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;
                if (fs_dot_or_dotdot(de->d_name) || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                uint64_t mtime = (uint64_t) st.st_mtim.tv_sec * USEC_PER_SEC + (uint64_t) st.st_mtim.tv_nsec / 1000;
                if (mtime + max_age_usec < now)
                        (void) unlinkat(dirfd, de->d_name, 0);
        }
        closedir(d);
}

bool control_share_parse(const char *name, char **ret_batch, const char **ret_action) {
        const char *dot = strrchr(name, '.');

        if (!dot || dot == name || name[0] == '.')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(share_actions); i++)
                if (strcmp(dot + 1, share_actions[i]) == 0) {
                        *ret_batch = xstrndup(name, (size_t) (dot - name));
                        *ret_action = share_actions[i];
                        return true;
                }
        return false;
}
