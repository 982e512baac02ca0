/* layout.h: a page's text as positioned pieces, and its reading order.
 *
 * extract.c turns mupdf's structured text into a layout_page (no mupdf type
 * crosses this header, so facts.c, tables.c and their unit tests need no
 * mupdf). A span is a run of characters on one baseline with no gap wider
 * than a column gap; a line is a row of spans as mupdf found it, split where
 * it crosses a column gutter. Coordinates are PDF points, y grows downwards.
 * Everything is bounded: characters, spans and lines past the LAYOUT_MAX_*
 * limits are dropped (and the page marked truncated). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define LAYOUT_MAX_CHARS_PER_PAGE (256 * 1024)  /* bytes of UTF-8 kept per page */
#define LAYOUT_MAX_SPANS_PER_PAGE 40000
#define LAYOUT_MAX_LINES_PER_PAGE 20000

struct layout_span {
        float x0, y0, x1, y1;
        float baseline;
        float size;             /* the largest character size in the span */
        bool bold;
        size_t text, len;       /* into layout_page.buf, UTF-8, no NUL inside */
        unsigned line;          /* index of its line */
};

struct layout_line {
        float x0, y0, x1, y1;
        float baseline;
        float size;
        bool bold;              /* every span bold */
        int block;              /* mupdf's block: a blank line in text.txt between blocks */
        int column;             /* 0 = spans the page, 1.. = column from the left */
        unsigned first_span, n_spans;
};

struct layout_page {
        int number;             /* 1-based */
        float width, height;
        char *buf;
        size_t buf_len, buf_cap;
        struct layout_span *spans;
        unsigned n_spans, cap_spans;
        struct layout_line *lines;
        unsigned n_lines, cap_lines;
        unsigned *order;        /* reading order: indexes into lines, after layout_page_order() */
        bool truncated;
        /* builder state */
        bool in_line, pending_space;
        float last_x1, last_size;
};

void layout_page_init(struct layout_page *p, int number, float width, float height);
void layout_page_done(struct layout_page *p);           /* frees, accepts a zeroed page */

/* Building: begin a line (BLOCK numbers mupdf's blocks), add its characters in
 * order (C a Unicode code point; spaces only mark a word gap), end it. */
void layout_line_begin(struct layout_page *p, int block);
void layout_char_add(struct layout_page *p, int c, float x0, float y0, float x1, float y1,
                     float baseline, float size, bool bold);
void layout_line_end(struct layout_page *p);

/* Find column gutters, split lines that cross one, set each line's column and
 * fill p->order with the reading order: full-width lines where they stand,
 * between them each column top to bottom, left column first. */
void layout_page_order(struct layout_page *p);

/* The text of a span (not NUL-terminated: use len) and of a line (spans joined
 * by one space) into BUF of SIZE bytes, cut at SIZE-1; returns BUF. */
const char *layout_span_text(const struct layout_page *p, const struct layout_span *s);
char *layout_line_text(const struct layout_page *p, const struct layout_line *l, char *buf, size_t size);
