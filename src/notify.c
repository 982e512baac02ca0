/* notify.c: sd_notify messages, sent only when there is a service manager to hear them. */
#include "notify.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static char *last_status;

void notify_ready(void) {
        (void) sd_notify(0, "READY=1");
}

void notify_reloading(void) {
        (void) sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
}

void notify_stopping(void) {
        (void) sd_notify(0, "STOPPING=1");
}

void notify_extend_timeout(uint64_t usec) {
        (void) sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64, usec);
}

void notify_progress(void) {
        static uint64_t last;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (now - last >= USEC_PER_SEC) {
                (void) sd_notifyf(0, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=%" PRIu64, 30 * USEC_PER_SEC);
                last = now;
        }
}

void notify_status(const char *text) {
        if (last_status && strcmp(last_status, text) == 0)
                return;
        free(last_status);
        last_status = xstrdup(text);
        (void) sd_notifyf(0, "STATUS=%s", text);
}
