/* extract.c: the one room that talks to mupdf. It turns one PDF into meta.json,
 * text.txt and thumb.png (see extract.h), opening the file once and loading each
 * page once, and turns mupdf's failures into sentences a user can act on.
 *
 * Error handling follows mupdf's own model: everything that touches mupdf runs
 * under fz_try, and our own failures (a write error, a JSON allocation) are
 * thrown as mupdf exceptions too. Inner catches only decide what may be skipped
 * (a damaged page, a broken outline); everything else reaches read_pdf(), and
 * job_error() decides what the user is told from what the job had recorded
 * before the throw (its stage, which file failed, mupdf's first error). */
#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facts.h"
#include "fsutil.h"
#include "layout.h"
#include "tables.h"
#include "util.h"

/* mupdf warns a great deal about broken files; a job gets this many stderr lines. */
#define DIAG_MAX_LINES_PER_JOB 5
#define DIAG_MAX_MESSAGE 300

/* No metadata string is worth more than this in meta.json. */
#define METADATA_MAX_BYTES (64 * 1024)
/* mupdf's messages can quote bytes of the file; the user gets at most this much. */
#define ERROR_MAX_BYTES 400

#define OUTPUT_BUFFER_SIZE (64 * 1024)
/* A page render larger than this is made smaller: a DPI that suits a letter page
 * must not let a poster-sized page take the worker's memory. */
#define RENDER_MAX_PIXELS (40 * 1000 * 1000)
#define JPEG_QUALITY 85
/* stext.json: at most this many characters of a page (like text.txt's bound). */
#define STEXT_MAX_CHARS_PER_PAGE LAYOUT_MAX_CHARS_PER_PAGE
/* The outputs' names (model.h holds the daemon's list of them). */
#define OUTPUT_DIR_PAGES "pages"
#define OUTPUT_DIR_THUMBS "thumbs"

/* Text that lies wholly outside the page cannot be seen, so it is not the page's text. */
static const fz_stext_options stext_options = { .flags = FZ_STEXT_MEDIABOX_CLIP };

/* ---- mupdf's warnings and errors on stderr, a few lines per job ---- */

struct diag {
        const char *pdf_path;           /* the job's PDF, NULL between jobs */
        unsigned shown;
        unsigned suppressed;
        /* The job's first error. When mupdf cannot open a file it first reports
         * the cause ("cannot find startxref"), then tries to repair the file and
         * throws whatever stopped the repair ("invalid key in dict"): the cause
         * is what a user can understand. */
        char first_error[ERROR_MAX_BYTES + 1];
        /* Some of mupdf's code turns a failed allocation into a plain error
         * ("cannot load object"); our allocator notices it all the same. */
        bool allocation_failed;
};

static void diag_print(struct diag *diag, const char *kind, const char *message) {
        char line[DIAG_MAX_MESSAGE + 1];
        size_t i;

        if (diag->shown >= DIAG_MAX_LINES_PER_JOB) {
                diag->suppressed++;
                return;
        }
        diag->shown++;

        /* Messages can quote the file; keep the log one line per message. */
        for (i = 0; message[i] && i < DIAG_MAX_MESSAGE; i++)
                line[i] = (unsigned char) message[i] < 0x20 ? ' ' : message[i];
        line[i] = 0;
        fprintf(stderr, "pdfspool-worker: %s: mupdf %s: %s\n",
                diag->pdf_path ? diag->pdf_path : "-", kind, line);
}

static void diag_warning(void *user, const char *message) {
        diag_print(user, "warning", message);
}

static void diag_error(void *user, const char *message) {
        struct diag *diag = user;

        if (diag->first_error[0] == 0)
                (void) snprintf(diag->first_error, sizeof(diag->first_error), "%s", message);
        diag_print(diag, "error", message);
}

/* The diag of a context made by extract_context_new(), NULL for any other context. */
static struct diag *diag_get(fz_context *ctx) {
        void *user = NULL;

        if (fz_warning_callback(ctx, &user) != diag_warning)
                return NULL;
        return user;
}

static void diag_begin(fz_context *ctx, const char *pdf_path) {
        struct diag *diag = diag_get(ctx);

        if (!diag)
                return;
        diag->pdf_path = pdf_path;
        diag->shown = diag->suppressed = 0;
        diag->first_error[0] = 0;
        diag->allocation_failed = false;
}

static void diag_end(fz_context *ctx) {
        struct diag *diag = diag_get(ctx);

        /* mupdf holds back a repeated warning to count it: let it out now, so
         * it is told under this job's name and not the next one's. */
        fz_flush_warnings(ctx);
        if (!diag)
                return;
        if (diag->suppressed > 0)
                fprintf(stderr, "pdfspool-worker: %s: %u more mupdf messages not shown\n",
                        diag->pdf_path, diag->suppressed);
        diag->pdf_path = NULL;
        diag->shown = diag->suppressed = 0;
        diag->first_error[0] = 0;
}

static void *alloc_malloc(void *user, size_t size) {
        void *p = malloc(size);

        if (!p && size > 0)
                ((struct diag *) user)->allocation_failed = true;
        return p;
}

static void *alloc_realloc(void *user, void *old, size_t size) {
        void *p = realloc(old, size);

        if (!p && size > 0)
                ((struct diag *) user)->allocation_failed = true;
        return p;
}

static void alloc_free(void *user, void *p) {
        free(p);
}

fz_context *extract_context_new(size_t max_store) {
        fz_alloc_context alloc = { .malloc = alloc_malloc, .realloc = alloc_realloc, .free = alloc_free };
        struct diag *diag;
        fz_context *ctx;

        diag = calloc(1, sizeof(*diag));
        if (!diag)
                return NULL;

        alloc.user = diag;
        ctx = fz_new_context(&alloc, NULL, max_store > 0 ? max_store : FZ_STORE_DEFAULT);
        if (!ctx) {
                free(diag);
                return NULL;
        }
        fz_set_warning_callback(ctx, diag_warning, diag);
        fz_set_error_callback(ctx, diag_error, diag);

        fz_try(ctx) {
                fz_register_document_handlers(ctx);
                /* Colour management costs time on every image and buys nothing
                 * that shows in a thumbnail. */
                fz_disable_icc(ctx);
        }
        fz_catch(ctx) {
                fz_drop_context(ctx);
                free(diag);
                return NULL;
        }
        return ctx;
}

void extract_context_free(fz_context *ctx) {
        struct diag *diag;

        if (!ctx)
                return;
        diag = diag_get(ctx);
        fz_drop_context(ctx);       /* may still report through diag */
        free(diag);
}

/* ---- UTF-8 and JSON helpers ---- */

