/* pdfspoold.c: options, start-up order, the loop, reload, and shutdown order.
 *
 * Start-up: config, logging, the state directory's lock, signals, spool directories, recovery of what a
 * previous run left, workers, inbox watches and the startup scan; only then
 * READY=1. Shutdown is the reverse, after running jobs had their grace period. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "config.h"
#include "intake.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "spool.h"
#include "statelock.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/pdfspool/pdfspool.yaml"

struct daemon {
        sd_event *event;
        struct spool *spool;
        struct pool *pool;
        struct config **old_configs;   /* kept: batches of removed queues still point into them */
        size_t n_old_configs;
        char *config_path;
        char *reload_error;
        sd_event_source *status_timer;
        uint64_t last_pages, last_tick;
};

static void update_status(struct daemon *d) {
        struct spool *s = d->spool;
        size_t batches = 0, total = 0, ended = 0, failed = 0;
        char text[1024];
        size_t pos = 0;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        /* pages/s, smoothed over a few seconds */
        if (d->last_tick && now > d->last_tick) {
                double inst = (double) (s->pages_done - d->last_pages) / ((double) (now - d->last_tick) / USEC_PER_SEC);
                s->pages_per_second = 0.6 * s->pages_per_second + 0.4 * inst;
                if (s->pages_per_second < 0.05)
                        s->pages_per_second = 0;
        }
        d->last_tick = now;
        d->last_pages = s->pages_done;

        for (struct queue *q = s->queues; q; q = q->next)
                for (struct batch *b = q->batches; b; b = b->next) {
                        batches++;
                        total += b->n_jobs;
                        ended += b->counts[JOB_DONE] + b->counts[JOB_FAILED] + b->counts[JOB_CANCELED];
                        failed += b->counts[JOB_FAILED];
                }
        if (s->stopping)
                pos += (size_t) snprintf(text + pos, sizeof(text) - pos, "Stopping: %u job%s still running; ",
                                         d->pool ? pool_busy(d->pool) : 0, d->pool && pool_busy(d->pool) == 1 ? "" : "s");
        if (batches > 0)
                pos += (size_t) snprintf(text + pos, sizeof(text) - pos,
                                         "%zu batch%s, %zu/%zu jobs done, %zu failed, %.1f pages/s", batches,
                                         batches == 1 ? "" : "es", ended, total, failed, s->pages_per_second);
        else
                pos += (size_t) snprintf(text + pos, sizeof(text) - pos,
                                         "Idle: %" PRIu64 " jobs done, %" PRIu64 " failed since start", s->jobs_done,
                                         s->jobs_failed);
        for (struct queue *q = s->queues; q && pos < sizeof(text); q = q->next)
                if (q->hold && !q->removed)
                        pos += (size_t) snprintf(text + pos, sizeof(text) - pos, "; queue %s on hold: %s", q->name,
                                                 q->hold_reason);
                else if (spool_queue_deferred(q) && q->defer_reason)
                        pos += (size_t) snprintf(text + pos, sizeof(text) - pos, "; queue %s waits: %s", q->name,
                                                 q->defer_reason);
        if (d->reload_error && pos < sizeof(text))
                pos += (size_t) snprintf(text + pos, sizeof(text) - pos, "; reload refused: %s", d->reload_error);
        notify_status(text);
}

/* A queue's deferral is over: pick up claims that wait, look at the inbox
 * again (a drop whose claim failed), and hand out jobs. */
static void on_queue_retry(struct queue *q, void *userdata) {
        spool_retry_queue(q);
        if (!q->removed)
                intake_rescan(q, NULL);
        pool_kick(q->spool);
}

static int on_status_tick(sd_event_source *src, uint64_t usec, void *userdata) {
        update_status(userdata);
        log_flush_suppressed();
        (void) sd_event_source_set_time_relative(src, USEC_PER_SEC);
        return 0;
}

static void on_pool_stopped(struct pool *p, void *userdata) {
        struct daemon *d = userdata;
        (void) sd_event_exit(d->event, 0);
}

