#!/bin/bash
# A datasheet made with mutool create (a title with a part number and a
# vendor's web address, a two-column page, an Absolute Maximum Ratings table)
# gets facts.json, tables.json and tables/*.csv; text.txt reads each column
# top to bottom without mixing them; pdfspoolctl parts lists the parts and
# diff tells a changed value, an added and a removed part between two batches.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"

# datasheet FILE PART MAXVOLT OTHER: three pages
datasheet() {
        local file=$1 part=$2 vmax=$3 other=$4 d; d=$(mktemp -d "$T/ds.XXXXXX")
        {
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\n%%%%Font F2 Helvetica-Bold\n'
                printf 'BT /F2 28 Tf 50 760 Td (%s) Tj ET\n' "$part"
                printf 'BT /F1 16 Tf 50 730 Td (Ultra-Low-Power 16-Bit Analog-to-Digital Converter) Tj ET\n'
                printf 'BT /F2 10 Tf 50 690 Td (FEATURES) Tj ET\n'
                printf 'BT /F1 10 Tf 50 675 Td (Supply voltage range: 2.0 V to 5.5 V) Tj ET\n'
                printf 'BT /F1 10 Tf 50 660 Td (Operating temperature range: -40 \260C to +125 \260C) Tj ET\n'
                printf 'BT /F1 10 Tf 50 645 Td (Available in a VSSOP-10 package) Tj ET\n'
                printf 'BT /F2 10 Tf 50 600 Td (ORDERING INFORMATION) Tj ET\n'
                printf 'BT /F1 10 Tf 50 585 Td (%s) Tj 150 0 Td (VSSOP-10) Tj ET\n' "$part"
                printf 'BT /F1 10 Tf 50 570 Td (%s) Tj 150 0 Td (VSSOP-10) Tj ET\n' "$other"
                printf 'BT /F1 8 Tf 50 40 Td (www.ti.com      Copyright 2024, Texas Instruments Incorporated) Tj ET\n'
        } > "$d/p1.txt"
        {
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\n'
                printf 'BT /F1 14 Tf 50 780 Td (Detailed Description Across Both Columns Of This Page) Tj ET\n'
                for i in 1 2 3 4 5 6 7 8; do
                        printf 'BT /F1 10 Tf 50 %d Td (LEFTCOL line %d of the left column text) Tj ET\n' $((740 - i * 14)) "$i"
                        printf 'BT /F1 10 Tf 320 %d Td (RIGHTCOL line %d of the right column text) Tj ET\n' $((740 - i * 14)) "$i"
                done
                printf 'BT /F1 8 Tf 50 40 Td (%s     www.ti.com) Tj ET\n' "$part"
        } > "$d/p2.txt"
        {
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\n%%%%Font F2 Helvetica-Bold\n'
                printf 'BT /F2 12 Tf 50 780 Td (7.1 Absolute Maximum Ratings) Tj ET\n'
                printf 'BT /F2 9 Tf 50 750 Td (PARAMETER) Tj 250 0 Td (MIN) Tj 80 0 Td (MAX) Tj 80 0 Td (UNIT) Tj ET\n'
                printf 'BT /F1 9 Tf 50 730 Td (Power-supply voltage, VDD to GND) Tj 250 0 Td (-0.3) Tj 80 0 Td (%s) Tj 80 0 Td (V) Tj ET\n' "$vmax"
                printf 'BT /F1 9 Tf 50 710 Td (Analog input current, momentary) Tj 250 0 Td (-10) Tj 80 0 Td (10) Tj 80 0 Td (mA) Tj ET\n'
                printf 'BT /F1 9 Tf 50 700 Td (except on the reference pins) Tj ET\n'
                printf 'BT /F1 9 Tf 50 680 Td (Storage temperature, Tstg) Tj 250 0 Td (-60) Tj 80 0 Td (150) Tj 80 0 Td (\260C) Tj ET\n'
                printf 'BT /F1 8 Tf 50 40 Td (%s     www.ti.com) Tj ET\n' "$part"
        } > "$d/p3.txt"
        mutool create -o "$file" "$d/p1.txt" "$d/p2.txt" "$d/p3.txt" >/dev/null 2>&1
        rm -rf "$d"
}

write_config 1s
start_daemon || bail "daemon did not start"

