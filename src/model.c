/* model.c: the names of states, the one list of a job's output files, and
 * what a job runs with (its profile, its password), for every executor. */
#include "model.h"
#include "profile.h"
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

/* The password for J: its own path's (or a folder's above it, the nearest),
 * else the batch's; NULL when the manifest gave none. */
const char *job_password(const struct job *j) {
        json_t *processing = j->batch->processing, *passwords = json_object_get(processing, "passwords");
        const char *best = NULL, *key;
        size_t best_len = 0;
        json_t *v;

        json_object_foreach(passwords, key, v) {
                size_t n = strlen(key);
                if (n >= best_len && strncmp(j->source, key, n) == 0 && (j->source[n] == 0 || j->source[n] == '/')) {
                        best = json_string_value(v);
                        best_len = n;
                }
        }
        return best ? best : json_string_value(json_object_get(processing, "password"));
}

/* J's profile: the manifest's choice or the queue's, with the manifest's
 * single options applied. Returns 0, or -EINVAL with *RET_WHY (malloc'd):
 * the profile is gone from the configuration (a reload) or an option no
 * longer applies. */
int job_resolve_profile(const struct config *c, const struct job *j, struct profile **ret, char **ret_why) {
        json_t *processing = j->batch->processing;
        const char *name = json_string_value(json_object_get(processing, "profile"));
        const struct profile *base;
        const char *key, *why = NULL;
        json_t *v;

        if (!name)
                name = j->batch->queue->cfg->profile;
        base = config_find_profile(c, name);
        if (!base) {
                *ret_why = xasprintf("profile \"%s\" is not in the configuration", name);
                return -EINVAL;
        }
        struct profile *pr = xcalloc(1, sizeof(*pr));
        profile_copy(pr, base);
        json_object_foreach(json_object_get(processing, "overrides"), key, v)
                if (!json_is_string(v) || profile_set(pr, key, json_string_value(v), &why) < 0) {
                        *ret_why = xasprintf("the manifest's option \"%s\" %s", key, why ? why : "is unknown");
                        profile_done(pr);
                        free(pr);
                        return -EINVAL;
                }
        if (j->batch->thumbnail_size)
                pr->thumb_size = j->batch->thumbnail_size;
        else if (!pr->thumb_size)
                pr->thumb_size = c->thumbnail_size;
        *ret = pr;
        return 0;
}

/* The outputs a done job of profile PR has for sure (the others depend on the PDF). */
static char **required_outputs(const struct profile *pr) {
        char **v = xcalloc(5, sizeof(char *));
        size_t n = 0;

        if (pr->on[PROFILE_META])
                v[n++] = xstrdup(OUTPUT_META);
        if (pr->on[PROFILE_TEXT])
                v[n++] = xstrdup(OUTPUT_TEXT);
        if (pr->on[PROFILE_STEXT])
                v[n++] = xstrdup(OUTPUT_STEXT);
        if (pr->on[PROFILE_THUMBS] && strcmp(pr->thumb_pages, "1") == 0)
                v[n++] = xstrdup(pr->thumb_format == PROFILE_JPEG ? OUTPUT_THUMB_JPEG : OUTPUT_THUMB);
        return v;
}

/* What the worker's result says of J's text layer; anything else is not believed. */
void job_set_text_layer(struct job *j, json_t *result) {
        const char *layer = json_string_value(json_object_get(result, "text_layer"));

        free(j->text_layer);
        j->text_layer = layer && (strcmp(layer, "none") == 0 || strcmp(layer, "partial") == 0 ||
                                  strcmp(layer, "full") == 0) ? xstrdup(layer) : NULL;
}

/* J runs with PR (owned by J from now on): what an earlier attempt said of its
 * text layer and filters goes, and a done J must have PR's outputs. */
void job_set_profile(struct job *j, struct profile *pr) {
        free(j->text_layer);
        j->text_layer = NULL;
        json_decref(j->filter);
        j->filter = NULL;
        strv_free(j->required_outputs);
        j->required_outputs = required_outputs(pr);
        if (j->profile) {
                profile_done(j->profile);
                free(j->profile);
        }
        j->profile = pr;
}
