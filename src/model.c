/* model.c: the names of states, and the one list of a job's output files. */
#include "model.h"
#include "util.h"

#include <errno.h>
#include <string.h>

const char *const model_job_outputs[] = { MODEL_JOB_OUTPUTS, NULL };
const char *const model_job_all_outputs[] = { MODEL_JOB_OUTPUTS, MODEL_JOB_OPTIONAL_OUTPUTS, NULL };

static const char *const job_state_names[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = "queued", [JOB_PROCESSING] = "processing", [JOB_DONE] = "done",
        [JOB_FAILED] = "failed", [JOB_CANCELED] = "canceled",
};

const char *job_state_to_string(enum job_state s) {
        return s < _JOB_STATE_MAX ? job_state_names[s] : "unknown";
}

int job_state_from_string(const char *s) {
        for (int i = 0; i < _JOB_STATE_MAX; i++)
                if (s && strcmp(s, job_state_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *batch_state_to_string(enum batch_state s) {
        switch (s) {
        case BATCH_QUEUED: return "queued";
        case BATCH_PROCESSING: return "processing";
        case BATCH_DONE: return "done";
        case BATCH_CANCELED: return "canceled";
        }
        return "unknown";
}

enum batch_state batch_state(const struct batch *b) {
        size_t ended = b->counts[JOB_DONE] + b->counts[JOB_FAILED] + b->counts[JOB_CANCELED];
        if (ended == b->n_jobs)
                return b->canceled || (b->counts[JOB_CANCELED] > 0 && b->counts[JOB_DONE] + b->counts[JOB_FAILED] == 0
                        ) ? BATCH_CANCELED : BATCH_DONE;
        if (b->started)
                return BATCH_PROCESSING;
        return BATCH_QUEUED;
}

bool queue_deferred(const struct queue *q) {
        return q->defer_until && q->defer_until > now_usec(CLOCK_REALTIME);
}