mkdir -p "$T/a" "$T/b"
datasheet "$T/a/acme1234.pdf" ACME1234 7 ACME1230
datasheet "$T/b/acme1234.pdf" ACME1234 6.5 ACME1230
datasheet "$T/b/acme5678.pdf" ACME5678 7 ACME5670
cp -r "$T/a" "$INBOX/2023"
cp -r "$T/b" "$INBOX/2024"
check "both batches finish" wait_batch_done 2023 && wait_batch_done 2024
j=$OUTBOX/2023/acme1234

check "facts.json: manufacturer from the web address and the copyright line" \
        jq -e '.manufacturer.value == "Texas Instruments" and .manufacturer.page == 1' "$j/facts.json"
check "facts.json: part number from the largest text on page 1" \
        jq -e '.part_number.value == "ACME1234" and .part_number.page == 1 and .part_number.confidence > 0.5' "$j/facts.json"
check "facts.json: other part number" jq -e '[.other_part_numbers[]?.value] | index("ACME1230") != null' "$j/facts.json"
check "facts.json: description from the title" \
        jq -e '.description.value == "Ultra-Low-Power 16-Bit Analog-to-Digital Converter"' "$j/facts.json"
check "facts.json: supply voltage as numbers and a unit" \
        jq -e '.supply_voltage | .min == 2 and .max == 5.5 and .unit == "V" and .page == 1 and (.source | test("Supply"))' "$j/facts.json"
check "facts.json: operating (not storage) temperature" \
        jq -e '.temperature | .min == -40 and .max == 125 and .unit == "°C"' "$j/facts.json"
check "facts.json: package and pin count" \
        jq -e '([.packages[]?.value] | index("VSSOP-10") != null) and .pin_count.value == 10' "$j/facts.json"
check "facts.json: nothing guessed (no revision, no date in the PDF)" jq -e 'has("revision") == false and has("date") == false' "$j/facts.json"

check "tables.json lists the Absolute Maximum Ratings table on page 3" \
        jq -e '.tables[0] | .kind == "absolute_maximum_ratings" and .page == 3 and .file == "tables/01-absolute-maximum-ratings.csv" and .columns == ["PARAMETER","MIN","MAX","UNIT"] and .rows == 3' "$j/tables.json"
csv=$j/tables/01-absolute-maximum-ratings.csv
check "CSV: header row first" test "$(head -1 "$csv" | tr -d '\r')" = "PARAMETER,MIN,MAX,UNIT"
check "CSV: a row with values as printed" grep -q '^"Power-supply voltage, VDD to GND",-0.3,7,V' "$csv"
check "CSV: a wrapped cell joined into its row" grep -q '^"Analog input current, momentary except on the reference pins",-10,10,mA' "$csv"
check "tables/ has the queue's dir mode, its CSV the file mode" \
        test "$(stat -c %a "$j/tables")" = 755 -a "$(stat -c %a "$csv")" = 644

page2=$(awk 'BEGIN { RS = "\f" } NR == 2' "$j/text.txt")
check "text.txt: no line mixes the two columns" sh -c "! printf '%s\n' \"\$1\" | grep -q 'LEFTCOL.*RIGHTCOL\|RIGHTCOL.*LEFTCOL'" - "$page2"
last_left=$(printf '%s\n' "$page2" | grep -n 'LEFTCOL line 8' | cut -d: -f1)
first_right=$(printf '%s\n' "$page2" | grep -n 'RIGHTCOL line 1' | cut -d: -f1)
check "text.txt: the left column top to bottom, then the right one" test "${last_left:-99}" -lt "${first_right:-0}"
check "text.txt: the full-width heading first" sh -c "printf '%s\n' \"\$1\" | head -1 | grep -q 'Detailed Description'" - "$page2"

# The daemon writes the catalog as jobs end and once more when the batch finishes.
check "the daemon wrote the batch's parts catalog by itself (parts.csv, parts.jsonl)" \
        wait_for 30 sh -c "grep -q ACME1234 '$OUTBOX/2023/parts.csv' && grep -q ACME1234 '$OUTBOX/2023/parts.jsonl'"
parts=$("$PDFSPOOLCTL" -c "$CFG" parts 2023 2>&1)
check "pdfspoolctl parts lists the parts" sh -c "printf '%s' \"\$1\" | grep -q '^ACME1234 .*Texas Instruments.*VSSOP-10.*acme1234/acme1234.pdf'" - "$parts"
check "parts.csv, parts.jsonl, parts.sqlite and parts.kicad_dbl written" \
        test -s "$OUTBOX/2023/parts.csv" -a -s "$OUTBOX/2023/parts.jsonl" -a -s "$OUTBOX/2023/parts.sqlite" -a -s "$OUTBOX/2023/parts.kicad_dbl"
