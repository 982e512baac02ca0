/* wording.h: recognisers of datasheet wording in one line of text (see wording.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define WORDING_WORD_MAX 40     /* bytes of a word kept, with its NUL */

/* Typographic dashes, minus signs, degree signs and odd spaces made ASCII
 * ("−40 °C – +85 °C" -> "-40 C - +85 C") into OUT of SIZE bytes. */
void wording_normalize(const char *in, char *out, size_t size);
/* LINE's words, split at spaces and the punctuation around part numbers, at
 * most MAX; a trailing full stop, dash or slash dropped. */
unsigned wording_words(const char *line, char words[][WORDING_WORD_MAX], unsigned max);
/* "AP63356/AP63357" as two words when every piece is part-shaped; returns the new count. */
unsigned wording_split_slashed(char words[][WORDING_WORD_MAX], unsigned n, unsigned max);
/* Does S look like a part number: letters and digits, two capitals and a
 * digit at least, not a value with a unit, an interface, a pin or a package. */
bool wording_part_shaped(const char *s);
/* The package family S starts with ("QFN", "SOT-23"), its length in *RET_LEN; NULL if none. */
const char *wording_package_family_at(const char *s, size_t *ret_len);
/* S is a package name ("QFN32", "SOT-23-5"), not a part. */
bool wording_is_package(const char *s);
/* The first "A [U] to B U" (also "~", "-", "...") in LINE with unit U, A < B;
 * *RET_AT where it starts. */
bool wording_range(const char *line, char unit, double *ret_min, double *ret_max, const char **ret_at);
/* The month (1-12) a word names ("Mar", "March", "Sept."), 0 if none. */
int wording_month(const char *w);
/* "26-Apr-2018", "11-May-15": the month, the year in *RET; 0 if not such a date. */
int wording_month_dashed(const char *w, int *ret);
/* W is a year 1985..2039. */
bool wording_year(const char *w, int *ret);
