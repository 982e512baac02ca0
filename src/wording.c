/* wording.c: the words and numbers of datasheets, recognised in one line of
 * text: part-number shapes, package names, ranges with a unit, dates. Pure
 * string functions, no state: facts.c decides what they mean in context. */
#include "wording.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Typographic dashes, minus signs, degree signs and odd spaces as ASCII, so the
 * number scanners see "-40 C ~ +85 C". Byte offsets change; sources are
 * quoted from the original line. */
void wording_normalize(const char *in, char *out, size_t size) {
        size_t n = 0;
        const unsigned char *p = (const unsigned char *) in;

        while (*p && n + 2 < size) {
                if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] >= 0x90 && p[2] <= 0x95)) {
                        out[n++] = '-';         /* hyphens and dashes */
                        p += 3;
                } else if (p[0] == 0xE2 && p[1] == 0x88 && p[2] == 0x92) {
                        out[n++] = '-';         /* minus sign */
                        p += 3;
                } else if (p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0x83) {
                        out[n++] = 'C';         /* degree Celsius */
                        p += 3;
                } else if (p[0] == 0xC2 && p[1] == 0xB0) {
                        p += 2;                 /* degree sign: "°C" -> "C" */
                } else if (p[0] == 0xC2 && p[1] == 0xBA) {
                        p += 2;                 /* masculine ordinal, used as a degree sign */
                } else if (p[0] == 0xC2 && p[1] == 0xA0) {
                        out[n++] = ' ';
                        p += 2;
                } else if (p[0] == 0xEF && p[1] == 0xBD && p[2] == 0x9E) {
                        out[n++] = '~';         /* fullwidth tilde */
                        p += 3;
                } else if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0xA6) {
                        out[n++] = '~';         /* ellipsis as a range */
                        p += 3;
                } else
                        out[n++] = (char) *p++;
        }
        out[n] = 0;
}


static const char *const package_families[] = {
        /* longest first where one is the start of another */
        "SOT-23", "SOT23", "SOT-223", "SOT-89", "SOT-323", "SOT-363", "SOT-563", "SC-70", "SC70", "SOD-123",
        "SOD-323", "TO-92", "TO-220", "TO-252", "TO-263", "TO-247", "D2PAK", "DPAK",
        "HVQFN", "VQFN", "WQFN", "UQFN", "XQFN", "TQFN", "QFN", "X2QFN", "UDFN", "WDFN", "TDFN", "DFN",
        "X2SON", "WSON", "VSON", "USON", "SON", "VSSOP", "TSSOP", "HTSSOP", "MSOP", "QSOP", "SSOP", "SOIC",
        "SOP", "PDIP", "SDIP", "DIP", "LQFP", "TQFP", "PQFP", "QFP", "PLCC", "LGA", "UFBGA", "TFBGA",
        "FBGA", "BGA", "WLCSP", "CSP", "MLF", "UFQFPN", "LCC",
};

const char *wording_package_family_at(const char *s, size_t *ret_len) {
        const char *best = NULL;
        size_t i, best_len = 0;

        for (i = 0; i < ELEMENTSOF(package_families); i++) {
                size_t n = strlen(package_families[i]);

                if (n > best_len && strncmp(s, package_families[i], n) == 0) {
                        best = package_families[i];
                        best_len = n;
                }
        }
        *ret_len = best_len;
        return best;
}

bool wording_is_package(const char *s) {
        size_t n;
        const char *fam = wording_package_family_at(s, &n);

        if (!fam)
                return false;
        s += n;
        if (*s == '-' || *s == ' ')
                s++;
        while (isdigit((unsigned char) *s))
                s++;
        return *s == 0 || *s == '-';
}

/* Does S look like a part number: letters and digits, at least two capitals
 * and a digit, not a value with a unit, not an interface or pin name. */