check "parts.jsonl: one row per part number" test "$(jq -s 'map(.part_number) | sort | join(",")' -r "$OUTBOX/2023/parts.jsonl")" = "ACME1230,ACME1234"
check "parts.csv: header and rows" sh -c "head -1 '$OUTBOX/2023/parts.csv' | grep -q '^part_number,manufacturer,description,package' && test \$(wc -l < '$OUTBOX/2023/parts.csv') -eq 3"
check "parts.kicad_dbl points at parts.sqlite through ODBC" \
        jq -e '.source.type == "odbc" and (.source.connection_string | test("parts.sqlite")) and .libraries[0].table == "parts" and .libraries[0].key == "MPN"' "$OUTBOX/2023/parts.kicad_dbl"
if command -v sqlite3 >/dev/null; then
        check "parts.sqlite: the rows with KiCad's field names" \
                test "$(sqlite3 "$OUTBOX/2023/parts.sqlite" "select MPN || '|' || Manufacturer || '|' || Package from parts where MPN = 'ACME1234'")" = "ACME1234|Texas Instruments|VSSOP-10"
else
        diag "sqlite3 not installed: parts.sqlite's rows not read back"
fi
check "pdfspoolctl parts --json: JSON lines" sh -c "'$PDFSPOOLCTL' -c '$CFG' parts 2023 --json | jq -e -s 'length == 2'"

diff_json=$("$PDFSPOOLCTL" -c "$CFG" diff 2023 2024 --json 2>&1)
check "diff: the added parts" sh -c "printf '%s' \"\$1\" | jq -e '[.added[].part_number] | sort == [\"ACME5670\", \"ACME5678\"]'" - "$diff_json"
check "diff: nothing removed" sh -c "printf '%s' \"\$1\" | jq -e '.removed == []'" - "$diff_json"
check "diff: the changed table value, with its row and column" \
        sh -c "printf '%s' \"\$1\" | jq -e '.changed[] | select(.part_number == \"ACME1234\") | .tables[] | select(.kind == \"absolute_maximum_ratings\" and .column == \"MAX\" and .old == \"7\" and .new == \"6.5\")'" - "$diff_json"
check "diff: in words" sh -c "'$PDFSPOOLCTL' -c '$CFG' diff 2023 2024 | grep -q '^+ ACME5678'"
check "diff: unknown batch fails" sh -c "! '$PDFSPOOLCTL' -c '$CFG' diff 2023 nosuch 2>/dev/null"

# The shared datasheets, when present: every done job has its facts and tables.
corpus=$(corpus_dir)
if [ -n "$corpus" ] && [ -d "$corpus/datasheets" ]; then
        cp -r "$corpus/datasheets" "$INBOX/sheets"
        check "the shared datasheets finish" wait_batch_done sheets 300
        n=$(find "$OUTBOX/sheets" -mindepth 2 -name status.json -exec jq -r 'select(.state == "done") | .job' {} + | wc -l)
        with=$(find "$OUTBOX/sheets" -mindepth 2 -name facts.json | wc -l)
        check "every done datasheet has facts.json ($with of $n)" test "$with" -eq "$n" -a "$n" -gt 0
        check "every done datasheet has tables.json" test "$(find "$OUTBOX/sheets" -mindepth 2 -name tables.json | wc -l)" -eq "$n"
        missing=0
        for t in $(find "$OUTBOX/sheets" -mindepth 2 -name tables.json); do
                for f in $(jq -r '.tables[].file' "$t"); do
                        [ -s "$(dirname "$t")/$f" ] || missing=$((missing + 1))
                done
        done
        check "every table tables.json lists has its CSV" test "$missing" -eq 0
        both=$(find "$OUTBOX/sheets" -mindepth 2 -name facts.json -exec jq -e 'has("manufacturer") and has("part_number")' {} \; 2>/dev/null | grep -c true)
        check "most datasheets have a manufacturer and a part number ($both of $n)" test "$both" -ge $((n * 9 / 10))
        rows=$("$PDFSPOOLCTL" -c "$CFG" parts sheets --json | wc -l)
        check "pdfspoolctl parts lists the batch's parts ($rows)" test "$rows" -ge "$n"
else
        diag "no shared corpus (\$PDFSPOOL_CORPUS or ../shared/corpus): the datasheet checks are left out"
fi

stop_daemon
done_testing
