/* csv.h: RFC 4180 records into a growing buffer (tables, the parts catalog). */
#pragma once
#include <stddef.h>

struct csv_buf {
        char *data;
        size_t len, cap;
};

/* FIELDS (N of them, NULL = empty) as one CRLF-terminated record: a field with
 * a comma, quote, CR or LF is quoted, its quotes doubled. */
void csv_append_record(struct csv_buf *b, const char *const *fields, size_t n);
void csv_buf_free(struct csv_buf *b);

/* Read the record at *PP (RFC 4180: quoted fields may hold commas, doubled
 * quotes and line breaks), advance *PP past it and its CRLF or LF. Returns the
 * number of fields, malloc'ed in *RET (free each and the array), or 0 at the
 * end of the text. At most MAX fields are kept; the rest are skipped. */
size_t csv_next_record(const char **pp, char ***ret, size_t max);
