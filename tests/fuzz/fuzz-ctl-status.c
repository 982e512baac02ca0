/* fuzz-ctl-status: libFuzzer target for the status reader of pdfspoolctl: the
 * commands "list", "status BATCH" (plain and --json) and "health" read status
 * files from the outbox, which anyone who can write there may have planted.
 * Built by ./configure CC=clang --enable-fuzzing.
 *
 * pdfspoolctl.c is included with its main renamed, so the target runs the real
 * commands over a spool made once in a temp dir. The input, up to its first NUL
 * byte, is the batch's status.json; what follows (or the same bytes when there is
 * no NUL) is a job's status.json one folder down. Its output goes to /dev/null; any
 * crash, sanitizer report or leak is a finding. */
int pdfspoolctl_main(int argc, char **argv);
#define main pdfspoolctl_main
#include "../../src/pdfspoolctl.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char cfg[256], batch_status[256], job_status[256];

static void setup(void) {
        char dir[] = "/tmp/fuzz-ctl-status.XXXXXX";
        FILE *f;

        if (!mkdtemp(dir))
                abort();
        snprintf(cfg, sizeof(cfg), "%s/pdfspool.yaml", dir);
        snprintf(batch_status, sizeof(batch_status), "%s/outbox/b/status.json", dir);
        snprintf(job_status, sizeof(job_status), "%s/outbox/b/j/status.json", dir);
        char *mk = xasprintf("mkdir -p %s/inbox %s/outbox/b/j %s/state", dir, dir, dir);
        if (system(mk) != 0)
                abort();
        free(mk);
        f = fopen(cfg, "we");
        if (!f)
                abort();
        fprintf(f, "state_dir: %s/state\nqueues:\n  q:\n    inbox: %s/inbox\n    outbox: %s/outbox\n", dir, dir, dir);
        fclose(f);
        /* stdout only: libFuzzer and the sanitizers report on stderr */
        if (!freopen("/dev/null", "w", stdout))
                abort();
}

static void put(const char *path, const uint8_t *data, size_t size) {
        FILE *f = fopen(path, "we");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
                abort();
}

static void run(const char *a, const char *b, const char *c) {
        char *argv[] = { (char *) "pdfspoolctl", (char *) "-c", cfg, (char *) a, (char *) b, (char *) c, NULL };
        int argc = 3 + (a != NULL) + (b != NULL) + (c != NULL);
        optind = 0;                             /* getopt starts afresh */
        (void) pdfspoolctl_main(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul;

        if (!cfg[0])
                setup();
        nul = memchr(data, 0, size);
        put(batch_status, data, nul ? (size_t) (nul - data) : size);
        if (nul)
                put(job_status, nul + 1, size - (size_t) (nul - data) - 1);
        else
                put(job_status, data, size);
        run("list", NULL, NULL);
        run("list", "--json", NULL);
        run("status", "b", NULL);
        run("status", "--json", "b");
        run("health", NULL, NULL);
        return 0;
}
