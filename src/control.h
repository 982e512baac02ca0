/* control.h: requests to the daemon through the spool on disk.
 *
 * A request is a small JSON file in <state_dir>/control/, written atomically by
 * pdfspoolctl as "<id>.request"; the daemon acts on it and writes the outcome
 * beside it as "<id>.outcome"; the client reads the outcome and removes both.
 * The directory is 02770 and, when a group "pdfspool" exists, of that group:
 * who may write it may control the daemon (pdfspoolctl(1): permissions). It
 * works the same on one host or several sharing the state directory, since
 * nothing but files pass.
 *
 * A person on the share without a shell asks the same by dropping an empty
 * "BATCH.cancel", "BATCH.retry", "BATCH.hold" or "BATCH.release" file into the
 * inbox (control_share_parse): never taken as a drop. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_DIR "control"
#define CONTROL_GROUP "pdfspool"
#define CONTROL_REQUEST_SUFFIX ".request"
#define CONTROL_OUTCOME_SUFFIX ".outcome"

/* What an outcome's "code" says, the same as pdfspoolctl's exit status. */
enum {
        CONTROL_OK = 0,
        CONTROL_REFUSED = 1,    /* not found, or refused (a processing batch without --force) */
        CONTROL_NOT_RUNNING = 3,
};

struct control_request {
        char *id;               /* the request's name without its suffix */
        char *action;           /* cancel, retry, hold, release, delete, priority */
        char *batch;
        char *queue;            /* NULL: any queue */
        char **jobs;            /* NULL-less array of job names; n_jobs 0: every job */
        size_t n_jobs;
        bool force;
        int priority;           /* priority: the batch's new priority (-100 .. 100) */
};

void control_request_free(struct control_request *rq);
/* Is ACTION one the daemon knows? */
bool control_action_known(const char *action);

/* <state_dir>/control, malloc'ed. */
char *control_dir_path(const char *state_dir);
/* The daemon: make the control directory if needed, 02770, group "pdfspool"
 * when there is one. Returns 0 or -errno. */
int control_dir_setup(const char *state_dir);

/* The client: write RQ (its id is made here, returned in *RET_ID) into the
 * control directory atomically. */
int control_request_submit(const char *state_dir, struct control_request *rq, char **ret_id);
/* The client: wait up to TIMEOUT_USEC (inotify, no busy polling) for the
 * outcome of ID; calls STILL_RUNNING now and then and gives up with -ESRCH
 * when it says false. Returns 0 with the outcome in *RET, -ETIMEDOUT, or
 * -errno. The request and outcome files are removed in every case. */
int control_outcome_wait(const char *state_dir, const char *id, uint64_t timeout_usec,
                         bool (*still_running)(void *userdata), void *userdata, json_t **ret);

/* The daemon: is NAME a request file? Then its id (malloc'ed) in *RET_ID. */
bool control_is_request(const char *name, char **ret_id);
/* The daemon: read request ID from DIRFD (checked: a regular file, small, sane
 * fields). -EBADMSG for a malformed one; -ENOENT when gone. */
int control_request_read(int dirfd, const char *id, struct control_request **ret);
/* Has request ID an outcome already? 1, 0, or -errno. */
int control_outcome_exists(int dirfd, const char *id);
/* The daemon: record the outcome of ID beside it, atomically. */
int control_outcome_write(int dirfd, const char *id, int code, const char *message);

/* The daemon: remove requests and outcomes older than MAX_AGE_USEC (a client
 * that was killed while it waited never removes its pair). */
void control_sweep(int dirfd, uint64_t max_age_usec);

/* A share-side request "BATCH.ACTION" (cancel, retry, hold, release): true with
 * the batch id (malloc'ed) and the action (static) when NAME is one. */
bool control_share_parse(const char *name, char **ret_batch, const char **ret_action);
