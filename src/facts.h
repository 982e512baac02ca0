/* facts.h: what a datasheet says about its part, from its positioned text.
 *
 * Fed one layout_page at a time (in page order, each page once) while the
 * worker writes text.txt, it keeps only a bounded digest of the document
 * (page 1 and 2, lines repeated at the top or bottom of pages, candidate
 * tokens with counts), so its memory does not grow with the page count.
 * facts_json() then decides, per the shared format (facts.json): manufacturer,
 * part_number, other_part_numbers, description, revision, date, packages,
 * pin_count, temperature, supply_voltage; each {"value" or "min"/"max"/"unit",
 * "page", "source", "confidence"}; a fact not found is left out. */
#pragma once
#include <jansson.h>

#include "layout.h"

struct facts;

struct facts *facts_new(void);
void facts_free(struct facts *f);       /* accepts NULL */
void facts_add_page(struct facts *f, const struct layout_page *p);
/* A row of a table the worker rebuilt (tables.h): KIND as enum table_kind,
 * its HEADER and CELLS (N each, NULL = empty). Operating temperature and
 * supply voltage rows with Min and Max columns become range candidates,
 * stronger than a range in running text. */
void facts_add_table_row(struct facts *f, int kind, int page, const char *const *header, const char *const *cells,
                         unsigned n);
/* The PDF's document information, a weak signal (any may be NULL). */
void facts_set_metadata(struct facts *f, const char *title, const char *subject, const char *author);
/* A new object, or NULL when out of memory. */
json_t *facts_json(struct facts *f);