/* Length of the valid UTF-8 sequence at S (at most LEN bytes), 0 if none. */
static size_t utf8_sequence_length(const unsigned char *s, size_t len) {
        uint32_t cp, min;
        size_t n, i;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                n = 2, cp = s[0] & 0x1F, min = 0x80;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF)
                n = 3, cp = s[0] & 0x0F, min = 0x800;
        else if (s[0] >= 0xF0 && s[0] <= 0xF4)
                n = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (n > len)
                return 0;
        for (i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

/* A malloc'ed copy of at most MAX bytes of S (cut at a character boundary), each
 * byte that does not begin valid UTF-8 replaced by U+FFFD. NULL when out of memory. */
static char *utf8_sanitize(const char *s, size_t max, size_t *ret_len) {
        const unsigned char *in = (const unsigned char *) s;
        size_t len = strnlen(s, max), i = 0;
        char *out, *p;

        while (len > 0 && s[len] != 0 && (in[len] & 0xC0) == 0x80)
                len--;

        out = malloc(3 * len + 1);
        if (!out)
                return NULL;
        p = out;
        while (i < len) {
                size_t n = utf8_sequence_length(in + i, len - i);

                if (n == 0) {
                        memcpy(p, "\xEF\xBF\xBD", 3);
                        p += 3;
                        i++;
                        continue;
                }
                memcpy(p, in + i, n);
                p += n;
                i += n;
        }
        *p = 0;
        if (ret_len)
                *ret_len = (size_t) (p - out);
        return out;
}

static json_t *json_string_sanitized(const char *s) {
        json_t *json;
        size_t len;
        char *clean;

        clean = utf8_sanitize(s, METADATA_MAX_BYTES, &len);
        if (!clean)
                return NULL;
        json = json_stringn_nocheck(clean, len);
        free(clean);
        return json;
}

static FZ_NORETURN void throw_oom(fz_context *ctx) {
        fz_throw(ctx, FZ_ERROR_MEMORY, "out of memory building meta.json");
}

/* Add VALUE (stolen, may be NULL after a failed allocation) to OBJECT under KEY. */
static void json_set(fz_context *ctx, json_t *object, const char *key, json_t *value) {
        if (!value || json_object_set_new(object, key, value) < 0)
                throw_oom(ctx);
}

/* ---- PDF dates ---- */

static bool parse_digits(const char **p, int count, int *ret) {
        int value = 0, i;

        for (i = 0; i < count; i++) {
                if ((*p)[i] < '0' || (*p)[i] > '9')
                        return false;
                value = value * 10 + ((*p)[i] - '0');
        }
        *p += count;
        *ret = value;
        return true;
}

static int days_in_month(int year, int month) {
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return month == 2 && leap ? 29 : days[month - 1];
}

/* "D:YYYYMMDDHHmmSSOHH'mm'" (PDF 32000-1 7.9.4; everything after the year may be
 * absent, the apostrophes often are) as RFC 3339 into BUF. False if S is not such
 * a date. Without an offset the time is taken as UTC, as pdf.js does. */
static bool pdf_date_to_rfc3339(const char *s, char *buf, size_t size) {
        int year, month = 1, day = 1, hour = 0, minute = 0, second = 0;
        int tz_hour = 0, tz_minute = 0;
        char tz_sign = 'Z';
        const char *p = s;
        int n;

        if (strncmp(p, "D:", 2) == 0)
                p += 2;
        if (!parse_digits(&p, 4, &year))
                return false;
        if (parse_digits(&p, 2, &month) && parse_digits(&p, 2, &day) &&
            parse_digits(&p, 2, &hour) && parse_digits(&p, 2, &minute))
                (void) parse_digits(&p, 2, &second);

        if (*p == 'Z' || *p == 'z') {
                p++;
                /* "Z00'00'" is common: a zero offset spelled out after the Z. */
                if (parse_digits(&p, 2, &tz_hour)) {
                        if (*p == '\'')
                                p++;
                        (void) parse_digits(&p, 2, &tz_minute);
                        if (*p == '\'')
                                p++;
                        if (tz_hour != 0 || tz_minute != 0)
                                return false;
                }
        } else if (*p == '+' || *p == '-') {
                tz_sign = *p++;
                if (!parse_digits(&p, 2, &tz_hour))
                        return false;
                if (*p == '\'')
                        p++;
                (void) parse_digits(&p, 2, &tz_minute);
                if (*p == '\'')
                        p++;
        }
        while (*p == ' ')
                p++;
        if (*p != 0)
                return false;

        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
            hour > 23 || minute > 59 || second > 59 || tz_hour > 23 || tz_minute > 59)
                return false;

        if (tz_sign == 'Z')
                n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                             year, month, day, hour, minute, second);
        else
                n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                             year, month, day, hour, minute, second, tz_sign, tz_hour, tz_minute);
        return n > 0 && (size_t) n < size;
}

/* ---- output files: temporary name, fsync, rename (or, staged, just the name) ---- */

struct out_file {
        const char *name;               /* final name in the output directory */
        char name_buf[32];              /* for names made here ("pages/0001.png") */
        char tmp_name[48];
        int fd;                         /* -1 when not open */
        bool created, committed;
        int error;                      /* errno of a failed create/write/sync, else 0 */
        uint64_t chars;                 /* UTF-8 characters written */
};

/* F's names; NAME must outlive F (a literal, or F's own name_buf). */
static void out_file_init(struct out_file *f, const char *name) {
        const char *slash = strrchr(name, '/');

        f->name = name;
        f->fd = -1;
        f->created = f->committed = false;
        f->error = 0;
        f->chars = 0;
        /* The temp name in the same folder as the final one. */
        if (slash)
                (void) snprintf(f->tmp_name, sizeof(f->tmp_name), "%.*s/.%s.tmp", (int) (slash - name), name,
                                slash + 1);
        else
                (void) snprintf(f->tmp_name, sizeof(f->tmp_name), ".%s.tmp", name);
}

/* FOLDER/NNNN.png or .jpg: a page's image. */
static void out_file_init_page(struct out_file *f, const char *folder, int page, enum profile_format format) {
        (void) snprintf(f->name_buf, sizeof(f->name_buf), "%s/%04d.%s", folder, page,
                        format == PROFILE_JPEG ? "jpg" : "png");
        out_file_init(f, f->name_buf);
}

static FZ_NORETURN void out_file_throw(fz_context *ctx, struct out_file *f, int error) {
        f->error = error;
        fz_throw(ctx, FZ_ERROR_GENERIC, "cannot write %s: %s", f->name, strerror(error));
}

/* Staged, the file is written under its own name: nobody reads the staging
 * folder before the caller has synced it (extract_pdf). */
static void out_file_create(fz_context *ctx, int dirfd, bool staged, struct out_file *f) {
        if (staged)
                (void) snprintf(f->tmp_name, sizeof(f->tmp_name), "%s", f->name);
        f->fd = openat(dirfd, f->tmp_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f->fd < 0)
                out_file_throw(ctx, f, errno);
        f->created = true;
}

/* Data that reaches the file is safe before the name appears: fsync, then rename.
 * Staged: only closed, under the name it already has. */
