/* extract.h: everything pdfspool does with mupdf. Only the worker links it.
 *
 * One job = one PDF opened once, each page loaded once and its structured text
 * built once (feeding text.txt, facts.json and the tables alike), and these
 * files written into an existing empty directory, each through a temporary
 * name, fsync'ed, then renamed (unless staged: then synced at once, extract_pdf):
 *   meta.json   {"title","author","subject","keywords","creator","producer":
 *                  string or null,
 *                "created","modified": RFC 3339 when the PDF date parses, else
 *                  the raw string, null when absent,
 *                "pdf_version": "1.7", "pages": N,
 *                "page_size": {"width_pt","height_pt"} of page 1 as shown
 *                  (after /Rotate),
 *                "encrypted": bool (also when the empty password opened it),
 *                "outline": [{"title","page": 1-based or null,"children":[...]}]
 *                  ("children" only when not empty),
 *                "text_chars": characters in text.txt,
 *                "damaged_pages": [1-based page numbers whose text is missing]}
 *   text.txt    UTF-8 text, exactly one form feed between pages, none inside;
 *               columns read one after the other (layout.h), a blank line
 *               between blocks; runs of spaces as one; at most
 *               LAYOUT_MAX_CHARS_PER_PAGE bytes of a page's text
 *   thumb.png   page 1, longest side thumbnail_size pixels, RGB on white
 *   facts.json  what the datasheet says about its part (facts.h)
 *   tables.json and tables/NN-<kind>.csv: the tables found (tables.h);
 *               {"tables": []} and no tables/ when there are none
 * facts.json and the tables come last; a failure there that is not the
 * spool's own (disk, quota, memory: the job fails with *ret_write_errno set,
 * to be retried) leaves what could be written and logs one line on stderr.
 * PDFSPOOL_WORKER_NO_FACTS in the environment leaves them out (to measure
 * their cost: bench/facts-cost.sh).
 */
#pragma once
#include <stddef.h>

#include <mupdf/fitz.h>

#include "profile.h"

#define EXTRACT_THUMBNAIL_SIZE_DEFAULT 256u
#define EXTRACT_THUMBNAIL_SIZE_MIN 16u
#define EXTRACT_THUMBNAIL_SIZE_MAX 4096u

/* Limits on the outline copied into meta.json, so a hostile file cannot make it
 * unbounded. Entries past them are left out. */
#define EXTRACT_OUTLINE_MAX_DEPTH 64
#define EXTRACT_OUTLINE_MAX_ENTRIES 10000
/* A document with this many pages that cannot be read fails as damaged. */
#define EXTRACT_MAX_DAMAGED_PAGES 1000

/* The process's one mupdf context: document handlers registered, mupdf's warnings
 * and errors sent to stderr at most a few lines per job. max_store is mupdf's cache
 * size in bytes (0: mupdf's default). Returns NULL if it cannot be made. */
fz_context *extract_context_new(size_t max_store);
void extract_context_free(fz_context *ctx);       /* accepts NULL */

/* Extract the PDF open at PDF_FD, making the outputs OUTPUTS asks for (only its
 * outputs and their options are read; thumb_size must be set) and opening an
 * encrypted PDF with PASSWORD (NULL: none); *ret_text_layer is then "none",
 * "partial" or "full": how many pages show any text. The other outputs of a
 * profile (extract.h's list above is the default one):
 *   stext.json      {"pages": [{"page","width","height","blocks": [{"bbox",
 *                   "lines": [{"bbox","wmode","spans": [{"bbox","font","size",
 *                   "text"}]}]}]}]}, points, bbox = [x0,y0,x1,y1]
 *   thumb.jpg       thumbs.format jpeg
 *   thumbs/NNNN.png thumbs of the listed pages, when thumbs.pages is not "1"
 *   pages/NNNN.png  pages.pages rendered at pages.dpi
 * (a regular file; the caller keeps the descriptor,
 * read from its start) into OUT_DIR (which exists and is empty). PDF_NAME is only
 * shown in mupdf's diagnostics: nothing is opened by that name. STAGED: OUT_DIR
 * is a staging folder that nobody reads before the caller moves its files into
 * place, so each output is written under its own name, with no temporary name,
 * and one syncfs of OUT_DIR's file system at the end makes them all durable;
 * otherwise each output is fsynced and renamed, and OUT_DIR fsynced at the end
 * (on a shared file system whose syncfs on one host need not flush another's).
 *
 * Returns 0 on success and sets *ret_pages to the page count.
 * On failure returns -errno and sets *ret_error to a malloc'ed UTF-8 sentence for
 * the user (the caller frees it), leaving *ret_pages untouched; files written so
 * far are removed again. *ret_write_errno is set to 0, or to the errno (positive)
 * when the failure was writing an output (the spool's resource, not the PDF's fault).
 * The codes:
 *   -EINVAL, -EISDIR       the descriptor is not a regular file ("cannot open file: ...")
 *   -ENOKEY                it needs a password ("encrypted PDF: a password is required")
 *   -EBADMSG               it is empty, mupdf cannot read it, finds no page tree, or
 *                          cannot render page 1 ("damaged PDF: ...")
 *   -ENODATA               a readable PDF with no pages ("the PDF has no pages")
 *   -ENOMEM                out of memory inside mupdf (names the worker's RLIMIT_AS, if any):
 *                          the PDF's fault, *ret_write_errno stays 0
 *   -ENOSPC, -EIO, ...     an output file cannot be opened, written, synced or renamed
 *                          ("cannot write text.txt: ..."), *ret_write_errno set
 *   -EINVAL                a thumbnail size outside the limits
 * A page that fails on its own (other than page 1) does not fail the job: its text
 * is left out (its form feed stays) and meta.json lists it in "damaged_pages"
 * (up to EXTRACT_MAX_DAMAGED_PAGES, where the job fails instead).
 * The mupdf store is emptied before returning, so memory does not grow across jobs. */
int extract_pdf(fz_context *ctx, int pdf_fd, const char *pdf_name, const char *out_dir, bool staged,
                const struct profile *outputs, const char *password, int *ret_pages, const char **ret_text_layer,
                char **ret_error, int *ret_write_errno);
