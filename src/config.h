/* config.h: the daemon's configuration, read from YAML (config.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

enum watch_mode { WATCH_AUTO, WATCH_INOTIFY, WATCH_POLL };
enum log_target { LOG_TARGET_AUTO, LOG_TARGET_JOURNAL, LOG_TARGET_SYSLOG, LOG_TARGET_STDERR };
/* Who runs a queue's jobs: the daemon's own worker processes (pool.c) or a
 * Slurm cluster (slurm.c). INHERIT: a queue that does not say takes the top level's. */
enum executor { EXECUTOR_INHERIT, EXECUTOR_LOCAL, EXECUTOR_SLURM };

/* The "slurm:" block: how jobs of executor: slurm queues are submitted (sbatch). */
struct slurm_config {
        char *partition, *account, *qos; /* NULL = Slurm's default */
        uint64_t time_limit_usec;  /* of one Slurm job (a chunk of PDFs); 0 = the partition's */
        uint64_t mem_per_cpu;      /* bytes, 0 = not given */
        uint64_t mem;              /* bytes per node, 0 = not given */
        unsigned cpus_per_task;    /* default 1 */
        char **sbatch_options;     /* extra sbatch arguments, NULL-terminated; NULL = none */
        unsigned max_jobs;         /* Slurm jobs in flight at most, default 16 */
        unsigned pdfs_per_task;    /* PDFs one Slurm job processes, default 8 */
        uint64_t poll_interval_usec; /* how often squeue is asked, default 2 s */
};

/* A daily window of local time, in minutes after midnight; end < start spans midnight. */
struct hours {
        bool set;
        unsigned start, end;
};

/* What one job of a queue may use in its worker (the "limits" block of a queue);
 * a limit reached fails the job with a reason that names it. */
struct job_limits {
        uint64_t cpu_usec;         /* CPU time (RLIMIT_CPU, whole seconds), 0 = none (default) */
        uint64_t file_size;        /* bytes any one output file may reach (RLIMIT_FSIZE), 0 = none;
                                    * default 1 GiB */
        unsigned open_files;       /* descriptors (RLIMIT_NOFILE), default 64 */
};
#define CONFIG_OPEN_FILES_MIN 8    /* below it a worker cannot even open the PDF and its output folder */

struct queue_config {
        char *name;
        char *inbox;               /* absolute path */
        char *outbox;              /* absolute path */
        uint64_t settle_usec;      /* quiet period before a drop counts as complete (default 2 s;
                                    * 30 s on a network mount unless the queue sets it) */
        bool settle_set;           /* the queue gives settle itself */
        enum watch_mode watch;     /* default auto */
        uint64_t poll_interval_usec; /* default 5 s */
        char *ready_marker;        /* default ".ready" */
        char **ignore;             /* NULL-terminated glob patterns; default list if key absent */
        size_t n_ignore;
        uint64_t manifest_timeout_usec; /* default 1 h */
        uint64_t incomplete_wait_usec;  /* a file that looks cut short (0 bytes, a PDF without
                                         * %%EOF) is waited for this long, default 5 min */
        char *group;               /* outbox group name, NULL = leave as is */
        unsigned file_mode;        /* outbox file mode, default 0644 */
        unsigned dir_mode;         /* outbox dir mode, default 0755 */
        struct hours hours;        /* jobs start only within it; default: always */
        uint64_t max_files;        /* a drop with more files is rejected whole; 0 = no limit */
        uint64_t max_pages;        /* a batch past this many pages done is held; 0 = no limit */
        uint64_t max_bytes;        /* ... more bytes; 0 = no limit */
        unsigned max_batches;      /* unfinished batches at most; more drops wait in the inbox; 0 = no limit */
        uint64_t keep_finished_usec; /* finished batches older are removed; 0 = kept forever (default) */
        bool zip;                  /* write <outbox>/<batch>.zip when a batch finishes, default off */
        char **hook_batch_finished; /* argv (NULL-terminated) run when a batch finishes, NULL = none */
        char **hook_job_failed;    /* argv run when a job fails, NULL = none */
        uint64_t hook_timeout_usec; /* a hook still running after this is killed, default 60 s */
        char *profile;             /* the processing profile of its jobs, default "default" */
        struct job_limits limits;
        enum executor executor;    /* local (default) or slurm; never INHERIT after config_load */
};

struct config {
        char *path;                /* file it was read from */
        char *state_dir;           /* default /var/lib/pdfspool */
        unsigned workers;          /* default: number of CPUs */
        uint64_t job_timeout_usec; /* default 300 s */
        uint64_t worker_memory;    /* bytes, RLIMIT_AS for workers, default 2 GiB */
        unsigned worker_max_jobs;  /* restart a worker after this many jobs, default 500 */
        unsigned thumbnail_size;   /* longest side of thumb.png in pixels, default 256 */
        uint64_t stop_grace_usec;  /* SIGTERM: how long running jobs may finish, default 10 s */
        uint64_t rescan_interval_usec; /* periodic safety rescan, default 5 min */
        uint64_t min_free;         /* bytes: below this on state_dir's or an outbox's file system
                                    * new drops wait in the inbox, default 32 MiB, 0 = no reserve */
        char *metrics_file;        /* Prometheus textfile, absolute path; NULL = none */
        enum log_target log;       /* default auto */
        /* archive limits */
        uint64_t archive_max_entries;  /* default 100000 */
        uint64_t archive_max_bytes;    /* total unpacked, default 4 GiB */
        unsigned archive_max_ratio;    /* unpacked/packed, default 200 */
        enum executor executor;    /* the queues' default: local */
        struct slurm_config slurm;
        struct queue_config *queues;
        size_t n_queues;
        struct profile *profiles;  /* always holds "default" (built in unless the file defines it) */
        size_t n_profiles;
};

/* Settle on a network mount when the queue does not set it: writers there are
 * seen only by their changes, never by an open file. */
#define CONFIG_REMOTE_SETTLE_USEC ((uint64_t) 30 * 1000000)
/* The settle period QC's drops wait for, on a mount where other machines
 * write (REMOTE) or not. */
uint64_t config_queue_settle(const struct queue_config *qc, bool remote);

/* Parse and validate FILE. On error returns -errno or -EINVAL and, when
 * ret_error is not NULL, a malloc'd message "FILE:LINE:COLUMN: what was expected". */
int config_load(const char *path, struct config **ret, char **ret_error);
void config_free(struct config *c);
/* Is the window H open at REALTIME_USEC (always, when not set)? *RET_NEXT is
 * when that changes (realtime usec), 0 when never. */
bool config_hours_open(const struct hours *h, uint64_t realtime_usec, uint64_t *ret_next);
const struct queue_config *config_find_queue(const struct config *c, const char *name);
/* The profile NAME (NULL: "default"), or NULL when the configuration has none of that name. */
const struct profile *config_find_profile(const struct config *c, const char *name);

/* "2s", "500ms", "5m", "1h", "1d", or a bare number of seconds. */
int config_parse_duration(const char *s, uint64_t *ret_usec);
/* "512M", "2G", "1024", "4GiB" */
int config_parse_size(const char *s, uint64_t *ret_bytes);