static int on_terminate(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        struct daemon *d = userdata;
        uint64_t grace = d->spool->config->stop_grace_usec;

        if (d->spool->stopping)
                return 0;
        log_info("stopping on SIG%s: no new jobs; running jobs get %.0f s to finish", sigabbrev_np((int) si->ssi_signo),
                 (double) grace / USEC_PER_SEC);
        notify_stopping();
        notify_extend_timeout(grace + 10 * USEC_PER_SEC);
        d->spool->stopping = true;
        for (struct queue *q = d->spool->queues; q; q = q->next)
                intake_stop(q);
        update_status(d);
        pool_stop(d->pool, grace, on_pool_stopped, d);
        return 0;
}

static bool queue_config_equal(const struct queue_config *a, const struct queue_config *b) {
        if (strcmp(a->inbox, b->inbox) || strcmp(a->outbox, b->outbox) || a->watch != b->watch ||
            a->poll_interval_usec != b->poll_interval_usec)
                return false;
        return true;
}

static int on_reload(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        struct daemon *d = userdata;
        struct spool *s = d->spool;
        struct config *nc = NULL;
        char *error = NULL;

        notify_reloading();
        int r = config_load(d->config_path, &nc, &error);
        if (r < 0) {
                log_full(LOG_ERR, NULL, 0, MSGID_CONFIG_RELOADED, "reload refused, the old configuration stays in force: %s",
                         error ? error : strerror(-r));
                free(d->reload_error);
                d->reload_error = error;
                update_status(d);
                notify_ready();
                return 0;
        }
        if (strcmp(nc->state_dir, s->config->state_dir) != 0) {
                /* Batches live in the state directory: moving it under them would strand them. */
                free(d->reload_error);
                d->reload_error = xasprintf("%s: state_dir cannot change on reload (%s -> %s); restart the service",
                                            d->config_path, s->config->state_dir, nc->state_dir);
                log_full(LOG_ERR, NULL, 0, MSGID_CONFIG_RELOADED, "reload refused, the old configuration stays in force: %s",
                         d->reload_error);
                config_free(nc);
                update_status(d);
                notify_ready();
                return 0;
        }
        if (nc->log != s->config->log)
                log_warning("the new log setting takes effect at the next start");
        free(d->reload_error);
        d->reload_error = NULL;

        struct config *old = s->config;
        /* Queues that stay take their new settings. A queue that is gone, or whose
         * outbox moved, is retired: it takes no drops and its running batches
         * finish where they are; a new queue object takes the name and new drops. */
        for (struct queue *q = s->queues; q; q = q->next) {
                if (q->removed)
                        continue;
                const struct queue_config *qc = config_find_queue(nc, q->name);
                if (!qc || strcmp(qc->outbox, q->cfg->outbox) != 0) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL,
                                 "%s: no new drops here; running batches finish",
                                 qc ? "outbox changed" : "queue removed from the configuration");
                        intake_stop(q);
                        q->removed = true;
                        continue;
                }
                bool rewatch = !queue_config_equal(q->cfg, qc);
                if (rewatch)
                        intake_stop(q);
                spool_queue_set_config(q, qc);
                if (rewatch)
                        (void) intake_start(q);
        }
        s->config = nc;
        for (size_t i = 0; i < nc->n_queues; i++) {
                bool have = false;
                for (struct queue *q = s->queues; q; q = q->next)
                        have = have || (!q->removed && strcmp(q->name, nc->queues[i].name) == 0);
                if (have)
                        continue;
                struct queue *q = spool_queue_new(s, &nc->queues[i]);
                if (q) {
                        log_full(LOG_NOTICE, &(struct log_ctx) { .queue = q->name }, 0, NULL, "queue added");
                        (void) intake_start(q);
                }
        }
        d->old_configs = xrealloc(d->old_configs, (d->n_old_configs + 1) * sizeof(struct config *));
        d->old_configs[d->n_old_configs++] = old;
        pool_resize(d->pool, nc->workers);
        log_full(LOG_NOTICE, NULL, 0, MSGID_CONFIG_RELOADED, "configuration reloaded from %s: %zu queue%s, %u workers",
                 d->config_path, nc->n_queues, nc->n_queues == 1 ? "" : "s", nc->workers);
        update_status(d);
        notify_ready();
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: pdfspoold [OPTIONS]\n"
                "Watched-folder spool service for PDF datasheets.\n\n"
                "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
                "      --check-config  validate the configuration and exit\n"
                "  -h, --help          show this help\n"
                "      --version       show the version\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        struct daemon d = { .config_path = (char *) DEFAULT_CONFIG };
        struct config *config = NULL;
        bool check_only = false;
        char *error = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c': d.config_path = optarg; break;
                case 'C': check_only = true; break;
                case 'h': usage(stdout); return 0;
                case 'V': puts(PACKAGE_STRING); return 0;
                default: usage(stderr); return EX_USAGE;
                }
        if (optind < argc) {
                usage(stderr);
                return EX_USAGE;
        }

        r = config_load(d.config_path, &config, &error);
        if (r < 0) {
                fprintf(stderr, "pdfspoold: %s\n", error ? error : strerror(-r));
                free(error);
                return EX_CONFIG;
        }
        if (check_only) {
                printf("%s: configuration OK (%zu queue%s, %u workers)\n", d.config_path, config->n_queues,
                       config->n_queues == 1 ? "" : "s", config->workers);
                config_free(config);
                return 0;
        }
        log_setup(config->log, "pdfspoold");

        /* One daemon per state_dir, before anything in it is touched: a second
         * one would resume the first one's batches and remove its temps. The
         * lock lives as long as this descriptor, which is never closed. */
        struct statelock_holder holder = {};
        int lock_fd = statelock_take(config->state_dir, &holder);
        if (lock_fd == -EBUSY) {
                char who[320] = "another pdfspoold (it has not said which yet)";
                if (holder.known)
                        snprintf(who, sizeof(who), "pdfspoold pid %lld on host %s", holder.pid, holder.host);
                log_error("state_dir %s is in use by %s; only one daemon may use a state_dir", config->state_dir,
                          who);
                config_free(config);
                return EX_TEMPFAIL;
        }
        if (lock_fd < 0) {
                log_error("cannot lock the state directory %s (%s/" STATELOCK_FILE "): %s", config->state_dir,
                          config->state_dir, strerror(-lock_fd));
                config_free(config);
                return EXIT_FAILURE;
        }

        /* A lease break (fs_has_writer) signals SIGIO; a vanished reader, SIGPIPE. */
        signal(SIGIO, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&d.event);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGTERM, on_terminate, &d);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGINT, on_terminate, &d);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGHUP, on_reload, &d);
        if (r >= 0)
                r = sd_event_set_watchdog(d.event, true);
        if (r < 0) {
                log_error("cannot set up the event loop: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        r = spool_new(config, d.event, &d.spool);
        if (r < 0)
                return EXIT_FAILURE;
        d.spool->on_retry = on_queue_retry;
        d.spool->on_retry_userdata = &d;
        for (size_t i = 0; i < config->n_queues; i++)
                if (!spool_queue_new(d.spool, &config->queues[i]))
                        return EXIT_FAILURE;
        (void) spool_recover(d.spool);

        char *worker = pool_find_worker();
        r = pool_new(d.spool, worker, &d.pool);
        free(worker);
        if (r < 0)
                return EXIT_FAILURE;
        for (struct queue *q = d.spool->queues; q; q = q->next)
                (void) intake_start(q);

        (void) sd_event_add_time_relative(d.event, &d.status_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                          USEC_PER_SEC / 10, on_status_tick, &d);
        (void) sd_event_source_set_enabled(d.status_timer, SD_EVENT_ON);
        update_status(&d);
        for (struct queue *q = d.spool->queues; q; q = q->next)
                log_full(LOG_INFO, &(struct log_ctx) { .queue = q->name }, 0, NULL, "queue ready: inbox %s, outbox %s",
                         q->cfg->inbox, q->cfg->outbox);
        notify_ready();
        log_info("pdfspoold %s started: %zu queue%s, %u workers, state in %s", PACKAGE_VERSION, config->n_queues,
                 config->n_queues == 1 ? "" : "s", config->workers, config->state_dir);
        pool_kick(d.spool);

        r = sd_event_loop(d.event);

        spool_flush_status(d.spool);
        log_info("stopped");
        sd_event_source_disable_unref(d.status_timer);
        pool_free(d.pool);
        config = d.spool->config;
        spool_free(d.spool);
        config_free(config);
        for (size_t i = 0; i < d.n_old_configs; i++)
                config_free(d.old_configs[i]);
        free(d.old_configs);
        free(d.reload_error);
        sd_event_unref(d.event);
        (void) close(lock_fd); /* last: the state directory is left as it should be */
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