static void out_file_commit(fz_context *ctx, int dirfd, bool staged, struct out_file *f) {
        int r;

        if (!staged && fsync(f->fd) < 0)
                out_file_throw(ctx, f, errno);
        r = close(f->fd);
        f->fd = -1;
        if (r < 0)
                out_file_throw(ctx, f, errno);
        if (!staged && renameat(dirfd, f->tmp_name, dirfd, f->name) < 0)
                out_file_throw(ctx, f, errno);
        f->committed = true;
}

/* After a failed job: leave the directory as empty as it was given. */
static void out_file_remove(int dirfd, struct out_file *f) {
        if (f->fd >= 0)
                (void) close(f->fd);
        f->fd = -1;
        if (f->created && !f->committed)
                (void) unlinkat(dirfd, f->tmp_name, 0);
        if (f->committed)
                (void) unlinkat(dirfd, f->name, 0);
        f->created = f->committed = false;
}

/* fz_output write callback: the whole buffer to the file, counting characters. */
static void out_file_write(fz_context *ctx, void *state, const void *data, size_t n) {
        struct out_file *f = state;
        const unsigned char *p = data;
        size_t i;

        for (i = 0; i < n; i++)
                if ((p[i] & 0xC0) != 0x80)
                        f->chars++;

        while (n > 0) {
                ssize_t k = write(f->fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        out_file_throw(ctx, f, errno);
                }
                p += k;
                n -= (size_t) k;
        }
}

static fz_output *out_file_output(fz_context *ctx, struct out_file *f) {
        /* No close callback: fz_close_output still flushes, and dropping an
         * output that failed half-way then does not warn. */
        return fz_new_output(ctx, OUTPUT_BUFFER_SIZE, f, out_file_write, NULL, NULL);
}

/* ---- one job ---- */

enum stage {
        STAGE_OPEN,             /* opening, password, page count */
        STAGE_PAGE1,            /* page 1 and its thumbnail: a failure fails the job */
        STAGE_PAGES,            /* text of the pages: a failure skips the page */
        STAGE_META,
};

struct job {
        fz_context *ctx;
        fz_document *doc;
        int dirfd;
        bool staged;            /* extract_pdf's STAGED */
        int n_pages;
        enum stage stage;
        int failure;            /* -ENOKEY, -ENODATA: the job stopped without an exception */
        fz_rect page1;
        json_t *damaged_pages;  /* 1-based page numbers */
        json_t *meta;
        struct out_file thumb, text, meta_file, stext_file;
        const struct profile *pr;       /* the outputs asked for */
        const char *password;           /* NULL: none given */
        int pages_with_text;            /* for text_layer */
        fz_output *stext_out;           /* stext.json while the pages are read */
        int render_error;               /* errno of a folder for thumbs/ or pages/ that cannot be made */
        struct facts *facts;    /* NULL when facts and tables are switched off */
        struct tables *tables;
        bool failed;            /* an exception ended the job: */
        int error_code;         /* its FZ_ERROR_* */
        char error_message[ERROR_MAX_BYTES + 1];
};

/* libjpeg reports errors through error_exit, which must not return. */
struct jpeg_failure {
        struct jpeg_error_mgr mgr;
        jmp_buf jump;
};

static void jpeg_fail(j_common_ptr cinfo) {
        longjmp(((struct jpeg_failure *) cinfo->err)->jump, 1);
}

/* PIXMAP (RGB, no alpha) as a JPEG in memory: 0, or -ENOMEM/-EIO. Kept free
 * of mupdf calls, so libjpeg's longjmp never crosses an fz_try. */
static int encode_jpeg(const fz_pixmap *pixmap, int w, int h, unsigned char **ret, unsigned long *ret_size) {
        struct jpeg_compress_struct cinfo;
        struct jpeg_failure failure;
        unsigned char *volatile buffer = NULL;
        unsigned long size = 0;

        cinfo.err = jpeg_std_error(&failure.mgr);
        failure.mgr.error_exit = jpeg_fail;
        if (setjmp(failure.jump)) {
                jpeg_destroy_compress(&cinfo);
                free(buffer);
                return -EIO;
        }
        jpeg_create_compress(&cinfo);
        jpeg_mem_dest(&cinfo, (unsigned char **) &buffer, &size);
        cinfo.image_width = (JDIMENSION) w;
        cinfo.image_height = (JDIMENSION) h;
        cinfo.input_components = 3;
        cinfo.in_color_space = JCS_RGB;
        jpeg_set_defaults(&cinfo);
        jpeg_set_quality(&cinfo, JPEG_QUALITY, TRUE);
        jpeg_start_compress(&cinfo, TRUE);
        while (cinfo.next_scanline < cinfo.image_height) {
                JSAMPROW row = (JSAMPROW) (pixmap->samples + (size_t) cinfo.next_scanline * (size_t) pixmap->stride);
                jpeg_write_scanlines(&cinfo, &row, 1);
        }
        jpeg_finish_compress(&cinfo);
        jpeg_destroy_compress(&cinfo);
        *ret = buffer;
        *ret_size = size;
        return 0;
}

/* LIST (a page of BOUNDS) drawn on white at W x H pixels, into F as PNG or JPEG. */
static void render_to_file(struct job *job, fz_display_list *list, fz_rect bounds, int w, int h,
                           enum profile_format format, struct out_file *f) {
        fz_context *ctx = job->ctx;
        float width = bounds.x1 - bounds.x0, height = bounds.y1 - bounds.y0;
        fz_pixmap *pixmap = NULL;
        fz_device *device = NULL;
        fz_output *out = NULL;
        unsigned char *jpeg = NULL;
        fz_matrix ctm = fz_concat(fz_translate(-bounds.x0, -bounds.y0), fz_scale(w / width, h / height));

        fz_var(pixmap);
        fz_var(device);
        fz_var(out);
        fz_var(jpeg);
        fz_try(ctx) {
                pixmap = fz_new_pixmap(ctx, fz_device_rgb(ctx), w, h, NULL, 0);
                fz_clear_pixmap_with_value(ctx, pixmap, 0xFF);
                device = fz_new_draw_device(ctx, fz_identity, pixmap);
                fz_run_display_list(ctx, list, device, ctm, fz_infinite_rect, NULL);
                fz_close_device(ctx, device);

                out_file_create(ctx, job->dirfd, job->staged, f);
                if (format == PROFILE_JPEG) {
                        unsigned long size = 0;
                        if (encode_jpeg(pixmap, w, h, &jpeg, &size) < 0)
                                fz_throw(ctx, FZ_ERROR_MEMORY, "cannot encode %s", f->name);
                        out_file_write(ctx, f, jpeg, size);
                } else {
                        out = out_file_output(ctx, f);
                        fz_write_pixmap_as_png(ctx, out, pixmap);
                        fz_close_output(ctx, out);
                }
                out_file_commit(ctx, job->dirfd, job->staged, f);
        }
        fz_always(ctx) {
                free(jpeg);
                fz_drop_output(ctx, out);
                fz_drop_device(ctx, device);
                fz_drop_pixmap(ctx, pixmap);
        }
        fz_catch(ctx)
                fz_rethrow(ctx);
}

