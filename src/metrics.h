/* metrics.h: the daemon's numbers for Prometheus, as a node_exporter
 * textfile-collector file, replaced atomically (metrics_file:). */
#pragma once
#include "model.h"

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Count a job that ended (done, failed, canceled): by queue and state, its
 * pages, its processing seconds in the histogram. */
void metrics_job_ended(struct metrics *m, const struct job *j);
/* Write every metric of S (and what M counted) to PATH. Returns 0 or -errno. */
int metrics_write(const struct metrics *m, const struct spool *s, const char *path);
