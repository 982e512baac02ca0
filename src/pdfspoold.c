/* pdfspoold.c: options, the state directory's lock, signals, the loop, and the
 * service manager (sd_notify). The spool's work is sequenced by daemon.c.
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
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "statelock.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/pdfspool/pdfspool.yaml"

struct main_state {
        sd_event *event;
        struct daemon *daemon;
        const char *config_path;
        char *reload_error;     /* why the last reload was refused, shown in STATUS= */
        sd_event_source *status_timer;
        bool stopping;
};

static void update_status(struct main_state *m) {
        char text[1024];

        daemon_status_text(m->daemon, text, sizeof(text));
        if (m->reload_error) {
                size_t n = strlen(text);
                snprintf(text + n, sizeof(text) - n, "; reload refused: %s", m->reload_error);
        }
        notify_status(text);
}

static int on_status_tick(sd_event_source *src, uint64_t usec, void *userdata) {
        update_status(userdata);
        log_flush_suppressed();
        (void) sd_event_source_set_time_relative(src, USEC_PER_SEC);
        return 0;
}

static void on_stopped(void *userdata) {
        struct main_state *m = userdata;
        (void) sd_event_exit(m->event, 0);
}

static int on_terminate(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        struct main_state *m = userdata;
        uint64_t grace = daemon_config(m->daemon)->stop_grace_usec;

        if (m->stopping)
                return 0;
        m->stopping = true;
        log_info("stopping on SIG%s: no new jobs; running jobs get %.0f s to finish", sigabbrev_np((int) si->ssi_signo),
                 (double) grace / USEC_PER_SEC);
        notify_stopping();
        notify_extend_timeout(grace + 10 * USEC_PER_SEC);
        daemon_stop(m->daemon, on_stopped, m);
        update_status(m);
        return 0;
}

static int on_reload(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        struct main_state *m = userdata;
        struct config *nc = NULL;
        char *error = NULL;

        notify_reloading();
        int r = config_load(m->config_path, &nc, &error);
        if (r == 0)
                r = daemon_reload(m->daemon, nc, &error);
        if (r < 0) {
                log_full(LOG_ERR, NULL, 0, MSGID_CONFIG_RELOADED, "reload refused, the old configuration stays in force: %s",
                         error ? error : strerror(-r));
                free(m->reload_error);
                m->reload_error = error ? error : xstrdup(strerror(-r));
        } else {
                const struct config *c = daemon_config(m->daemon);
                free(m->reload_error);
                m->reload_error = NULL;
                log_full(LOG_NOTICE, NULL, 0, MSGID_CONFIG_RELOADED,
                         "configuration reloaded from %s: %zu queue%s, %u workers", m->config_path, c->n_queues,
                         c->n_queues == 1 ? "" : "s", c->workers);
        }
        update_status(m);
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
        struct main_state m = { .config_path = DEFAULT_CONFIG };
        struct config *config = NULL;
        bool check_only = false;
        char *error = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c': m.config_path = optarg; break;
                case 'C': check_only = true; break;
                case 'h': usage(stdout); return 0;
                case 'V': puts(PACKAGE_STRING); return 0;
                default: usage(stderr); return EX_USAGE;
                }
        if (optind < argc) {
                usage(stderr);
                return EX_USAGE;
        }

        r = config_load(m.config_path, &config, &error);
        if (r < 0) {
                fprintf(stderr, "pdfspoold: %s\n", error ? error : strerror(-r));
                free(error);
                return EX_CONFIG;
        }
        if (check_only) {
                printf("%s: configuration OK (%zu queue%s, %u workers)\n", m.config_path, config->n_queues,
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
        /* A daemon killed a moment ago: its helpers die with it (fork_bound), and
         * only then is the lock free. Wait for that, a while; never for a live one. */
        for (unsigned i = 0; lock_fd == -EBUSY && statelock_holder_gone(&holder) && i < 100; i++) {
                if (i == 0)
                        log_info("state_dir %s is still held by what pdfspoold pid %lld left behind; waiting for it "
                                 "to let go", config->state_dir, holder.pid);
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
                lock_fd = statelock_take(config->state_dir, &holder);
        }
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

        r = sd_event_default(&m.event);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGTERM, on_terminate, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGINT, on_terminate, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGHUP, on_reload, &m);
        if (r >= 0)
                r = sd_event_set_watchdog(m.event, true);
        if (r < 0) {
                log_error("cannot set up the event loop: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        char *worker = pool_find_worker();
        r = daemon_new(config, m.event, worker, &m.daemon);
        free(worker);
        if (r < 0)
                return EXIT_FAILURE;
        r = daemon_start(m.daemon);
        if (r < 0)
                return EXIT_FAILURE;

        (void) sd_event_add_time_relative(m.event, &m.status_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                          USEC_PER_SEC / 10, on_status_tick, &m);
        (void) sd_event_source_set_enabled(m.status_timer, SD_EVENT_ON);
        update_status(&m);
        for (size_t i = 0; i < config->n_queues; i++)
                log_full(LOG_INFO, &(struct log_ctx) { .queue = config->queues[i].name }, 0, NULL,
                         "queue ready: inbox %s, outbox %s", config->queues[i].inbox, config->queues[i].outbox);
        notify_ready();
        log_info("pdfspoold %s started: %zu queue%s, %u workers, state in %s", PACKAGE_VERSION, config->n_queues,
                 config->n_queues == 1 ? "" : "s", config->workers, config->state_dir);

        r = sd_event_loop(m.event);

        log_info("stopped");
        sd_event_source_disable_unref(m.status_timer);
        daemon_free(m.daemon);
        free(m.reload_error);
        sd_event_unref(m.event);
        (void) close(lock_fd); /* last: the state directory is left as it should be */
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