/* Exactly SIZE pixels on the longest side, whatever the page's origin. */
static void write_thumbnail(struct job *job, fz_display_list *list, fz_rect bounds, int page, unsigned size,
                            struct out_file *f) {
        fz_context *ctx = job->ctx;
        float width = bounds.x1 - bounds.x0, height = bounds.y1 - bounds.y0;
        int w, h;

        if (!isfinite(width) || !isfinite(height) || width <= 0 || height <= 0)
                fz_throw(ctx, FZ_ERROR_GENERIC, "page %d has no area (%g x %g pt)", page, width, height);
        if (width >= height) {
                w = (int) size;
                h = (int) fmax(1, lround(size * (double) height / width));
        } else {
                h = (int) size;
                w = (int) fmax(1, lround(size * (double) width / height));
        }
        render_to_file(job, list, bounds, w, h, job->pr->thumb_format, f);
}

/* pages/NNNN.png at the profile's DPI (smaller when it would be too many pixels). */
static void write_page_render(struct job *job, fz_display_list *list, fz_rect bounds, int page) {
        fz_context *ctx = job->ctx;
        double width = bounds.x1 - bounds.x0, height = bounds.y1 - bounds.y0, scale = job->pr->dpi / 72.0;
        struct out_file f;

        if (!isfinite(width) || !isfinite(height) || width <= 0 || height <= 0)
                fz_throw(ctx, FZ_ERROR_GENERIC, "page %d has no area (%g x %g pt)", page, width, height);
        if (width * scale * height * scale > RENDER_MAX_PIXELS)
                scale = sqrt(RENDER_MAX_PIXELS / (width * height));
        const int w = (int) fmax(1, lround(width * scale)), h = (int) fmax(1, lround(height * scale));
        out_file_init_page(&f, OUTPUT_DIR_PAGES, page, job->pr->page_format);
        fz_try(ctx)
                render_to_file(job, list, bounds, w, h, job->pr->page_format, &f);
        fz_catch(ctx) {
                if (f.error != 0)
                        job->render_error = f.error;
                out_file_remove(job->dirfd, &f);
                fz_rethrow(ctx);
        }
}

/* One page of stext.json: blocks, lines and spans (a run of one font and
 * size) with their bounding boxes, in points. */
static json_t *bbox_json(fz_rect r) {
        return json_pack("[f,f,f,f]", round(r.x0 * 100) / 100, round(r.y0 * 100) / 100, round(r.x1 * 100) / 100,
                         round(r.y1 * 100) / 100);
}

static void stext_page_json(struct job *job, fz_stext_page *stext, int page) {
        fz_context *ctx = job->ctx;
        json_t *blocks = json_array(), *po;
        size_t chars = 0;
        char *text;

        if (!blocks)
                throw_oom(ctx);
        po = json_pack("{s:i,s:f,s:f,s:o}", "page", page, "width",
                       round((stext->mediabox.x1 - stext->mediabox.x0) * 100) / 100, "height",
                       round((stext->mediabox.y1 - stext->mediabox.y0) * 100) / 100, "blocks", blocks);
        if (!po)
                throw_oom(ctx);
        for (fz_stext_block *block = stext->first_block; block && chars < STEXT_MAX_CHARS_PER_PAGE; block = block->next) {
                if (block->type != FZ_STEXT_BLOCK_TEXT)
                        continue;
                json_t *lines = json_array();
                json_array_append_new(blocks, json_pack("{s:o,s:o}", "bbox", bbox_json(block->bbox), "lines", lines));
                for (fz_stext_line *line = block->u.t.first_line; line && chars < STEXT_MAX_CHARS_PER_PAGE;
                     line = line->next) {
                        json_t *spans = json_array();
                        json_array_append_new(lines, json_pack("{s:o,s:i,s:o}", "bbox", bbox_json(line->bbox),
                                                               "wmode", line->wmode, "spans", spans));
                        fz_stext_char *ch = line->first_char;
                        while (ch && chars < STEXT_MAX_CHARS_PER_PAGE) {
                                fz_font *font = ch->font;
                                float size = ch->size;
                                fz_rect box = fz_empty_rect;
                                char *all = xmalloc(64);
                                size_t n = 0, cap = 64;
                                for (; ch && ch->font == font && ch->size == size && chars < STEXT_MAX_CHARS_PER_PAGE;
                                     ch = ch->next, chars++) {
                                        box = fz_union_rect(box, fz_rect_from_quad(ch->quad));
                                        if (n + FZ_UTFMAX + 1 > cap)
                                                all = xrealloc(all, cap *= 2);
                                        n += (size_t) fz_runetochar(all + n, ch->c);
                                }
                                all[n] = 0;
                                text = utf8_sanitize(all, n, NULL);
                                free(all);
                                json_array_append_new(spans, json_pack("{s:o,s:o,s:f,s:s?}", "bbox", bbox_json(box),
                                                                       /* a PDF's font name is any bytes */
                                                                       "font", font ? json_string_sanitized(fz_font_name(ctx, font))
                                                                                    : json_null(),
                                                                       "size", round(size * 100) / 100, "text", text));
                                free(text);
                        }
                }
        }
        text = json_dumps(po, JSON_COMPACT | JSON_REAL_PRECISION(10));
        json_decref(po);
        if (!text)
                throw_oom(ctx);
        fz_try(ctx) {
                if (page > 1)
                        fz_write_string(ctx, job->stext_out, ",\n");
                fz_write_string(ctx, job->stext_out, text);
        }
        fz_always(ctx)
                free(text);
        fz_catch(ctx)
                fz_rethrow(ctx);
}

/* Does the page show any text (not just spaces)? */
static bool stext_has_text(fz_stext_page *stext) {
        for (fz_stext_block *block = stext->first_block; block; block = block->next)
                if (block->type == FZ_STEXT_BLOCK_TEXT)
                        for (fz_stext_line *line = block->u.t.first_line; line; line = line->next)
                                for (fz_stext_char *ch = line->first_char; ch; ch = ch->next)
                                        if (ch->c > ' ' && ch->c != 0xA0)
                                                return true;
        return false;
}

/* mupdf's structured text as a layout_page: lines as mupdf found them, each
 * split into spans at column-sized gaps. */
static void stext_to_layout(fz_context *ctx, fz_stext_page *stext, struct layout_page *lp) {
        fz_stext_block *block;
        fz_stext_line *line;
        fz_stext_char *ch;
        int block_number = 0;

        for (block = stext->first_block; block; block = block->next, block_number++) {
                if (block->type != FZ_STEXT_BLOCK_TEXT)
                        continue;
                for (line = block->u.t.first_line; line; line = line->next) {
                        /* Rotated or vertical text keeps its characters in one
                         * span: x gaps mean nothing along another direction. */
                        bool across = line->wmode == 0 && line->dir.x > 0.99f;

                        layout_line_begin(lp, block_number);
                        for (ch = line->first_char; ch; ch = ch->next) {
                                fz_rect r = fz_rect_from_quad(ch->quad);

                                if (!across)
                                        r.x0 = r.x1 = line->bbox.x0;
                                layout_char_add(lp, ch->c, r.x0, r.y0, r.x1, r.y1,
                                                across ? ch->origin.y : line->bbox.y1, ch->size,
                                                ch->font && fz_font_is_bold(ctx, ch->font));
                        }
                        layout_line_end(lp);
                }
        }
}

