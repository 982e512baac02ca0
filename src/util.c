/* util.c: allocation that cannot fail, clocks, RFC 3339 times, string tests. */
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

void (*util_out_of_memory_hook)(void);

static void out_of_memory(void) {
        static const char msg[] = "pdfspool: out of memory\n";
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        if (util_out_of_memory_hook)
                util_out_of_memory_hook();
        abort();
}

void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                out_of_memory();
        return p;
}

void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                out_of_memory();
        return p;
}

void *xrealloc(void *p, size_t n) {
        p = realloc(p, n ? n : 1);
        if (!p)
                out_of_memory();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                out_of_memory();
        return p;
}

char *xstrndup(const char *s, size_t n) {
        char *p = strndup(s, n);
        if (!p)
                out_of_memory();
        return p;
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        if (vasprintf(&p, fmt, ap) < 0)
                out_of_memory();
        va_end(ap);
        return p;
}

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

char *format_rfc3339(char *buf, size_t size, uint64_t realtime_usec) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;
        char tmp[32];

        gmtime_r(&t, &tm);
        strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%03uZ", tmp, (unsigned) (realtime_usec % USEC_PER_SEC / 1000));
        return buf;
}

int parse_rfc3339(const char *s, uint64_t *ret) {
        struct tm tm = {};
        const char *p = strptime(s, "%Y-%m-%d", &tm);
        long offset = 0;
        bool local = false;

        if (!p || (*p != 'T' && *p != 't' && *p != ' '))
                return -EINVAL;
        p = strptime(p + 1, "%H:%M", &tm);
        if (!p)
                return -EINVAL;
        if (*p == ':') {
                p = strptime(p + 1, "%S", &tm);
                if (!p)
                        return -EINVAL;
                if (*p == '.' && p[1] >= '0' && p[1] <= '9') /* a fraction of a second: not kept */
                        for (p++; *p >= '0' && *p <= '9'; p++)
                                ;
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && strspn(p + 1, "0123456789") == 2 &&
                 strspn(p + 4, "0123456789") == 2) {
                offset = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
                if (*p == '-')
                        offset = -offset;
                p += 6;
        } else if (*p == 0)
                local = true;
        if (*p != 0)
                return -EINVAL;
        tm.tm_isdst = -1;
        time_t t = local ? mktime(&tm) : timegm(&tm);
        if (t == (time_t) -1 || t - offset < 0)
                return -EINVAL;
        *ret = (uint64_t) (t - offset) * USEC_PER_SEC;
        return 0;
}

bool str_has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool str_has_suffix_nocase(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
bool utf8_is_valid(const char *str, size_t n) {
        const unsigned char *s = (const unsigned char *) str;
        size_t i = 0;

        while (i < n) {
                unsigned c = s[i];
                size_t len;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if ((c & 0xE0) == 0xC0) {
                        len = 2;
                        cp = c & 0x1F;
                } else if ((c & 0xF0) == 0xE0) {
                        len = 3;
                        cp = c & 0x0F;
                } else if ((c & 0xF8) == 0xF0) {
                        len = 4;
                        cp = c & 0x07;
                } else
                        return false;
                if (i + len > n)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return false;
                i += len;
        }
        return true;
}

bool errno_is_transient(int err) {
        switch (err < 0 ? -err : err) {
        case ENOSPC: case EDQUOT: case EMFILE: case ENFILE: case ENOMEM: case EAGAIN: case EINTR: case EIO:
        case EBUSY: case ETIMEDOUT: case ENOBUFS:
                return true;
        default:
                return false;
        }
}

char **strv_copy(char *const *v) {
        size_t n = 0;

        if (!v)
                return NULL;
        while (v[n])
                n++;
        char **c = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                c[i] = xstrdup(v[i]);
        return c;
}

void strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* "4.0 GiB", "1000 bytes" */
char *format_size(char *buf, size_t size, uint64_t bytes) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) bytes;
        size_t i = 0;

        if (bytes < 1024) {
                snprintf(buf, size, "%" PRIu64 " bytes", bytes);
                return buf;
        }
        for (v /= 1024; v >= 1024 && i + 1 < ELEMENTSOF(units); i++)
                v /= 1024;
        snprintf(buf, size, "%.1f %s", v, units[i]);
        return buf;
}

int limit_resource(int resource, uint64_t value) {
        struct rlimit limit;

        if (getrlimit(resource, &limit) < 0)
                return -errno;
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < value)
                value = limit.rlim_max;
        limit.rlim_cur = limit.rlim_max = (rlim_t) value;
        if (setrlimit(resource, &limit) < 0)
                return -errno;
        return 0;
}

pid_t fork_bound(void) {
        pid_t parent = getpid();
        pid_t pid = fork();
        sigset_t none;

        if (pid != 0)
                return pid;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) unsetenv("NOTIFY_SOCKET"); /* only the daemon speaks to the service manager */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(EX_TEMPFAIL);
        return 0;
}
