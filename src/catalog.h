/* catalog.h: a batch's parts catalog, built from its jobs' facts.json.
 *
 * In the batch's outbox folder:
 *   parts.csv         one row per part number (RFC 4180, header row first)
 *   parts.jsonl       the same rows, one JSON object a line
 *   parts.sqlite      the same rows in table "parts", for KiCad through ODBC
 *   parts.kicad_dbl   the KiCad database library that points at parts.sqlite
 * Columns: part_number, manufacturer, description, package, packages,
 * temperature_min, temperature_max, voltage_min, voltage_max, datasheet (the
 * PDF's path inside the batch folder), revision, date, page, job.
 * A part number named by several jobs keeps the row of the job that has it
 * as its primary part number, else the first job in path order.
 * No mupdf: pdfspoolctl and the daemon use it. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define CATALOG_MAX_DEPTH 16            /* folders below the batch */
#define CATALOG_MAX_JOBS 100000
#define CATALOG_MAX_FACTS_BYTES (1024 * 1024)
#define CATALOG_MAX_DIFF_CHANGES 200    /* table cells reported per part */

/* The rows of the batch at BATCH_FD, read from its jobs' facts.json: a JSON
 * array sorted by part number. Cost: one walk of the batch folder and one read
 * and parse of each facts.json (a few KiB each). Returns 0 or -errno (a folder
 * or a facts.json that cannot be read: never a silently shorter catalog); a
 * facts.json that is not valid JSON is left out. */
int catalog_collect(int batch_fd, json_t **ret_rows);

/* Rebuild the four files above in BATCH_FD, each written atomically (temp
 * file, fsync, rename, then the folder synced), with MODE and GID ((gid_t) -1:
 * leave). Cost per call: catalog_collect() (O(jobs), a small read per job)
 * plus writing the four files, about 1 KiB per part; for the daemon to call as
 * jobs finish, debounced per batch. Returns 0 or -errno. */
int catalog_rebuild(int batch_fd, mode_t mode, gid_t gid);

/* The catalog for a person (a table) or, with JSON, as JSON lines. */
void catalog_print(FILE *out, json_t *rows, bool json);

/* A and B's rows compared by part number (case and spaces ignored):
 * {"added": [rows only in B], "removed": [rows only in A],
 *  "changed": [{"part_number", "facts": {key: {"old", "new"}},
 *               "tables": [{"kind", "row", "column", "old", "new"}]}]}.
 * Table values are compared when the batch folders are given (fds >= 0). */
json_t *catalog_diff(json_t *a, json_t *b, int batch_a_fd, int batch_b_fd);
void catalog_print_diff(FILE *out, json_t *diff, bool json);

/* "ADS 1115" and "ads1115" are the same part: the key parts are matched by. */
void catalog_part_key(const char *part, char *buf, size_t size);
