/* extract.h: everything pdfspool does with mupdf. Only the worker links it.
 *
 * One job = one PDF opened once, and three files written into an existing empty
 * directory, each through a temporary name, fsync'ed, then renamed:
 *   meta.json   document information, page 1 size, outline, damaged pages
 *   text.txt    UTF-8 text, one form feed between pages
 *   thumb.png   page 1, longest side thumbnail_size pixels, RGB on white
 */
#pragma once
#include <stddef.h>

#include <mupdf/fitz.h>

#define EXTRACT_THUMBNAIL_SIZE_DEFAULT 256u
#define EXTRACT_THUMBNAIL_SIZE_MIN 16u
#define EXTRACT_THUMBNAIL_SIZE_MAX 4096u

/* Limits on the outline copied into meta.json, so a hostile file cannot make it
 * unbounded. Entries past them are left out. */
#define EXTRACT_OUTLINE_MAX_DEPTH 64
#define EXTRACT_OUTLINE_MAX_ENTRIES 10000

/* The process's one mupdf context: document handlers registered, mupdf's warnings
 * and errors sent to stderr at most a few lines per job. max_store is mupdf's cache
 * size in bytes (0: mupdf's default). Returns NULL if it cannot be made. */
fz_context *extract_context_new(size_t max_store);
void extract_context_free(fz_context *ctx);       /* accepts NULL */

/* Extract PDF_PATH into OUT_DIR (which exists and is empty).
 *
 * Returns 0 on success and sets *ret_pages to the page count.
 * On failure returns -errno and sets *ret_error to a malloc'ed UTF-8 sentence for
 * the user (the caller frees it), leaving *ret_pages untouched; files written so
 * far are removed again. The codes:
 *   -ENOENT, -EACCES, ...  the PDF cannot be opened ("cannot open file: ...")
 *   -ENOKEY                it needs a password ("encrypted PDF: a password is required")
 *   -EBADMSG               mupdf cannot read it, or cannot render page 1 ("damaged PDF: ...")
 *   -ENODATA               it has no pages
 *   -ENOMEM                out of memory (names the worker's RLIMIT_AS, if any)
 *   -ENOSPC, -EIO, ...     an output file cannot be written
 *   -EINVAL                bad arguments
 * A page that fails on its own (other than page 1) does not fail the job: its text
 * is left out (its form feed stays) and meta.json lists it in "damaged_pages".
 * The mupdf store is emptied before returning, so memory does not grow across jobs. */
int extract_pdf(fz_context *ctx, const char *pdf_path, const char *out_dir,
                unsigned thumbnail_size, int *ret_pages, char **ret_error);