/* The page in reading order: a line per line (a line never mixes two
 * columns), a blank line between mupdf's blocks and between columns. */
static void write_layout(fz_context *ctx, fz_output *out, const struct layout_page *lp) {
        int last_block = -1, last_column = -1;
        unsigned i, k;

        for (i = 0; i < lp->n_lines; i++) {
                const struct layout_line *l = &lp->lines[lp->order[i]];

                if (i > 0 && (l->block != last_block || l->column != last_column))
                        fz_write_byte(ctx, out, '\n');
                for (k = 0; k < l->n_spans; k++) {
                        const struct layout_span *s = &lp->spans[l->first_span + k];

                        if (k > 0)
                                fz_write_byte(ctx, out, ' ');
                        fz_write_data(ctx, out, layout_span_text(lp, s), s->len);
                }
                fz_write_byte(ctx, out, '\n');
                last_block = l->block;
                last_column = l->column;
        }
        if (lp->n_lines > 0)
                fz_write_byte(ctx, out, '\n');
}

/* PAGE's structured text, as from its display list: its contents and its
 * annotations run into the text device (fz_new_stext_page_from_page would
 * leave the annotations out). */
static fz_stext_page *stext_from_page(fz_context *ctx, fz_page *page, fz_rect bounds) {
        fz_stext_page *stext = fz_new_stext_page(ctx, bounds);
        fz_device *device = NULL;

        fz_var(device);
        fz_try(ctx) {
                device = fz_new_stext_device(ctx, stext, &stext_options);
                fz_run_page(ctx, page, device, fz_identity, NULL);
                fz_close_device(ctx, device);
        }
        fz_always(ctx)
                fz_drop_device(ctx, device);
        fz_catch(ctx) {
                fz_drop_stext_page(ctx, stext);
                fz_rethrow(ctx);
        }
        return stext;
}

/* Load page INDEX once: its text to OUT (NULL: no text.txt), its thumbnail and
 * render when the profile asks, its structured text (stext.json, facts,
 * tables, and whether it has text at all). A page that fails on its own is
 * noted and skipped; page 1 must load. */
static void extract_page(struct job *job, fz_output *out, int index) {
        fz_context *ctx = job->ctx;
        const struct profile *pr = job->pr;
        bool thumb = pr->on[PROFILE_THUMBS] && profile_pages_has(pr->thumb_pages, index + 1, job->n_pages);
        bool render = pr->on[PROFILE_PAGES] && profile_pages_has(pr->page_pages, index + 1, job->n_pages);
        fz_page *page = NULL;
        fz_display_list *list = NULL;
        fz_stext_page *stext = NULL;
        struct layout_page lp;
        struct out_file page_thumb;
        json_t *number;

        out_file_init(&page_thumb, "");
        layout_page_init(&lp, index + 1, 0, 0);
        fz_var(page);
        fz_var(list);
        fz_var(stext);
        fz_try(ctx) {
                if (index == 0)
                        job->stage = STAGE_PAGE1;
                page = fz_load_page(ctx, job->doc, index);
                fz_rect bounds = fz_bound_page(ctx, page);
                if (index == 0)
                        job->page1 = bounds;
                /* A page drawn (a thumbnail, a render) is interpreted once into a
                 * display list that feeds the pictures and the text; any other
                 * page straight into its structured text, without the list. */
                if (thumb || render)
                        list = fz_new_display_list_from_page(ctx, page);
                /* thumb.png when only page 1 is asked for (as before profiles), else thumbs/NNNN.png */
                if (thumb && strcmp(pr->thumb_pages, "1") == 0)
                        write_thumbnail(job, list, bounds, index + 1, pr->thumb_size, &job->thumb);
                else if (thumb) {
                        out_file_init_page(&page_thumb, OUTPUT_DIR_THUMBS, index + 1, pr->thumb_format);
                        write_thumbnail(job, list, bounds, index + 1, pr->thumb_size, &page_thumb);
                }
                if (index == 0)
                        job->stage = STAGE_PAGES;
                if (render)
                        write_page_render(job, list, bounds, index + 1);
                stext = list ? fz_new_stext_page_from_display_list(ctx, list, &stext_options)
                             : stext_from_page(ctx, page, bounds);
                job->pages_with_text += stext_has_text(stext);
                if (job->stext_out)
                        stext_page_json(job, stext, index + 1);
                /* One structured text for text.txt, facts and tables. */
                if (out || job->facts || job->tables) {
                        layout_page_init(&lp, index + 1, stext->mediabox.x1 - stext->mediabox.x0,
                                         stext->mediabox.y1 - stext->mediabox.y0);
                        stext_to_layout(ctx, stext, &lp);
                        layout_page_order(&lp);
                }
                if (out)
                        write_layout(ctx, out, &lp);
                if (job->facts)
                        facts_add_page(job->facts, &lp);
                if (job->tables)
                        tables_add_page(job->tables, &lp);
        }
        fz_always(ctx) {
                layout_page_done(&lp);
                fz_drop_stext_page(ctx, stext);
                fz_drop_display_list(ctx, list);
                fz_drop_page(ctx, page);
        }
        fz_catch(ctx) {
                if (page_thumb.error != 0)
                        job->render_error = page_thumb.error;
                out_file_remove(job->dirfd, &page_thumb);
                if (job->stage != STAGE_PAGES || fz_caught(ctx) == FZ_ERROR_MEMORY ||
                    job->text.error != 0 || job->thumb.error != 0 || job->stext_file.error != 0 ||
                    page_thumb.error != 0 || job->render_error != 0)
                        fz_rethrow(ctx);
                fz_warn(ctx, "page %d left out of text.txt: %s", index + 1, fz_caught_message(ctx));
                number = json_integer(index + 1);
                if (!number || json_array_append_new(job->damaged_pages, number) < 0)
                        throw_oom(ctx);
                /* A page tree whose /Count lies (2000000000 pages, two real ones)
                 * would otherwise keep the worker busy until the daemon's timeout. */
                if (json_array_size(job->damaged_pages) >= EXTRACT_MAX_DAMAGED_PAGES)
                        fz_throw(ctx, FZ_ERROR_GENERIC, "%d of its %d pages cannot be read",
                                 EXTRACT_MAX_DAMAGED_PAGES, job->n_pages);
        }
}

static void make_folder(struct job *job, const char *name) {
        if (mkdirat(job->dirfd, name, 0755) < 0 && errno != EEXIST) {
                job->render_error = errno;
                fz_throw(job->ctx, FZ_ERROR_GENERIC, "cannot write %s/: %s", name, strerror(errno));
        }
}

