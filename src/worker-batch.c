/* worker-batch.c: pdfspool-worker --batch CHUNK, the worker as a Slurm job
 * runs it on a compute node. No daemon to talk to: the chunk file, written by
 * the daemon into the shared spool (slurm.h has the format), says which PDFs to
 * read and where their outputs go; one result file per PDF, written
 * atomically next to the chunk, is the answer. The PDFs are opened beneath
 * their claim, without following links, and checked against what
 * registration took (fs_open_taken), as the daemon does for the socket worker.
 *
 * Exit status: 0 when every PDF has its result file (failed PDFs included),
 * 3 when the spool cannot be seen from this node, 1 on any other failure. */
#include "worker-batch.h"
#include "profile.h"
#include "extract.h"
#include "fsutil.h"
#include "names.h"
#include "slurm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_SPOOL_UNSEEN 3

static void say(const char *chunk, const char *format, const char *detail, int err) {
        fprintf(stderr, "pdfspool-worker --batch %s: %s%s%s%s%s\n", chunk, format, detail ? " " : "", detail ? detail : "",
                err ? ": " : "", err ? strerror(err) : "");
}

static double now_seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* One PDF of the chunk, ITEM; its result goes to RESULTS_FD/<index>.json. */
static int run_one(fz_context *ctx, int results_fd, size_t index, json_t *item, unsigned default_size) {
        char *claim = names_from_json_exact(json_object_get(item, "claim"));
        char *source = names_from_json_exact(json_object_get(item, "source"));
        char *out = names_from_json_exact(json_object_get(item, "out"));
        json_t *taken = json_object_get(item, "taken");
        json_int_t size = json_integer_value(json_object_get(item, "thumbnail_size"));
        struct fs_ident ident = {
                .dev = (dev_t) json_integer_value(json_object_get(taken, "dev")),
                .ino = (ino_t) json_integer_value(json_object_get(taken, "ino")),
                .size = (off_t) json_integer_value(json_object_get(taken, "size")),
                .known = json_is_object(taken),
        };
        char *error = NULL, name[32];
        const char *why = NULL, *text_layer = NULL;
        int pages = 0, write_errno = 0, r;
        double start = now_seconds();

        if (!claim || !source || !out || claim[0] != '/' || out[0] != '/') {
                free(claim);
                free(source);
                free(out);
                return -EBADMSG;
        }
        if (size < EXTRACT_THUMBNAIL_SIZE_MIN || size > EXTRACT_THUMBNAIL_SIZE_MAX)
                size = default_size;
        int claim_fd = open(claim, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = claim_fd < 0 ? -errno : fs_open_taken(claim_fd, source, &ident, &why);
        if (fd >= 0) {
                char *shown = xasprintf("%s/%s", claim, source);
                /* The job's profile's outputs, as the socket worker takes them (worker.c);
                 * without "outputs", the default profile's. */
                struct profile profile;
                json_t *outputs = json_object_get(item, "outputs");
                const char *password = json_string_value(json_object_get(item, "password")), *bad = NULL;
                profile_init_default(&profile, NULL);
                profile.thumb_size = (unsigned) size;
                if (outputs && profile_outputs_from_json(outputs, &profile, &bad) < 0) {
                        r = -EBADMSG;
                        error = xasprintf("the chunk's \"outputs\" for this job are malformed: %s", bad);
                } else
                        /* Not staged: the daemon's syncfs on its own host need not reach
                         * what this node wrote to a shared file system. */
                        r = extract_pdf(ctx, fd, shown, out, false, &profile, password, &pages, &text_layer,
                                        &error, &write_errno);
                profile_done(&profile);
                free(shown);
                close(fd);
                (void) malloc_trim(0);
        } else if (why) {
                r = fd;
                error = xstrdup(why);      /* the file's own fault: the job fails */
        } else {
                r = fd;                    /* could not look (the spool, not the PDF) */
                write_errno = -fd;
                error = xasprintf("cannot open the claimed file: %s", strerror(-fd));
        }
        if (claim_fd >= 0)
                close(claim_fd);
        json_t *result = json_pack("{s:b,s:i,s:s?,s:f}", "ok", r >= 0, "pages", r >= 0 ? pages : 0, "error",
                                   r >= 0 ? NULL : error, "seconds", now_seconds() - start);
        if (result && r >= 0 && text_layer)
                json_object_set_new(result, "text_layer", json_string(text_layer));
        if (result && r < 0 && write_errno > 0) {
                json_object_set_new(result, "resource_error", json_string(strerror(write_errno)));
                json_object_set_new(result, "errno", json_integer(write_errno));
        }
        free(error);
        free(claim);
        free(source);
        free(out);
        if (!result)
                return -ENOMEM;
        snprintf(name, sizeof(name), "%zu.json", index);
        r = fs_write_json(results_fd, name, result, 0600, (gid_t) -1, FS_WRITE_SYNC_DIR);
        json_decref(result);
        return r;
}

int worker_batch_run(const char *chunk_path) {
        char *text = NULL;
        json_error_t jerr;
        int r = fs_read_file(AT_FDCWD, chunk_path, 64 << 20, &text, NULL);

        if (r < 0) {
                say(chunk_path, "cannot read the chunk file (does this node mount the spool at the same path?)",
                    NULL, -r);
                return r == -ENOENT || r == -ENOTDIR || r == -EACCES ? EXIT_SPOOL_UNSEEN : EXIT_FAILURE;
        }
        json_t *chunk = json_loads(text, 0, &jerr);
        free(text);
        json_t *jobs = json_object_get(chunk, "jobs");
        if (!json_is_array(jobs) || json_integer_value(json_object_get(chunk, "v")) != SLURM_CHUNK_VERSION) {
                say(chunk_path, "not a chunk file of this version:", jerr.text, 0);
                json_decref(chunk);
                return EXIT_FAILURE;
        }
        /* The same shell as the socket worker's: no core dumps, the memory
         * limit, no new privileges. */
        uint64_t memory = (uint64_t) json_integer_value(json_object_get(chunk, "memory"));
        if (limit_resource(RLIMIT_CORE, 0) < 0 || (memory && !UTIL_ASAN && limit_resource(RLIMIT_AS, memory) < 0) ||
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                say(chunk_path, "cannot set the worker's limits", NULL, errno);
                json_decref(chunk);
                return EXIT_FAILURE;
        }
        char *dir = xstrdup(chunk_path), *slash = strrchr(dir, '/');
        if (slash)
                *slash = 0;
        char *results = xasprintf("%s/%s", slash ? dir : ".", SLURM_RESULTS_DIR);
        free(dir);
        (void) mkdir(results, 0700);
        int results_fd = open(results, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (results_fd < 0) {
                say(chunk_path, "cannot open", results, errno);
                free(results);
                json_decref(chunk);
                return EXIT_SPOOL_UNSEEN;
        }
        free(results);

        unsigned default_size = (unsigned) json_integer_value(json_object_get(chunk, "thumbnail_size"));
        fz_context *ctx = extract_context_new(memory && memory / 4 < FZ_STORE_DEFAULT ? memory / 4 : FZ_STORE_DEFAULT);
        int status = ctx ? 0 : EXIT_FAILURE;
        if (!ctx)
                say(chunk_path, "cannot create the mupdf context: out of memory", NULL, 0);
        for (size_t i = 0; ctx && i < json_array_size(jobs); i++) {
                char name[32];
                snprintf(name, sizeof(name), "%zu.json", i);
                /* Slurm ran this chunk before (a requeue): what has a result is done. */
                if (faccessat(results_fd, name, F_OK, 0) == 0)
                        continue;
                r = run_one(ctx, results_fd, i, json_array_get(jobs, i), default_size ? default_size : 256);
                if (r < 0) {
                        say(chunk_path, "cannot write the result of job", name, -r);
                        status = r == -EBADMSG ? EXIT_FAILURE : EXIT_SPOOL_UNSEEN;
                        break;
                }
        }
        extract_context_free(ctx);
        close(results_fd);
        json_decref(chunk);
        return status;
}
