/* csv.c: RFC 4180 writing (see csv.h). */
#include "csv.h"

#include <stdbool.h>
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

size_t csv_next_record(const char **pp, char ***ret, size_t max) {
        const char *p = *pp;
        char **fields = NULL;
        size_t n = 0;

        *ret = NULL;
        if (*p == 0)
                return 0;
        for (;;) {
                struct csv_buf f = { 0 };
                bool quoted = *p == '"';

                put(&f, "", 0);
                if (quoted)
                        p++;
                for (; *p; p++) {
                        if (quoted && p[0] == '"' && p[1] == '"')
                                p++;            /* a doubled quote: one quote */
                        else if (quoted && *p == '"') {
                                quoted = false;
                                continue;
                        } else if (!quoted && (*p == ',' || *p == '\r' || *p == '\n'))
                                break;
                        put(&f, p, 1);
                }
                if (n < max) {
                        fields = xrealloc(fields, (n + 1) * sizeof(*fields));
                        fields[n++] = f.data;
                } else
                        csv_buf_free(&f);
                if (*p != ',')
                        break;
                p++;
        }
        if (*p == '\r')
                p++;
        if (*p == '\n')
                p++;
        *pp = p;
        *ret = fields;
        return n;
}
