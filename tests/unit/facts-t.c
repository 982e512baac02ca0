/* facts-t.c: the worker's pure parts without mupdf: vendor names, CSV,
 * reading order across columns, tables rebuilt from positions, facts from
 * positioned text. Pages are built by hand, character by character, as
 * extract.c does from mupdf's structured text. */
#include <jansson.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "facts.h"
#include "fsutil.h"
#include "layout.h"
#include "tables.h"
#include "tap.h"
#include "util.h"
#include "vendors.h"
#include "wording.h"

/* One line of TEXT at X, baseline Y, SIZE points; "|" starts a new cell
 * 60 points further right (a column gap). Characters are 0.5 em wide. */
static void put_line(struct layout_page *p, int block, float x, float y, float size, const char *text) {
        float w = 0.5f * size;
        const char *s;

        layout_line_begin(p, block);
        for (s = text; *s; s++) {
                const unsigned char *u = (const unsigned char *) s;
                int c = u[0];

                if (*s == '|') {
                        x += 60;
                        continue;
                }
                /* UTF-8 to a code point, as mupdf hands them over */
                if (c >= 0xE0) {
                        c = (c & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F);
                        s += 2;
                } else if (c >= 0xC0) {
                        c = (c & 0x1F) << 6 | (u[1] & 0x3F);
                        s += 1;
                }
                layout_char_add(p, c, x, y - size, x + w, y, y, size, false);
                x += w;
        }
        layout_line_end(p);
}

static void vendors(void) {
        is_str(vendor_normalize("TI"), "Texas Instruments", "TI is Texas Instruments");
        is_str(vendor_normalize("www.ti.com"), "Texas Instruments", "www.ti.com is Texas Instruments");
        is_str(vendor_normalize("http://www.analog.com/en/index.html"), "Analog Devices", "a web address");
        is_str(vendor_normalize("ADI"), "Analog Devices", "ADI");
        is_str(vendor_normalize("maximintegrated.com"), "Maxim Integrated", "Maxim stays Maxim Integrated");
        is_str(vendor_normalize("Linear Technology"), "Analog Devices", "Linear Technology is Analog Devices");
        is_str(vendor_normalize("st.com"), "STMicroelectronics", "st.com");
        is_str(vendor_normalize("Atmel"), "Microchip Technology", "Atmel is Microchip Technology");
        is_str(vendor_normalize("Texas Instruments Incorporated"), "Texas Instruments", "a longer name");
        ok(vendor_normalize("ti") == NULL, "short aliases are case-sensitive: 'ti' is no vendor");
        ok(vendor_normalize("multi.com") == NULL, "a domain only at a name boundary");
        ok(vendor_normalize("Acme Widgets") == NULL, "an unknown name is not normalised");
}

static void csv(void) {
        const char *fields[] = { "plain", "a, comma", "a \"quote\"", "two\nlines", NULL };
        struct csv_buf b = { 0 };
        const char *p;
        char **got;
        size_t n, i;

        csv_append_record(&b, fields, 5);
        is_str(b.data, "plain,\"a, comma\",\"a \"\"quote\"\"\",\"two\nlines\",\r\n", "RFC 4180 quoting, CRLF");
        p = b.data;
        n = csv_next_record(&p, &got, 16);
        is_int(n, 5, "read back: five fields");
        for (i = 0; i < 4 && n == 5; i++)
                is_str(got[i], fields[i], "field %zu read back", i);
        ok(n == 5 && got[4][0] == 0, "an empty field");
        for (i = 0; i < n; i++)
                free(got[i]);
        free(got);
        is_int(csv_next_record(&p, &got, 16), 0, "then the end");
        csv_buf_free(&b);
}

static void columns(void) {
        struct layout_page p;
        char buf[256];
        unsigned i, mixed = 0, first_right = 0, last_left = 0;

        layout_page_init(&p, 2, 595, 842);
        put_line(&p, 0, 50, 60, 14, "A heading that runs across the whole page width");
        /* one mupdf line per row holding both columns, as many PDFs draw them */
        for (i = 0; i < 8; i++) {
                char text[128];

                (void) snprintf(text, sizeof(text), "left column prose line %u here|right column prose line %u", i, i);
                put_line(&p, 1, 50, 100 + 14 * i, 10, text);
        }
        layout_page_order(&p);
        for (i = 0; i < p.n_lines; i++) {
                layout_line_text(&p, &p.lines[p.order[i]], buf, sizeof(buf));
                if (strstr(buf, "left") && strstr(buf, "right"))
                        mixed++;
                if (strstr(buf, "left column prose line 7"))
                        last_left = i;
                if (strstr(buf, "right column prose line 0"))
                        first_right = i;
        }
        is_int(mixed, 0, "no line mixes the two columns");
        ok(last_left < first_right, "the left column is read before the right one");
        layout_line_text(&p, &p.lines[p.order[0]], buf, sizeof(buf));
        ok(strstr(buf, "heading") != NULL, "the full-width heading first");
        layout_page_done(&p);

        layout_page_init(&p, 1, 595, 842);
        for (i = 0; i < 3; i++)
                put_line(&p, 0, 50, 100 + 14 * i, 10, "one column of text, no gutter to split at");
        layout_page_order(&p);
        is_int(p.n_lines, 3, "a one-column page keeps its lines");
        ok(p.lines[0].column == 0, "and no column");
        layout_page_done(&p);
}

