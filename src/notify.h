/* notify.h: what the daemon tells its service manager (sd_notify). */
#pragma once
#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);           /* RELOADING=1 with MONOTONIC_USEC */
void notify_stopping(void);
void notify_extend_timeout(uint64_t usec);
/* From inside long work that keeps the loop busy but is making progress (a
 * long recovery at start, a drop of a million files being registered): at most
 * once a second, WATCHDOG=1 and EXTEND_TIMEOUT_USEC (30 s), so that neither the
 * watchdog nor a start-up timeout takes progress for a hang. */
void notify_progress(void);
/* STATUS=...; repeated identical texts are not resent. */
void notify_status(const char *text);
