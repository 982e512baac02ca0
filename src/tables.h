/* tables.h: the tables a datasheet is read for, rebuilt from text positions.
 *
 * A table starts at a heading (a line naming one of the kinds below, alone
 * on its line and not inside a sentence) and runs down the page until the
 * next heading-like line or a stretch without rows. Its header row is the
 * first row with three or more cells; columns are the x-ranges of the
 * header's cells widened by the rows under them; rows come from baselines,
 * and a line with only continuation cells (no cell in the first column) is
 * joined into the row above. Cells keep the text as printed.
 * Bounded: TABLES_MAX tables per document, TABLES_MAX_ROWS rows,
 * TABLES_MAX_COLUMNS columns, TABLES_MAX_CELL bytes per cell. */
#pragma once
#include <jansson.h>

#include "layout.h"

#define TABLES_MAX 32
#define TABLES_MAX_ROWS 400
#define TABLES_MAX_COLUMNS 16
#define TABLES_MAX_CELL 512

enum table_kind {
        TABLE_ABSOLUTE_MAXIMUM_RATINGS,
        TABLE_RECOMMENDED_OPERATING_CONDITIONS,
        TABLE_ELECTRICAL_CHARACTERISTICS,
        TABLE_PIN_DESCRIPTIONS,
        TABLE_KIND_COUNT,
};

struct tables;

struct tables *tables_new(void);
void tables_free(struct tables *t);     /* accepts NULL */
void tables_add_page(struct tables *t, const struct layout_page *p);
unsigned tables_count(const struct tables *t);
const char *table_kind_name(enum table_kind kind);     /* "absolute_maximum_ratings" */
/* A heading's kind, or -1: exported for the unit tests. */
int tables_heading_kind(const char *line);

/* Call ROW for every row under every table's header, in order: its kind, page,
 * header cells and the row's cells (N of each, NULL = empty). */
typedef void (*tables_row_fn)(void *user, enum table_kind kind, int page, const char *const *header,
                              const char *const *cells, unsigned n);
void tables_foreach_row(const struct tables *t, tables_row_fn row, void *user);

/* Write tables/NN-<kind>.csv (RFC 4180, header row first) and tables.json into
 * DIRFD, each atomically; tables.json lists them ({"tables": []} when none,
 * and then no tables/ folder). FLAGS: fs_write_atomic's FS_WRITE_STAGED or 0
 * (then tables/ is synced too). Returns 0 or -errno. */
int tables_write(struct tables *t, int dirfd, unsigned flags);

