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