static void extract_pages(struct job *job) {
        fz_context *ctx = job->ctx;
        const struct profile *pr = job->pr;
        fz_output *out = NULL;
        int i;

        fz_var(out);
        fz_try(ctx) {
                if (pr->on[PROFILE_THUMBS] && strcmp(pr->thumb_pages, "1") != 0)
                        make_folder(job, OUTPUT_DIR_THUMBS);
                if (pr->on[PROFILE_PAGES])
                        make_folder(job, OUTPUT_DIR_PAGES);
                if (pr->on[PROFILE_STEXT]) {
                        out_file_create(ctx, job->dirfd, job->staged, &job->stext_file);
                        job->stext_out = out_file_output(ctx, &job->stext_file);
                        fz_write_string(ctx, job->stext_out, "{\"pages\": [\n");
                }
                if (pr->on[PROFILE_TEXT]) {
                        out_file_create(ctx, job->dirfd, job->staged, &job->text);
                        out = out_file_output(ctx, &job->text);
                }
                for (i = 0; i < job->n_pages; i++) {
                        if (i > 0 && out)
                                fz_write_byte(ctx, out, '\f');
                        extract_page(job, out, i);
                }
                if (out) {
                        fz_close_output(ctx, out);
                        out_file_commit(ctx, job->dirfd, job->staged, &job->text);
                }
                if (job->stext_out) {
                        fz_write_string(ctx, job->stext_out, "\n]}\n");
                        fz_close_output(ctx, job->stext_out);
                        out_file_commit(ctx, job->dirfd, job->staged, &job->stext_file);
                }
        }
        fz_always(ctx) {
                fz_drop_output(ctx, out);
                fz_drop_output(ctx, job->stext_out);
                job->stext_out = NULL;
        }
        fz_catch(ctx)
                fz_rethrow(ctx);
}

/* The value of metadata KEY, fz_malloc'ed, NULL when absent or empty. */
static char *lookup_metadata(fz_context *ctx, fz_document *doc, const char *key) {
        char small[256], *value;
        int n;

        n = fz_lookup_metadata(ctx, doc, key, small, sizeof(small));
        if (n <= 1)
                return NULL;
        if ((size_t) n <= sizeof(small))
                return fz_strdup(ctx, small);

        n = n > METADATA_MAX_BYTES ? METADATA_MAX_BYTES : n;
        value = fz_malloc(ctx, (size_t) n);
        fz_try(ctx)
                (void) fz_lookup_metadata(ctx, doc, key, value, n);
        fz_catch(ctx) {
                fz_free(ctx, value);
                fz_rethrow(ctx);
        }
        return value;
}

/* Metadata KEY, fz_malloc'ed, NULL when absent or unreadable (a broken Info
 * dictionary loses that entry, not the job). Throws only when out of memory. */
static char *metadata_value(fz_context *ctx, fz_document *doc, const char *key) {
        char *value = NULL;

        fz_var(value);
        fz_try(ctx)
                value = lookup_metadata(ctx, doc, key);
        fz_catch(ctx) {
                fz_rethrow_if(ctx, FZ_ERROR_MEMORY);
                fz_warn(ctx, "cannot read %s: %s", key, fz_caught_message(ctx));
                value = NULL;
        }
        return value;
}

enum metadata_kind { METADATA_TEXT, METADATA_DATE, METADATA_PDF_VERSION };

static json_t *metadata_json(fz_context *ctx, fz_document *doc, const char *key, enum metadata_kind kind) {
        char date[64], *value;
        const char *s;
        json_t *json;

        value = metadata_value(ctx, doc, key);
        if (!value)
                return json_null();

        s = value;
        if (kind == METADATA_DATE && pdf_date_to_rfc3339(value, date, sizeof(date)))
                s = date;
        else if (kind == METADATA_PDF_VERSION && strncmp(value, "PDF ", 4) == 0)
                s = value + 4;            /* "PDF 1.7" */
        json = json_string_sanitized(s);
        fz_free(ctx, value);
        if (!json)
                throw_oom(ctx);
        return json;
}

static bool document_is_encrypted(fz_context *ctx, fz_document *doc) {
        char *value = metadata_value(ctx, doc, FZ_META_ENCRYPTION);
        bool encrypted = value && strcmp(value, "None") != 0;

        fz_free(ctx, value);
        return encrypted;
}

static void outline_to_json(struct job *job, fz_outline *node, int depth, unsigned *count, json_t *array) {
        fz_context *ctx = job->ctx;

        for (; node && *count < EXTRACT_OUTLINE_MAX_ENTRIES; node = node->next) {
                json_t *entry = json_object(), *children;
                int page = -1;

                if (!entry || json_array_append_new(array, entry) < 0)
                        throw_oom(ctx);
                (*count)++;

                json_set(ctx, entry, "title", node->title ? json_string_sanitized(node->title) : json_null());
                /* Without a destination mupdf 1.21 still says page 1: ask only
                 * for entries that point into the document. */
                if (node->uri && !fz_is_external_link(ctx, node->uri) && node->page.page >= 0)
                        page = fz_page_number_from_location(ctx, job->doc, node->page);
                json_set(ctx, entry, "page", page >= 0 && page < job->n_pages ? json_integer(page + 1) : json_null());

                if (node->down && depth < EXTRACT_OUTLINE_MAX_DEPTH) {
                        children = json_array();
                        json_set(ctx, entry, "children", children);
                        outline_to_json(job, node->down, depth + 1, count, children);
                        if (json_array_size(children) == 0)
                                (void) json_object_del(entry, "children");
                }
        }
}

/* The outline into ARRAY; a broken outline is left out (or cut short), not fatal. */
static void outline_json(struct job *job, json_t *array) {
        fz_context *ctx = job->ctx;
        fz_outline *outline = NULL;
        unsigned count = 0;

        fz_var(outline);
        fz_try(ctx) {
                outline = fz_load_outline(ctx, job->doc);
                outline_to_json(job, outline, 1, &count, array);
        }
        fz_always(ctx)
                fz_drop_outline(ctx, outline);
        fz_catch(ctx) {
                fz_rethrow_if(ctx, FZ_ERROR_MEMORY);
                fz_warn(ctx, "outline left out: %s", fz_caught_message(ctx));
        }
}

static double round_pt(float v) {
        return round(v * 100.0) / 100.0;
}

