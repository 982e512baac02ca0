/* log.h: logging to the journal (with structured fields), syslog or stderr. */
#pragma once
#include <stdarg.h>
#include <syslog.h>
#include "config.h"

/* MESSAGE_ID of each lifecycle event; explained in systemd/pdfspool.catalog. */
#define MSGID_BATCH_ACCEPTED  "22ce85da4ebb4911be3a682f425aea74"
#define MSGID_BATCH_FINISHED  "a8f5ae96edf9403789c1c6ef545c66b4"
#define MSGID_JOB_FAILED      "4ef7b95e8f224263a05326b0609bb7f1"
#define MSGID_QUEUE_HOLD      "bddc246c71ec4105a0e794cb2cbd8429"
#define MSGID_CONFIG_RELOADED "12b612e3c38a47ea9bd4a80e16d81165"
#define MSGID_DROP_REJECTED   "6644e8fb0fdd4473805dc6b13b9e0111"

/* Where a message is about; any member may be NULL. */
struct log_ctx {
        const char *queue;
        const char *batch;
        const char *job;
        const char *state;
};

void log_setup(enum log_target target, const char *ident);
/* Say how many messages the rate limit held back, for windows that are over.
 * The daemon calls it once a second. */
void log_flush_suppressed(void);

/* Log one message. err > 0 adds ERRNO= (and is not appended to the text). */
void log_full(int priority, const struct log_ctx *ctx, int err, const char *message_id,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void log_fullv(int priority, const struct log_ctx *ctx, int err, const char *message_id,
               const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#define log_error(...)   log_full(LOG_ERR, NULL, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, 0, NULL, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, NULL, 0, NULL, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, NULL, 0, NULL, __VA_ARGS__)
#define log_debug(...)   log_full(LOG_DEBUG, NULL, 0, NULL, __VA_ARGS__)
