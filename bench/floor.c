/* bench/floor: the one-parse floor for bench/run (issue 11).
 *
 * Opens each PDF once and writes the three outputs every contender writes:
 * info.txt (page count, metadata, page sizes: what `mutool info` shows),
 * text.txt (mupdf's text, one form feed between pages) and thumb.png (page 1,
 * longest side SIZE pixels), with JOBS processes taking files from a shared
 * counter, as pdfspool's workers and the shell pipeline's xargs -P do. No
 * sandbox, no status, no facts: the least any such program has to do.
 *
 *   floor [-j JOBS] [-s SIZE] -o OUTDIR PDF...
 * prints "files N pages P seconds S" (wall time from start to the last exit).
 * Not installed; built by `make bench/floor` (EXTRA_PROGRAMS) or by bench/run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mupdf/fitz.h>

struct shared {
        int next;       /* the next file to take */
        long pages;     /* pages read, all processes */
        int failed;
};

static void write_info(fz_context *ctx, fz_document *doc, int pages, const char *path) {
        static const char *const keys[] = { "info:Title", "info:Author", "info:Subject", "info:Creator",
                                            "info:Producer", "info:CreationDate", "info:ModDate", "format" };
        fz_output *out = fz_new_output_with_path(ctx, path, 0);
        char buf[512];
        fz_try(ctx) {
                fz_write_printf(ctx, out, "pages: %d\n", pages);
                for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                        if (fz_lookup_metadata(ctx, doc, keys[i], buf, sizeof buf) > 0)
                                fz_write_printf(ctx, out, "%s: %s\n", keys[i], buf);
                fz_close_output(ctx, out);
        }
        fz_always(ctx)
                fz_drop_output(ctx, out);
        fz_catch(ctx)
                fz_rethrow(ctx);
}

/* page 1 scaled so that its longest side is SIZE pixels */
static void write_thumb(fz_context *ctx, fz_page *page, int size, const char *path) {
        fz_rect r = fz_bound_page(ctx, page);
        float w = r.x1 - r.x0, h = r.y1 - r.y0, longest = w > h ? w : h;
        float zoom = longest > 0 ? size / longest : 1;
        fz_pixmap *pix = fz_new_pixmap_from_page(ctx, page, fz_scale(zoom, zoom), fz_device_rgb(ctx), 0);
        fz_try(ctx)
                fz_save_pixmap_as_png(ctx, pix, path);
        fz_always(ctx)
                fz_drop_pixmap(ctx, pix);
        fz_catch(ctx)
                fz_rethrow(ctx);
}

static int one_pdf(fz_context *ctx, const char *pdf, const char *dir, int size) {
        char path[4096];
        fz_document *doc = NULL;
        fz_output *text = NULL;
        fz_page *page = NULL;
        fz_stext_page *st = NULL;
        int pages = -1;

        fz_var(pages);

        fz_var(doc);
        fz_var(text);
        fz_var(page);
        fz_var(st);
        fz_try(ctx) {
                doc = fz_open_document(ctx, pdf);
                pages = fz_count_pages(ctx, doc);
                snprintf(path, sizeof path, "%s/info.txt", dir);
                write_info(ctx, doc, pages, path);
                snprintf(path, sizeof path, "%s/text.txt", dir);
                text = fz_new_output_with_path(ctx, path, 0);
                for (int i = 0; i < pages; i++) {
                        page = fz_load_page(ctx, doc, i);
                        if (i > 0)
                                fz_write_byte(ctx, text, '\f');
                        st = fz_new_stext_page_from_page(ctx, page, NULL);
                        fz_print_stext_page_as_text(ctx, text, st);
                        fz_drop_stext_page(ctx, st);
                        st = NULL;
                        if (i == 0) {
                                snprintf(path, sizeof path, "%s/thumb.png", dir);
                                write_thumb(ctx, page, size, path);
                        }
                        fz_drop_page(ctx, page);
                        page = NULL;
                }
                fz_close_output(ctx, text);
        }
        fz_always(ctx) {
                fz_drop_stext_page(ctx, st);
                fz_drop_page(ctx, page);
                fz_drop_output(ctx, text);
                fz_drop_document(ctx, doc);
        }
        fz_catch(ctx) {
                fprintf(stderr, "floor: %s: %s\n", pdf, fz_caught_message(ctx));
                return -1;
        }
        return pages;
}

static void worker(struct shared *sh, char **pdfs, int n, const char *outdir, int size) {
        fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
        if (!ctx)
                _exit(1);
        fz_register_document_handlers(ctx);
        fz_set_warning_callback(ctx, NULL, NULL);
        for (;;) {
                int i = __atomic_fetch_add(&sh->next, 1, __ATOMIC_RELAXED);
                char dir[4096];
                if (i >= n)
                        break;
                snprintf(dir, sizeof dir, "%s/%d", outdir, i);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        __atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
                        continue;
                }
                int pages = one_pdf(ctx, pdfs[i], dir, size);
                if (pages < 0)
                        __atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
                else
                        __atomic_fetch_add(&sh->pages, pages, __ATOMIC_RELAXED);
        }
        fz_drop_context(ctx);
        _exit(0);
}

int main(int argc, char **argv) {
        int jobs = (int) sysconf(_SC_NPROCESSORS_ONLN), size = 256, c;
        const char *outdir = NULL;
        struct timespec t0, t1;

        while ((c = getopt(argc, argv, "j:s:o:")) != -1) {
                switch (c) {
                case 'j': jobs = atoi(optarg); break;
                case 's': size = atoi(optarg); break;
                case 'o': outdir = optarg; break;
                default: goto usage;
                }
        }
        if (!outdir || optind >= argc || jobs < 1 || size < 1)
                goto usage;
        struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
                perror("floor: mmap");
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int k = 0; k < jobs; k++) {
                pid_t pid = fork();
                if (pid < 0) {
                        perror("floor: fork");
                        return 1;
                }
                if (pid == 0)
                        worker(sh, argv + optind, argc - optind, outdir, size);
        }
        int bad = 0, st;
        while (wait(&st) > 0)
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        bad = 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("files %d pages %ld failed %d seconds %.3f\n", argc - optind - sh->failed, sh->pages, sh->failed,
               (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        return bad || sh->failed ? 1 : 0;
usage:
        fprintf(stderr, "usage: floor [-j JOBS] [-s SIZE] -o OUTDIR PDF...\n");
        return 2;
}
