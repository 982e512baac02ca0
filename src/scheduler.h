/* scheduler.h: which job runs next. */
#pragma once
#include "spool.h"

/* The next queued job, fair across batches (the batch served longest ago
 * first), or NULL. Does not change the job's state. */
struct job *sched_next(struct spool *s);