static void write_meta(struct job *job) {
        static const struct {
                const char *json_key, *mupdf_key;
                enum metadata_kind kind;
        } fields[] = {
                { "title",    FZ_META_INFO_TITLE,            METADATA_TEXT },
                { "author",   FZ_META_INFO_AUTHOR,           METADATA_TEXT },
                { "subject",  FZ_META_INFO_SUBJECT,          METADATA_TEXT },
                { "keywords", FZ_META_INFO_KEYWORDS,         METADATA_TEXT },
                { "creator",  FZ_META_INFO_CREATOR,          METADATA_TEXT },
                { "producer", FZ_META_INFO_PRODUCER,         METADATA_TEXT },
                { "created",  FZ_META_INFO_CREATIONDATE,     METADATA_DATE },
                { "modified", FZ_META_INFO_MODIFICATIONDATE, METADATA_DATE },
                { "pdf_version", FZ_META_FORMAT,             METADATA_PDF_VERSION },
        };
        fz_context *ctx = job->ctx;
        json_t *meta, *outline;
        size_t i;

        meta = job->meta = json_object();
        if (!meta)
                throw_oom(ctx);
        for (i = 0; i < ELEMENTSOF(fields); i++)
                json_set(ctx, meta, fields[i].json_key,
                         metadata_json(ctx, job->doc, fields[i].mupdf_key, fields[i].kind));
        json_set(ctx, meta, "pages", json_integer(job->n_pages));
        json_set(ctx, meta, "page_size",
                 json_pack("{s:f, s:f}",
                           "width_pt", round_pt(job->page1.x1 - job->page1.x0),
                           "height_pt", round_pt(job->page1.y1 - job->page1.y0)));
        json_set(ctx, meta, "encrypted", json_boolean(document_is_encrypted(ctx, job->doc)));
        if (job->pr->on[PROFILE_OUTLINE]) {
                outline = json_array();
                json_set(ctx, meta, "outline", outline);
                outline_json(job, outline);
        }
        json_set(ctx, meta, "text_chars", json_integer((json_int_t) job->text.chars));
        json_set(ctx, meta, "damaged_pages", json_incref(job->damaged_pages));

        /* Serialised first, then written with every write checked: jansson's
         * writer to a descriptor does not report each short write. */
        char *text = json_dumps(meta, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        if (!text)
                fz_throw(ctx, FZ_ERROR_MEMORY, "out of memory building meta.json");
        out_file_create(ctx, job->dirfd, job->staged, &job->meta_file);
        fz_try(ctx) {
                out_file_write(ctx, &job->meta_file, text, strlen(text));
                out_file_write(ctx, &job->meta_file, "\n", 1);
        }
        fz_always(ctx)
                free(text);
        fz_catch(ctx)
                fz_rethrow(ctx);
        out_file_commit(ctx, job->dirfd, job->staged, &job->meta_file);
}

static void read_document(struct job *job) {
        fz_context *ctx = job->ctx;

        job->stage = STAGE_OPEN;
        /* mupdf has already tried the empty password: a document that opens
         * with it does not need one. */
        if (fz_needs_password(ctx, job->doc) && !fz_authenticate_password(ctx, job->doc, "") &&
            !(job->password && fz_authenticate_password(ctx, job->doc, job->password))) {
                job->failure = -ENOKEY;
                return;
        }
        job->n_pages = fz_count_pages(ctx, job->doc);
        if (job->n_pages <= 0) {
                job->failure = -ENODATA;
                return;
        }

        job->stage = STAGE_PAGES;
        extract_pages(job);
        job->stage = STAGE_META;
        if (job->pr->on[PROFILE_META])
                write_meta(job);
}

static char *out_of_memory_message(void) {
        struct rlimit limit;

        if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
                return xasprintf("out of memory (the worker memory limit is %llu MiB)",
                                 (unsigned long long) limit.rlim_cur / (1024 * 1024));
        return xstrdup("out of memory");
}

/* What the user is told about a job that threw CODE with MESSAGE. */
static int job_error(const struct job *job, int code, const char *message, char **ret_error,
                     int *ret_write_errno) {
        struct diag *diag = diag_get(job->ctx);
        const struct out_file *files[] = { &job->thumb, &job->text, &job->meta_file, &job->stext_file };
        char *clean;
        size_t i;

        if (job->render_error != 0) {
                *ret_error = xasprintf("cannot write a page image: %s", strerror(job->render_error));
                *ret_write_errno = job->render_error;
                return -job->render_error;
        }
        for (i = 0; i < ELEMENTSOF(files); i++)
                if (files[i]->error != 0) {
                        *ret_error = xasprintf("cannot write %s: %s", files[i]->name, strerror(files[i]->error));
                        /* The spool's trouble (disk, quota, descriptors), not the PDF's. */
                        *ret_write_errno = files[i]->error;
                        return -files[i]->error;
                }
        if (code == FZ_ERROR_MEMORY || (diag && diag->allocation_failed)) {
                *ret_error = out_of_memory_message();
                return -ENOMEM;
        }
        if (job->failure == -ENOKEY) {
                /* The password itself is never repeated. */
                *ret_error = xstrdup(job->password ? "encrypted PDF: the password given does not open it"
                                                   : "encrypted PDF: a password is required");
                return -ENOKEY;
        }
        if (job->failure == -ENODATA) {
                /* mupdf finds no pages also when it cannot find the page tree:
                 * then the file is damaged, not empty of pages. */
                if (diag && diag->first_error[0] != 0) {
                        clean = utf8_sanitize(diag->first_error, ERROR_MAX_BYTES, NULL);
                        *ret_error = xasprintf("damaged PDF: no pages found (%s)", clean ? clean : "unknown error");
                        free(clean);
                        return -EBADMSG;
                }
                *ret_error = xstrdup("the PDF has no pages");
                return -ENODATA;
        }

        if (job->stage == STAGE_OPEN && diag && diag->first_error[0] != 0)
                message = diag->first_error;
        clean = utf8_sanitize(message, ERROR_MAX_BYTES, NULL);
        if (job->stage == STAGE_PAGE1)
                *ret_error = xasprintf("damaged PDF: cannot render page 1: %s", clean ? clean : "unknown error");
        else
                *ret_error = xasprintf("damaged PDF: %s", clean ? clean : "unknown error");
        free(clean);
        return -EBADMSG;
}

/* ---- facts.json, tables.json, tables/ ---- */

static void remove_facts_outputs(int dirfd) {
        (void) unlinkat(dirfd, "facts.json", 0);
        (void) unlinkat(dirfd, "tables.json", 0);
        (void) fs_remove_tree(dirfd, "tables");
        (void) fs_remove_tree(dirfd, OUTPUT_DIR_THUMBS);
        (void) fs_remove_tree(dirfd, OUTPUT_DIR_PAGES);
}

/* Written after the job's other outputs, from the digest the pages left.
 * Returns 0, or -errno when the spool's own resources failed (disk, quota,
 * memory: the job is retried); any other failure is logged in one line and
 * the job goes on with what could be written. */
static void table_row_to_facts(void *user, enum table_kind kind, int page, const char *const *header,
                               const char *const *cells, unsigned n) {
        facts_add_table_row(user, (int) kind, page, header, cells, n);
}

static int write_facts_outputs(struct job *job, const char *pdf_name) {
        const unsigned write_flags = job->staged ? FS_WRITE_STAGED : 0;
        json_t *facts;
        int r;

        /* the tables' operating rows are facts too */
        tables_foreach_row(job->tables, table_row_to_facts, job->facts);
        facts_set_metadata(job->facts, json_string_value(json_object_get(job->meta, "title")),
                           json_string_value(json_object_get(job->meta, "subject")),
                           json_string_value(json_object_get(job->meta, "author")));
        facts = job->pr->on[PROFILE_FACTS] ? facts_json(job->facts) : NULL;
        r = !job->pr->on[PROFILE_FACTS] ? 0 :
            facts ? fs_write_json(job->dirfd, "facts.json", facts, 0644, (gid_t) -1, FS_WRITE_PRETTY | write_flags) : -ENOMEM;
        json_decref(facts);
        if (r == 0 && job->pr->on[PROFILE_TABLES])
                r = tables_write(job->tables, job->dirfd, write_flags);
        if (r < 0 && !errno_is_transient(r)) {
                fprintf(stderr, "pdfspool-worker: %s: facts and tables incomplete: %s\n", pdf_name, strerror(-r));
                r = 0;
        }
        return r;
}

/* The PDF as a stdio stream on a duplicate of FD (the caller keeps FD), refusing
 * what is not a regular file (a FIFO would block the worker forever). */
static int open_pdf(int fd, FILE **ret, bool *ret_empty) {
        struct stat st;
        FILE *file;
        int dup_fd, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        /* From the start, whatever the descriptor's offset was. */
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        *ret_empty = st.st_size == 0;
        file = fdopen(dup_fd, "rb");
        if (!file) {
                r = -errno;
                (void) close(dup_fd);
                return r;
        }
        *ret = file;
        return 0;
}

/* Opens the PDF through FILE and does the job. Returns 0, or -1 with the
 * exception's code and message, or the failure, in the job. Always lets go of the document and
 * of the store's cached fonts and images (which may point into the file), so
 * nothing of this job is left for the next. Kept apart from extract_pdf() so
 * that fz_try's setjmp has few locals around it. */
static int read_pdf(struct job *job, FILE *file) {
        fz_context *ctx = job->ctx;
        fz_stream *stream = NULL;

        fz_var(stream);
        fz_try(ctx) {
                stream = fz_open_file_ptr_no_close(ctx, file);
                job->doc = fz_open_document_with_stream(ctx, "application/pdf", stream);
                read_document(job);
        }
        fz_catch(ctx) {
                job->error_code = fz_caught(ctx);
                (void) snprintf(job->error_message, sizeof(job->error_message), "%s", fz_caught_message(ctx));
                job->failed = true;
        }

        fz_drop_document(ctx, job->doc);
        job->doc = NULL;
        fz_drop_stream(ctx, stream);
        fz_empty_store(ctx);
        return job->failed || job->failure != 0 ? -1 : 0;
}

int extract_pdf(fz_context *ctx, int pdf_fd, const char *pdf_name, const char *out_dir, bool staged,
                const struct profile *outputs, const char *password, int *ret_pages, const char **ret_text_layer,
                char **ret_error, int *ret_write_errno) {
        struct job job = { .ctx = ctx, .dirfd = -1, .staged = staged, .pr = outputs, .password = password };
        unsigned thumbnail_size = outputs ? outputs->thumb_size : 0;
        bool empty = false, facts_failed = false;
        FILE *file = NULL;
        int r;

        if (!ctx || pdf_fd < 0 || !pdf_name || !out_dir || !outputs || !ret_pages || !ret_text_layer || !ret_error ||
            !ret_write_errno)
                return -EINVAL;
        *ret_write_errno = 0;
        if (thumbnail_size < EXTRACT_THUMBNAIL_SIZE_MIN || thumbnail_size > EXTRACT_THUMBNAIL_SIZE_MAX) {
                *ret_error = xasprintf("thumbnail size %u is outside %u..%u", thumbnail_size,
                                       EXTRACT_THUMBNAIL_SIZE_MIN, EXTRACT_THUMBNAIL_SIZE_MAX);
                return -EINVAL;
        }

        r = open_pdf(pdf_fd, &file, &empty);
        if (r < 0) {
                *ret_error = xasprintf("cannot open file: %s",
                                       r == -EINVAL ? "not a regular file" : strerror(-r));
                return r;
        }
        if (empty) {
                /* Common (a copy not finished, a failed download), and mupdf's
                 * words for it ("cannot recognize version marker") do not say it. */
                (void) fclose(file);
                *ret_error = xstrdup("damaged PDF: the file is empty");
                return -EBADMSG;
        }
        job.dirfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (job.dirfd < 0) {
                r = -errno;
                *ret_error = xasprintf("cannot open the output directory: %s", strerror(-r));
                *ret_write_errno = -r;
                (void) fclose(file);
                return r;
        }
        out_file_init(&job.thumb, outputs->thumb_format == PROFILE_JPEG ? "thumb.jpg" : "thumb.png");
        out_file_init(&job.text, "text.txt");
        out_file_init(&job.meta_file, "meta.json");
        out_file_init(&job.stext_file, "stext.json");
        /* Only for measuring what they cost (bench/facts-cost.sh). */
        if (!getenv("PDFSPOOL_WORKER_NO_FACTS") && (outputs->on[PROFILE_FACTS] || outputs->on[PROFILE_TABLES])) {
                job.facts = facts_new();
                job.tables = tables_new();
        }

        diag_begin(ctx, pdf_name);
        job.damaged_pages = json_array();
        if (!job.damaged_pages) {
                job.error_code = FZ_ERROR_MEMORY;
                r = -1;
        } else
                r = read_pdf(&job, file);
        (void) fclose(file);

        if (r == 0 && job.facts) {
                r = write_facts_outputs(&job, pdf_name);
                if (r < 0) {
                        *ret_error = xasprintf("cannot write facts.json or tables: %s", strerror(-r));
                        *ret_write_errno = -r;
                        facts_failed = true;
                }
        }
        /* The renames are only durable once the directory is synced. Staged, one
         * syncfs puts every file and name on the disk at once, and reports a failed
         * writeback of any of them: its descriptor is older than the files. */
        if (facts_failed)
                ;
        else if (r == 0 && (staged ? syncfs(job.dirfd) : fsync(job.dirfd)) < 0) {
                r = -errno;
                *ret_error = xasprintf("cannot write the output directory: %s", strerror(-r));
                *ret_write_errno = -r;
        } else if (r < 0)
                r = job_error(&job, job.error_code, job.error_message, ret_error, ret_write_errno);
        if (r < 0) {
                out_file_remove(job.dirfd, &job.thumb);
                out_file_remove(job.dirfd, &job.text);
                out_file_remove(job.dirfd, &job.meta_file);
                out_file_remove(job.dirfd, &job.stext_file);
                remove_facts_outputs(job.dirfd);
        } else {
                *ret_pages = job.n_pages;
                *ret_text_layer = job.pages_with_text == 0 ? "none"
                                  : job.pages_with_text == job.n_pages ? "full" : "partial";
        }

        (void) close(job.dirfd);
        json_decref(job.meta);
        json_decref(job.damaged_pages);
        facts_free(job.facts);
        tables_free(job.tables);
        diag_end(ctx);
        return r;
}