static void table(void) {
        struct layout_page p;
        struct tables *t = tables_new();
        char dir[] = "/tmp/facts-t.XXXXXX", *data = NULL;
        size_t len;
        int fd;

        is_int(tables_heading_kind("7.1 Absolute Maximum Ratings"), TABLE_ABSOLUTE_MAXIMUM_RATINGS, "a numbered heading");
        is_int(tables_heading_kind("Table 5. Electrical Characteristics (continued)"), TABLE_ELECTRICAL_CHARACTERISTICS,
               "a table caption");
        is_int(tables_heading_kind("Pin Descriptions"), TABLE_PIN_DESCRIPTIONS, "pin descriptions");
        is_int(tables_heading_kind("Recommended Operating Conditions ........ 6"), -1, "not a table of contents entry");
        is_int(tables_heading_kind("Stresses beyond those listed under Absolute Maximum Ratings may cause damage. See"), -1,
               "not a sentence");

        layout_page_init(&p, 5, 595, 842);
        put_line(&p, 0, 50, 80, 12, "Absolute Maximum Ratings");
        put_line(&p, 1, 50, 110, 9, "PARAMETER");
        put_line(&p, 1, 300, 110, 9, "MIN");
        put_line(&p, 1, 380, 110, 9, "MAX");
        put_line(&p, 1, 460, 110, 9, "UNIT");
        put_line(&p, 2, 50, 130, 9, "Supply voltage, VDD");
        put_line(&p, 2, 300, 130, 9, "-0.3");
        put_line(&p, 2, 380, 130, 9, "7");
        put_line(&p, 2, 462, 130, 9, "V");
        put_line(&p, 3, 50, 150, 9, "Input current, momentary");
        put_line(&p, 3, 300, 150, 9, "-10");
        put_line(&p, 3, 380, 150, 9, "10");
        put_line(&p, 3, 460, 150, 9, "mA");
        put_line(&p, 4, 50, 159, 9, "on any pin");
        layout_page_order(&p);
        tables_add_page(t, &p);
        is_int(tables_count(t), 1, "one table found by its heading");
        fd = open(mkdtemp(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        is_int(tables_write(t, fd, 0), 0, "tables written");
        ok(fs_read_file(fd, "tables/01-absolute-maximum-ratings.csv", 1 << 20, &data, &len) == 0, "its CSV");
        is_str(data, "PARAMETER,MIN,MAX,UNIT\r\n\"Supply voltage, VDD\",-0.3,7,V\r\n"
                     "\"Input current, momentary on any pin\",-10,10,mA\r\n",
               "columns from x-ranges, rows from baselines, the wrapped cell joined");
        free(data);
        ok(fs_read_file(fd, "tables.json", 1 << 20, &data, &len) == 0 && strstr(data, "\"rows\": 2") &&
           strstr(data, "\"page\": 5") && strstr(data, "\"kind\": \"absolute_maximum_ratings\""),
           "tables.json lists it");
        free(data);
        (void) fs_remove_tree(fd, "tables");
        (void) unlinkat(fd, "tables.json", 0);
        close(fd);
        (void) rmdir(dir);
        tables_free(t);
        layout_page_done(&p);
}

static void facts(void) {
        struct layout_page p;
        struct facts *f = facts_new();
        json_t *j;

        layout_page_init(&p, 1, 595, 842);
        put_line(&p, 0, 50, 80, 28, "XYZ9876");
        put_line(&p, 1, 50, 110, 16, "Precision Low-Noise Voltage Reference");
        put_line(&p, 2, 50, 150, 10, "Supply range: 2.7 V to 5.5 V");
        put_line(&p, 2, 50, 165, 10, "Storage temperature: -65 \xC2\xB0" "C to 150 \xC2\xB0" "C");
        put_line(&p, 2, 50, 180, 10, "Operating temperature: \xE2\x88\x92" "40\xC2\xB0" "C to +85\xC2\xB0" "C");
        put_line(&p, 2, 50, 195, 10, "8-pin SOIC and MSOP-8 packages");
        put_line(&p, 3, 50, 820, 8, "www.analog.com     Rev. B");
        layout_page_order(&p);
        facts_add_page(f, &p);
        j = facts_json(f);
        is_str(json_string_value(json_object_get(json_object_get(j, "part_number"), "value")), "XYZ9876",
               "part number: the largest text on page 1");
        is_str(json_string_value(json_object_get(json_object_get(j, "manufacturer"), "value")), "Analog Devices",
               "manufacturer from its web domain");
        is_str(json_string_value(json_object_get(json_object_get(j, "description"), "value")),
               "Precision Low-Noise Voltage Reference", "description: the title under the part number");
        ok(json_real_value(json_object_get(json_object_get(j, "supply_voltage"), "min")) == 2.7 &&
           json_real_value(json_object_get(json_object_get(j, "supply_voltage"), "max")) == 5.5,
           "supply voltage 2.7 to 5.5");
        ok(json_real_value(json_object_get(json_object_get(j, "temperature"), "min")) == -40 &&
           json_real_value(json_object_get(json_object_get(j, "temperature"), "max")) == 85,
           "the operating temperature, not the storage one, with a minus sign");
        is_str(json_string_value(json_object_get(json_object_get(j, "revision"), "value")), "B", "revision from the footer");
        ok(json_object_get(j, "date") == NULL, "no date stated, none given");
        ok(json_integer_value(json_object_get(json_object_get(j, "pin_count"), "value")) == 8, "pin count 8");
        json_decref(j);
        facts_free(f);
        layout_page_done(&p);

        /* a page of nothing but noise gives no facts at all */
        f = facts_new();
        layout_page_init(&p, 1, 595, 842);
        put_line(&p, 0, 50, 80, 10, "lorem ipsum dolor sit amet");
        layout_page_order(&p);
        facts_add_page(f, &p);
        j = facts_json(f);
        is_int(json_object_size(j), 0, "nothing found, nothing guessed");
        json_decref(j);
        facts_free(f);
        layout_page_done(&p);
}

static void wording(void) {
        double a = 0, b = 0;
        const char *at;
        char norm[128];
        int y = 0;

        wording_normalize("\xE2\x88\x92" "40\xC2\xB0" "C to +125\xC2\xB0" "C", norm, sizeof(norm));
        is_str(norm, "-40C to +125C", "minus and degree signs made ASCII");
        ok(wording_range(norm, 'C', &a, &b, &at) && a == -40 && b == 125, "a temperature range");
        ok(wording_range("VDD = 1.71 V ~ 3.6 V", 'V', &a, &b, &at) && a == 1.71 && b == 3.6, "a voltage range with ~");
        ok(!wording_range("3.3 V and 5 V", 'V', &a, &b, &at), "two values are no range");
        ok(!wording_range("10 mV to 20 mV", 'V', &a, &b, &at), "millivolts are not volts");
        ok(wording_part_shaped("ADS1115") && wording_part_shaped("nRF24L01") && wording_part_shaped("SKY65313-21"),
           "part numbers are part-shaped");
        ok(!wording_part_shaped("I2C") && !wording_part_shaped("PA10") && !wording_part_shaped("QFN32") &&
           !wording_part_shaped("125C") && !wording_part_shaped("GPIO12"),
           "an interface, a pin, a package, a value are not");
        ok(wording_is_package("SOT-23-5") && wording_is_package("VSSOP-10") && !wording_is_package("TSOP75338"),
           "package names");
        is_int(wording_month("Sept"), 9, "Sept");
        is_int(wording_month("Marking"), 0, "a word that starts like a month is none");
        is_int(wording_month("December"), 12, "December");
        is_int(wording_month_dashed("26-Apr-2018", &y), 4, "26-Apr-2018");
        is_int(y, 2018, "its year");
}

static void table_rows(void) {
        const char *header[] = { "Parameter", "Min", "Typ", "Max", "Unit" };
        const char *temp[] = { "Operating ambient temperature", "\xE2\x80\x93" "40", NULL, "105", "\xC2\xB0" "C" };
        const char *storage[] = { "Storage temperature", "-65", NULL, "150", "\xC2\xB0" "C" };
        const char *abs_supply[] = { "Supply voltage", "-0.3", NULL, "6", "V" };
        struct facts *f = facts_new();
        json_t *j;

        facts_add_table_row(f, TABLE_ABSOLUTE_MAXIMUM_RATINGS, 4, header, storage, 5);
        facts_add_table_row(f, TABLE_ABSOLUTE_MAXIMUM_RATINGS, 4, header, abs_supply, 5);
        facts_add_table_row(f, TABLE_RECOMMENDED_OPERATING_CONDITIONS, 5, header, temp, 5);
        j = facts_json(f);
        ok(json_real_value(json_object_get(json_object_get(j, "temperature"), "min")) == -40 &&
           json_real_value(json_object_get(json_object_get(j, "temperature"), "max")) == 105 &&
           json_integer_value(json_object_get(json_object_get(j, "temperature"), "page")) == 5,
           "the operating temperature row of a table, not the storage one");
        ok(json_object_get(j, "supply_voltage") == NULL, "an absolute maximum supply is no operating range");
        json_decref(j);
        facts_free(f);
}

static void bounded(void) {
        struct layout_page p;
        unsigned i;

        layout_page_init(&p, 1, 595, 842);
        for (i = 0; i < LAYOUT_MAX_LINES_PER_PAGE + 10; i++) {
                layout_line_begin(&p, 0);
                layout_char_add(&p, 'x', 10, 10, 15, 20, 20, 10, false);
                layout_line_end(&p);
        }
        ok(p.n_lines == LAYOUT_MAX_LINES_PER_PAGE && p.truncated, "lines per page are capped");
        layout_page_done(&p);
}

int main(void) {
        vendors();
        csv();
        columns();
        table();
        facts();
        wording();
        table_rows();
        bounded();
        return done_testing();
}
