/* catalog-t.c: a batch's parts catalog from its jobs' facts.json, and the
 * comparison of two batches. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "fsutil.h"
#include "tap.h"
#include "util.h"

static void job(int batch_fd, const char *dir, const char *facts) {
        (void) fs_mkdirat_p(batch_fd, dir, 0755);
        int fd = openat(batch_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        (void) fs_write_atomic(fd, "facts.json", facts, strlen(facts), 0644, (gid_t) -1, 0);
        close(fd);
}

static int new_batch(char *tmpl) {
        return open(mkdtemp(tmpl), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int main(void) {
        char ta[] = "/tmp/catalog-t.XXXXXX", tb[] = "/tmp/catalog-t.XXXXXX", key[64], *data;
        int a = new_batch(ta), b = new_batch(tb);
        json_t *rows, *rows_b, *diff;
        size_t len;

        catalog_part_key("ads 1115idgs", key, sizeof(key));
        is_str(key, "ADS1115IDGS", "part keys ignore case and spaces");

        job(a, "ads1115",
            "{\"manufacturer\": {\"value\": \"Texas Instruments\"}, \"part_number\": {\"value\": \"ADS1115\", \"page\": 1},"
            " \"other_part_numbers\": [{\"value\": \"ADS1114\", \"page\": 2}],"
            " \"packages\": [{\"value\": \"VSSOP-10\"}], \"supply_voltage\": {\"min\": 2.0, \"max\": 5.5, \"unit\": \"V\"},"
            " \"revision\": {\"value\": \"D\"}}");
        job(a, "sub/ads1114", "{\"part_number\": {\"value\": \"ADS1114\", \"page\": 1}}");
        job(a, "broken", "{not json");
        ok(catalog_collect(a, &rows) == 0, "collected");
        is_int(json_array_size(rows), 2, "one row per part number (a part named twice once, bad JSON left out)");
        is_str(json_string_value(json_object_get(json_array_get(rows, 0), "part_number")), "ADS1114", "sorted by part");
        is_str(json_string_value(json_object_get(json_array_get(rows, 0), "job")), "sub/ads1114",
               "the job that has it as its primary part wins");
        is_str(json_string_value(json_object_get(json_array_get(rows, 1), "datasheet")), "ads1115.pdf",
               "the datasheet path inside the batch");
        json_decref(rows);

        is_int(catalog_rebuild(a, 0640, (gid_t) -1), 0, "rebuilt");
        ok(fs_read_file(a, "parts.csv", 1 << 20, &data, &len) == 0 &&
           strncmp(data, "part_number,manufacturer,description,package,packages,", 54) == 0 &&
           strstr(data, "\r\nADS1115,Texas Instruments,,VSSOP-10,VSSOP-10,,,2,5.5,ads1115.pdf,D,,1,ads1115\r\n"),
           "parts.csv: header and a row");
        free(data);
        ok(fs_read_file(a, "parts.jsonl", 1 << 20, &data, &len) == 0 && strchr(data, '\n') &&
           strchr(strchr(data, '\n') + 1, '\n') && !strstr(data, "primary"), "parts.jsonl: two lines");
        free(data);
        struct stat st;
        ok(fstatat(a, "parts.sqlite", &st, 0) == 0 && (st.st_mode & 0777) == 0640, "parts.sqlite with the mode asked");
        ok(fs_read_file(a, "parts.kicad_dbl", 1 << 20, &data, &len) == 0 && strstr(data, "\"odbc\"") &&
           strstr(data, "\"key\": \"MPN\""), "parts.kicad_dbl");
        free(data);

        job(b, "ads1115",
            "{\"manufacturer\": {\"value\": \"Texas Instruments\"}, \"part_number\": {\"value\": \"ADS1115\", \"page\": 1},"
            " \"packages\": [{\"value\": \"VSSOP-10\"}], \"supply_voltage\": {\"min\": 2.0, \"max\": 5.5, \"unit\": \"V\"},"
            " \"revision\": {\"value\": \"E\"}}");
        job(b, "ads1119", "{\"part_number\": {\"value\": \"ADS1119\", \"page\": 1}}");
        ok(catalog_collect(a, &rows) == 0 && catalog_collect(b, &rows_b) == 0, "both batches collected");
        diff = catalog_diff(rows, rows_b, -1, -1);
        is_int(json_array_size(json_object_get(diff, "added")), 1, "one part added");
        is_int(json_array_size(json_object_get(diff, "removed")), 1, "one part removed");
        json_t *change = json_array_get(json_object_get(diff, "changed"), 0);
        is_str(json_string_value(json_object_get(json_object_get(json_object_get(change, "facts"), "revision"), "new")), "E",
               "the revision that changed, with its new value");
        is_int(json_array_size(json_object_get(diff, "changed")), 1, "only the changed part listed as changed");
        json_decref(diff);
        json_decref(rows);
        json_decref(rows_b);

        /* a job folder that cannot be read is an error, never a shorter catalog */
        if (geteuid() != 0) {
                (void) fchmodat(a, "sub/ads1114", 0, 0);
                ok(catalog_collect(a, &rows) == -EACCES, "an unreadable job folder fails the catalog");
                (void) fchmodat(a, "sub/ads1114", 0755, 0);
        } else
                skip("running as root: permissions do not stop reading");

        (void) fs_remove_tree(AT_FDCWD, ta);
        (void) fs_remove_tree(AT_FDCWD, tb);
        close(a);
        close(b);
        return done_testing();
}