bool wording_part_shaped(const char *s) {
        static const char *const stop[] = {
                "I2C", "I2S", "I3C", "USB2", "USB3", "RS232", "RS485", "RS-232", "RS-485", "IEEE", "ISO", "JESD",
                "JEDEC", "AEC-Q", "UART", "GPIO", "ADC", "DAC", "SPI", "PWM", "LED", "MCU", "CPU", "RAM",
                "ROM", "SRAM", "DDR", "EEPROM", "IEC", "EN6", "UL1", "CE", "FCC", "REV", "VER", "HTTP",
                "SD", "QSPI", "SDIO", "MII", "RMII", "RGMII", "LDO", "DC-DC", "BLE", "LORA", "TIMER", "IO",
                "LQI", "RSSI", "CRC", "AES", "SHA", "RSA", "ECC", "PLL", "RTC", "JTAG", "SWD", "DMA",
                "CAN", "LIN", "FIFO", "OTP", "AT+", "TX", "RX", "PA", "PB", "PC", "PD", "PE", "PF", "IRQ",
                "INT", "VDD", "VCC", "GND", "VSS", "AN", "TN", "FIG", "TABLE", "SECTION",
                "PAGE", "MODE", "REG", "BIT", "BYTE", "WORD", "ADDR", "DATA", "ID", "SN", "STEP", "CASE",
                "TYPE", "Q", "X", "R", "C", "L", "U", "D",
        };
        size_t n = strlen(s), i;
        unsigned upper = 0, lower = 0, digits = 0, other = 0;
        char prefix[16];

        if (n < 4 || n > 30)
                return false;
        if (!isalpha((unsigned char) s[0]))
                return false;
        for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (isupper(c))
                        upper++;
                else if (islower(c))
                        lower++;
                else if (isdigit(c))
                        digits++;
                else if (c == '-' || c == '+' || c == '/' || c == '#' || c == '_')
                        other++;
                else
                        return false;
        }
        if (upper < 2 || digits == 0 || lower > upper + 1 || other > 3)
                return false;
        if (strncasecmp(s, "0x", 2) == 0 || s[n - 1] == '-' || s[n - 1] == '/')
                return false;
        /* "MFRC52201HN1/TRAYB" is an ordering code, "UART/RS232" a list of words */
        if (strchr(s, '/')) {
                char first[32];

                (void) snprintf(first, sizeof(first), "%.*s", (int) strcspn(s, "/"), s);
                if (!wording_part_shaped(first))
                        return false;
        }
        /* The letters before the first digit: a stop word there is an
         * interface, a pin, a register or a figure, not a part. */
        for (i = 0; i < n && i + 1 < sizeof(prefix) && !isdigit((unsigned char) s[i]); i++)
                prefix[i] = (char) toupper((unsigned char) s[i]);
        prefix[i] = 0;
        if (i < n && isdigit((unsigned char) s[i])) {
                size_t k;

                for (k = 0; k < ELEMENTSOF(stop); k++)
                        if (strcmp(prefix, stop[k]) == 0)
                                return false;
        }
        /* Letters then a short number only ("PA10", "CH1", "ADC12"): a name in a
         * pin table, not a part. */
        if (digits <= 2 && upper + lower <= 2 && other == 0 && n <= 5 && isdigit((unsigned char) s[n - 1]))
                return false;
        return !wording_is_package(s);
}

/* Split LINE into words at spaces and the punctuation around part numbers. */
unsigned wording_words(const char *line, char words[][WORDING_WORD_MAX], unsigned max) {
        unsigned n = 0;
        const char *p = line;

        while (*p && n < max) {
                size_t k = 0;

                while (*p && strchr(" \t,;:()[]{}|\"'*", *p))
                        p++;
                while (*p && !strchr(" \t,;:()[]{}|\"'*", *p)) {
                        if (k + 1 < WORDING_WORD_MAX)
                                words[n][k++] = *p;
                        p++;
                }
                /* a sentence's full stop or a footnote mark is not part of it */
                while (k > 0 && (words[n][k - 1] == '.' || words[n][k - 1] == '-' || words[n][k - 1] == '/'))
                        k--;
                words[n][k] = 0;
                if (k > 0)
                        n++;
        }
        return n;
}

/* "AP63356/AP63357" names two parts: split a word at slashes when every
 * piece looks like a part number ("MFRC52201HN1/TRAYB" stays whole). */
unsigned wording_split_slashed(char words[][WORDING_WORD_MAX], unsigned n, unsigned max) {
        unsigned i;

        for (i = 0; i < n; i++) {
                char copy[WORDING_WORD_MAX], *piece, *save = NULL;
                unsigned pieces = 0, k;
                bool all = true;

                if (!strchr(words[i], '/'))
                        continue;
                (void) snprintf(copy, sizeof(copy), "%s", words[i]);
                for (piece = strtok_r(copy, "/", &save); piece; piece = strtok_r(NULL, "/", &save), pieces++)
                        all = all && wording_part_shaped(piece);
                if (!all || pieces < 2 || n + pieces - 1 > max)
                        continue;
                (void) snprintf(copy, sizeof(copy), "%s", words[i]);
                k = i;
                for (piece = strtok_r(copy, "/", &save); piece; piece = strtok_r(NULL, "/", &save)) {
                        if (k != i)
                                memmove(words + k + 1, words + k, (n - k) * sizeof(words[0])), n++;
                        (void) snprintf(words[k], sizeof(words[k]), "%s", piece);
                        k++;
                }
                i = k - 1;
        }
        return n;
}

