/* vendors.h: semiconductor manufacturers, their aliases and web domains.
 *
 * One name per company, its usual full name ("Microchip Technology", "NXP
 * Semiconductors", "Vishay Intertechnology"); a brand that is now only a
 * product line of its owner maps to the owner (Atmel, Microsemi -> Microchip
 * Technology; Freescale -> NXP Semiconductors; Linear Technology -> Analog
 * Devices; InvenSense -> TDK InvenSense). Maxim Integrated stays itself: its
 * datasheets are still published under that name. Pure data and matching, no
 * mupdf: the worker's facts and the unit tests use it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct vendor {
        const char *name;               /* the normalised name */
        const char *const *aliases;     /* as printed, matched case-insensitively as whole words */
        const char *const *short_aliases; /* "TI", "ST": matched case-sensitively, as whole words */
        const char *const *domains;     /* "ti.com": matched in www.ti.com, e2e.ti.com, ... */
};

size_t vendors_count(void);
const struct vendor *vendor_get(size_t i);

/* The normalised name for S (a name, an alias, a short alias or a web
 * domain or address), NULL when S is no vendor we know. */
const char *vendor_normalize(const char *s);

/* How LINE names vendor I: 0 not at all, 1 by a short alias, 2 by name or
 * alias, 3 by web domain. */
int vendor_match(size_t i, const char *line);
/* vendor_match() for every vendor at once into MATCHES[vendors_count()], the
 * line lowercased once: what the worker calls on each line. Returns how many
 * vendors LINE names. */
unsigned vendors_match_all(const char *line, int *matches);
