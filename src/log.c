/* log.c: one way to log, three places to log to.
 *
 * The journal gets structured fields (PDFSPOOL_QUEUE, PDFSPOOL_BATCH,
 * PDFSPOOL_JOB, PDFSPOOL_STATE, ERRNO, MESSAGE_ID) so an admin can find a
 * batch with journalctl PDFSPOOL_BATCH=...; syslog and stderr get the same
 * context as text. A flood of identical messages is summarised. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

static enum log_target log_target = LOG_TARGET_STDERR;
static const int log_max_priority = LOG_INFO; /* debug messages are for developers */

/* Rate limit: at most RATE_BURST messages with the same format string in
 * RATE_INTERVAL; the rest are counted and reported in one summary line, when
 * the next such message comes or at the latest by log_flush_suppressed(). */
#define RATE_INTERVAL (10 * USEC_PER_SEC)
#define RATE_BURST 20
static struct {
        const char *fmt;
        uint64_t start;
        unsigned count;
        unsigned suppressed;
        int priority;
        char queue[65];
} rate[16];

static bool journal_is_stderr(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void log_setup(enum log_target target, const char *ident) {
        if (target == LOG_TARGET_AUTO) {
                if (journal_is_stderr() || access("/run/systemd/journal/socket", W_OK) == 0)
                        target = LOG_TARGET_JOURNAL;
                else if (!isatty(STDERR_FILENO))
                        target = LOG_TARGET_SYSLOG;
                else
                        target = LOG_TARGET_STDERR;
        }
        if (target == LOG_TARGET_SYSLOG)
                openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
        log_target = target;
}

/* Text for stderr/syslog: control characters in names shown as \xNN. */
static void append_escaped(char *buf, size_t size, size_t *pos, const char *s) {
        for (; *s && *pos + 5 < size; s++) {
                unsigned char c = (unsigned char) *s;
                if (c < 0x20 || c == 0x7f)
                        *pos += (size_t) snprintf(buf + *pos, size - *pos, "\\x%02x", c);
                else
                        buf[(*pos)++] = (char) c;
        }
        buf[*pos] = 0;
}

static void context_text(const struct log_ctx *ctx, char *buf, size_t size) {
        size_t pos = 0;

        buf[0] = 0;
        if (!ctx)
                return;
        const char *names[] = { "queue", "batch", "job" };
        const char *values[] = { ctx->queue, ctx->batch, ctx->job };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                if (!values[i] || pos + 16 >= size)
                        continue;
                pos += (size_t) snprintf(buf + pos, size - pos, "%s%s=", pos ? " " : "", names[i]);
                append_escaped(buf, size, &pos, values[i]);
        }
        if (pos > 0 && pos + 3 < size) {
                buf[pos++] = ':';
                buf[pos++] = ' ';
                buf[pos] = 0;
        }
}

static void rate_summary(size_t slot) {
        unsigned suppressed = rate[slot].suppressed;

        rate[slot].suppressed = 0;
        if (suppressed > 0)
                log_full(LOG_NOTICE, rate[slot].queue[0] ? &(struct log_ctx) { .queue = rate[slot].queue } : NULL,
                         0, NULL, "%u similar messages suppressed in the last %llu s", suppressed,
                         (unsigned long long) (RATE_INTERVAL / USEC_PER_SEC));
}

/* The slot counting FMT: its own, else the one whose window started longest ago. */
static size_t rate_slot(const char *fmt) {
        size_t oldest = 0;

        for (size_t i = 0; i < ELEMENTSOF(rate); i++) {
                if (rate[i].fmt == fmt)
                        return i;
                if (rate[i].start < rate[oldest].start)
                        oldest = i;
        }
        rate_summary(oldest); /* whatever it held back is said before the slot is reused */
        rate[oldest].fmt = NULL;
        return oldest;
}

static bool rate_limited(const char *fmt, int priority, const struct log_ctx *ctx) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        size_t slot = rate_slot(fmt);

        if (rate[slot].fmt != fmt || now - rate[slot].start > RATE_INTERVAL) {
                rate_summary(slot);
                rate[slot].fmt = fmt;
                rate[slot].start = now;
                rate[slot].count = 0;
        }
        if (++rate[slot].count <= RATE_BURST)
                return false;
        rate[slot].priority = priority;
        snprintf(rate[slot].queue, sizeof(rate[slot].queue), "%s", ctx && ctx->queue ? ctx->queue : "");
        rate[slot].suppressed++;
        return true;
}

void log_flush_suppressed(void) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < ELEMENTSOF(rate); i++)
                if (rate[i].suppressed > 0 && now - rate[i].start > RATE_INTERVAL) {
                        rate[i].fmt = NULL; /* a new window starts with the next message */
                        rate_summary(i);
                }
}

void log_fullv(int priority, const struct log_ctx *ctx, int err, const char *message_id,
               const char *fmt, va_list ap) {
        char msg[2048];
        int saved_errno = errno;

        if (priority > log_max_priority)
                return;
        /* Only failures flood; lifecycle messages (with an id) always go out, and
         * a job failure keeps its id but is limited. */
        if ((priority <= LOG_WARNING) && rate_limited(fmt, priority, ctx))
                goto finish;

        vsnprintf(msg, sizeof(msg), fmt, ap);

        if (log_target == LOG_TARGET_JOURNAL) {
                struct iovec iov[10];
                char *fields[10];
                int n = 0;

#define FIELD(...) do { fields[n] = xasprintf(__VA_ARGS__); iov[n].iov_base = fields[n]; iov[n].iov_len = strlen(fields[n]); n++; } while (0)
                FIELD("MESSAGE=%s", msg);
                FIELD("PRIORITY=%d", priority);
                if (ctx && ctx->queue)
                        FIELD("PDFSPOOL_QUEUE=%s", ctx->queue);
                if (ctx && ctx->batch)
                        FIELD("PDFSPOOL_BATCH=%s", ctx->batch);
                if (ctx && ctx->job)
                        FIELD("PDFSPOOL_JOB=%s", ctx->job);
                if (ctx && ctx->state)
                        FIELD("PDFSPOOL_STATE=%s", ctx->state);
                if (err > 0)
                        FIELD("ERRNO=%d", err);
                if (message_id)
                        FIELD("MESSAGE_ID=%s", message_id);
                FIELD("SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
#undef FIELD
                (void) sd_journal_sendv(iov, n);
                for (int i = 0; i < n; i++)
                        free(fields[i]);
        } else {
                char context[1024];
                context_text(ctx, context, sizeof(context));
                if (log_target == LOG_TARGET_SYSLOG)
                        syslog(priority, "%s%s", context, msg);
                else {
                        static const char *const levels[] = { "emerg", "alert", "crit", "error",
                                                              "warning", "notice", "info", "debug" };
                        fprintf(stderr, "%s[%d]: %s: %s%s\n", program_invocation_short_name, (int) getpid(),
                                levels[priority & 7], context, msg);
                }
        }
finish:
        errno = saved_errno;
}

void log_full(int priority, const struct log_ctx *ctx, int err, const char *message_id, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_fullv(priority, ctx, err, message_id, fmt, ap);
        va_end(ap);
}
