/* scheduler.h: which job runs next. */
#pragma once
#include "model.h"

/* The next queued job, fair across batches (the batch served longest ago
 * first), or NULL. Does not change the job's state. */
struct job *sched_next(struct spool *s);
