/* csv.c: RFC 4180 writing (see csv.h). */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void put(struct csv_buf *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                b->cap = b->cap ? b->cap : 1024;
                while (b->len + n + 1 > b->cap)
                        b->cap *= 2;
                b->data = xrealloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

void csv_append_record(struct csv_buf *b, const char *const *fields, size_t n) {
        size_t i;

        for (i = 0; i < n; i++) {
                const char *f = fields[i] ? fields[i] : "", *p;

                if (i > 0)
                        put(b, ",", 1);
                if (strpbrk(f, ",\"\r\n") == NULL) {
                        put(b, f, strlen(f));
                        continue;
                }
                put(b, "\"", 1);
                for (p = f; *p; p++) {
                        if (*p == '"')
                                put(b, "\"", 1);       /* a quote is doubled */
                        put(b, p, 1);
                }
                put(b, "\"", 1);
        }
        put(b, "\r\n", 2);
}

void csv_buf_free(struct csv_buf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}