static bool scan_number(const char **pp, double *ret) {
        const char *p = *pp;
        char *end;
        double v;

        if (*p == '+' || *p == '-' || *p == '.' || isdigit((unsigned char) *p)) {
                if ((*p == '+' || *p == '-') && !(isdigit((unsigned char) p[1]) || (p[1] == ' ' && isdigit((unsigned char) p[2]))))
                        return false;
                if ((*p == '+' || *p == '-') && p[1] == ' ') {
                        /* "- 40": a sign set apart */
                        char tmp[32];

                        (void) snprintf(tmp, sizeof(tmp), "%c%s", *p, p + 2);
                        v = strtod(tmp, &end);
                        if (end == tmp)
                                return false;
                        *pp = p + 2 + (end - tmp - 1);
                } else {
                        v = strtod(p, &end);
                        if (end == p)
                                return false;
                        *pp = end;
                }
                if (!isfinite(v))
                        return false;
                *ret = v;
                return true;
        }
        return false;
}

static const char *skip_spaces(const char *p) {
        while (*p == ' ')
                p++;
        return p;
}

/* UNIT after P (spaces allowed before it), not followed by a letter. */
static bool unit_at(const char **pp, char unit) {
        const char *p = skip_spaces(*pp);

        if (*p != unit || isalpha((unsigned char) p[1]))
                return false;
        *pp = p + 1;
        return true;
}

static bool separator_at(const char **pp) {
        const char *p = skip_spaces(*pp);

        if (strncasecmp(p, "to ", 3) == 0)
                p += 3;
        else if (*p == '~' || *p == '-')
                p++;
        else if (strncmp(p, "...", 3) == 0)
                p += 3;
        else
                return false;
        *pp = skip_spaces(p);
        return true;
}

/* The first "A [U] to B U" in LINE with unit U. */
bool wording_range(const char *line, char unit, double *ret_min, double *ret_max, const char **ret_at) {
        const char *p;

        for (p = line; *p; p++) {
                const char *q = p;
                double a, b;

                if (p > line && (isalnum((unsigned char) p[-1]) || p[-1] == '.'))
                        continue;
                if (!scan_number(&q, &a))
                        continue;
                (void) unit_at(&q, unit);
                if (!separator_at(&q))
                        continue;
                if (!scan_number(&q, &b))
                        continue;
                if (!unit_at(&q, unit))
                        continue;
                if (a >= b)
                        continue;
                *ret_min = a;
                *ret_max = b;
                *ret_at = p;
                return true;
        }
        return false;
}

int wording_month(const char *w) {
        static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
        size_t n = strlen(w), i;

        if (n < 3)
                return 0;
        for (i = 0; i < 12; i++)
                if (strncasecmp(w, months[i], 3) == 0) {
                        static const char *const full[] = { "january", "february", "march", "april", "may", "june", "july",
                                                            "august", "september", "october", "november", "december" };
                        /* "Mar." or "March", not "Marking" */
                        if (n == 3 || (n == 4 && w[3] == '.') || strcasecmp(w, full[i]) == 0 ||
                            (i == 8 && strcasecmp(w, "sept") == 0))
                                return (int) i + 1;
                }
        return 0;
}

/* "26-Apr-2018" or "11-May-15": the month, and the year in *RET; 0 if not. */
int wording_month_dashed(const char *w, int *ret) {
        char day[8], month[16], year[8];
        int m, y;

        if (sscanf(w, "%7[0-9]-%15[A-Za-z.]-%7[0-9]", day, month, year) != 3 || (m = wording_month(month)) == 0)
                return 0;
        y = atoi(year);
        if (strlen(year) == 2)
                y += y < 85 ? 2000 : 1900;
        if ((strlen(year) != 2 && strlen(year) != 4) || y < 1985 || y > 2039)
                return 0;
        *ret = y;
        return m;
}

bool wording_year(const char *w, int *ret) {
        int y;

        if (strlen(w) != 4 || strspn(w, "0123456789") != 4)
                return false;
        y = atoi(w);
        if (y < 1985 || y > 2039)
                return false;
        *ret = y;
        return true;
}
