/* tap.h: the few Test Anything Protocol helpers every unit test uses.
 *
 *   plan(n);                      or no plan and done_testing() at the end
 *   ok(cond, "name %d", i);       "ok N - name" / "not ok N - name"
 *   is_int(got, want, "name");    is_str(got, want, "name");  (NULL-safe)
 *   diag("...");  skip("why");  bail_out("why");
 *   return done_testing();        exit status 0 only if every test passed
 *
 * Header only, so a test is one .c file; output goes to stdout as TAP wants. */
#pragma once
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b), unused))

static inline void plan(int n) {
        tap_planned = n;
        printf("1..%d\n", n);
        fflush(stdout);
}

static void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
static void diag(const char *fmt, ...) {
        va_list ap;

        fputs("# ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static bool tap_result_v(bool pass, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static bool tap_result_v(bool pass, const char *fmt, va_list ap) {
        tap_run++;
        if (!pass)
                tap_failed++;
        printf("%sok %d - ", pass ? "" : "not ", tap_run);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        fflush(stdout);
        return pass;
}

static bool ok(bool pass, const char *fmt, ...) TAP_PRINTF(2, 3);
static bool ok(bool pass, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        pass = tap_result_v(pass, fmt, ap);
        va_end(ap);
        return pass;
}

static bool is_int(intmax_t got, intmax_t want, const char *fmt, ...) TAP_PRINTF(3, 4);
static bool is_int(intmax_t got, intmax_t want, const char *fmt, ...) {
        va_list ap;
        bool pass;

        va_start(ap, fmt);
        pass = tap_result_v(got == want, fmt, ap);
        va_end(ap);
        if (!pass)
                diag("     got: %jd\n#   expected: %jd", got, want);
        return pass;
}

static bool is_str(const char *got, const char *want, const char *fmt, ...) TAP_PRINTF(3, 4);
static bool is_str(const char *got, const char *want, const char *fmt, ...) {
        va_list ap;
        bool pass = (!got && !want) || (got && want && strcmp(got, want) == 0);

        va_start(ap, fmt);
        pass = tap_result_v(pass, fmt, ap);
        va_end(ap);
        if (!pass)
                diag("     got: %s%s%s\n#   expected: %s%s%s", got ? "\"" : "", got ? got : "(null)",
                     got ? "\"" : "", want ? "\"" : "", want ? want : "(null)", want ? "\"" : "");
        return pass;
}

static void skip(const char *fmt, ...) TAP_PRINTF(1, 2);
static void skip(const char *fmt, ...) {
        va_list ap;

        tap_run++;
        printf("ok %d # skip ", tap_run);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void bail_out(const char *fmt, ...) TAP_PRINTF(1, 2);
static void bail_out(const char *fmt, ...) {
        va_list ap;

        fputs("Bail out! ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        exit(255);
}

/* Prints the plan if there was none; returns the exit status for main(). */
static inline int done_testing(void) {
        if (tap_planned < 0)
                printf("1..%d\n", tap_run);
        else if (tap_planned != tap_run)
                diag("planned %d tests but ran %d", tap_planned, tap_run);
        if (tap_failed)
                diag("%d of %d tests failed", tap_failed, tap_run);
        fflush(stdout);
        return tap_failed || (tap_planned >= 0 && tap_planned != tap_run) ? 1 : 0;
}
