#!/bin/bash
# bench/quality itself: a small fake outbox batch with known right and wrong
# facts and tables, scored against a small labels file; the precision, recall and
# manufacturer+part-number rate it prints must be the ones worked out by hand
# below, and --check must pass or fail against a README table as it should.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip_all "jq not installed"
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml not installed"
Q() { python3 "$top_srcdir/bench/quality" "$@"; }
B=$T/outbox/fake

cat > "$T/labels.yaml" <<'EOF'
a.pdf:
  manufacturer: Texas Instruments
  part_number: ADS1115
  other_part_numbers: [ADS1113, ADS1114]
  description: "Ultra-Small, Low-Power, 16-Bit ADCs With Internal Reference"
  revision: D
  date: 2018-01
  packages: [X2QFN-10, VSSOP-10]
  pin_count: 10
  temperature: {min: -40, max: 125}
  supply_voltage: {min: 2.0, max: 5.5}
  tables:
    absolute_maximum_ratings: [6]
    electrical_characteristics: [7]
    pin_descriptions: [5]
b.pdf:
  manufacturer: Analog Devices
  part_number: ADXL345
  other_part_numbers: [ADXL345BCCZ]
  description: 3-Axis Digital Accelerometer
  revision: E
  packages: [LGA-14]
  pin_count: 14
  temperature: {min: -40, max: 85}
  supply_voltage: {min: 2.0, max: 3.6}
  tables:
    absolute_maximum_ratings: [6]
c.pdf:
  manufacturer: WCH
  part_number: CH340
  description: USB to Serial Port Chip
  revision: 3B
EOF

# job a: manufacturer right (case, spaces), part number right by prefix, 2 of 4
# other part numbers right (spaces ignored; "ADS1" is a prefix under 5
# characters), description right (5 of 9 words),
# revision right ("Rev. D"), date right, 1 of 2 packages right ("VSSOP (10)";
# X2QFN-10 not found),
# pin count and temperature right, supply max 1.8% off (wrong); tables: AMR on
# page 7 (found, labelled 6), EC on page 9 (labelled 7: wrong), an ROC the
# label does not have (wrong).
mkdir -p "$B/a" "$B/b" "$B/sub/notes"
echo '{"job":"a","source":"a.pdf","original":"a.pdf","state":"done"}' > "$B/a/status.json"
cat > "$B/a/facts.json" <<'EOF'
{"manufacturer": {"value": " texas instruments ", "page": 1, "source": "www.ti.com", "confidence": 0.9},
 "part_number": {"value": "ADS1115IDGSR", "page": 1, "source": "x", "confidence": 0.9},
 "other_part_numbers": [{"value": "ADS1113", "page": 1}, {"value": "ADS1116", "page": 1}, {"value": "ads 1114", "page": 1}, {"value": "ADS1", "page": 1}],
 "description": {"value": "16-bit ADCs with internal reference", "page": 1},
 "revision": {"value": "Rev. D", "page": 1},
 "date": {"value": "2018-01", "page": 1},
 "packages": [{"value": "VSSOP (10)", "page": 1}, {"value": "SOIC-8", "page": 1}],
 "pin_count": {"value": 10, "page": 5},
 "temperature": {"min": -40, "max": 125, "unit": "°C", "page": 1},
 "supply_voltage": {"min": 2.0, "max": 5.6, "unit": "V", "page": 1}}
EOF
cat > "$B/a/tables.json" <<'EOF'
{"tables": [{"kind": "absolute_maximum_ratings", "title": "Absolute Maximum Ratings", "page": 7, "file": "tables/01.csv", "columns": [], "rows": 3},
            {"kind": "electrical_characteristics", "title": "Electrical Characteristics", "page": 9, "file": "tables/02.csv", "columns": [], "rows": 3},
            {"kind": "recommended_operating_conditions", "title": "ROC", "page": 6, "file": "tables/03.csv", "columns": [], "rows": 3}]}
EOF
# job b (in a folder whose name is not the PDF's): manufacturer wrong ("ADI"),
# part number right, no other part numbers, description wrong (1 of 3 words),
# revision right, a date the label does not have (wrong), package right
# ("14-lead LGA"), pin count right (as a string), temperature right (85.5 is
# within 1% of 85), no supply; AMR found on its labelled page.
echo '{"job":"b","source":"sub/b.pdf","original":"b.pdf","state":"done"}' > "$B/sub/notes/status.json"
cat > "$B/sub/notes/facts.json" <<'EOF'
{"manufacturer": {"value": "ADI", "page": 1},
 "part_number": {"value": "adxl345", "page": 1},
 "description": {"value": "Accelerometer", "page": 1},
 "revision": {"value": "E", "page": 1},
 "date": {"value": "2015-06", "page": 1},
 "packages": [{"value": "14-lead LGA", "page": 1}],
 "pin_count": {"value": "14", "page": 1},
 "temperature": {"min": -40, "max": 85.5, "unit": "°C", "page": 1}}
EOF
echo '{"tables": [{"kind": "absolute_maximum_ratings", "title": "AMR", "page": 6, "file": "t.csv", "columns": [], "rows": 1}]}' > "$B/sub/notes/tables.json"
echo '{"batch":"fake","state":"done","jobs":{}}' > "$B/status.json"
# c.pdf has no job at all: it counts against recall only.

out=$T/score.json
Q --labels "$T/labels.yaml" --json "$B" > "$out"
ok $? "scorer runs on the fake batch"
check "3 documents labelled, 2 jobs found, 2 with facts" jq -e '.documents == 3 and .jobs_found == 2 and .jobs_with_facts == 2' "$out"

# expect NAME PRECISION RECALL (null when nothing was produced / labelled)
expect() {
        local sect=$1 name=$2 p=$3 r=$4 got
        got=$(jq -c --arg n "$name" ".${sect}[\$n] | [.precision, .recall]" "$out")
        if [ "$got" = "[$p,$r]" ]; then ok 0 "$sect $name: precision $p, recall $r"
        else ok 1 "$sect $name: precision $p, recall $r (got $got)"; fi
}
expect facts manufacturer 50 33.3
expect facts part_number 100 66.7
expect facts other_part_numbers 50 66.7
expect facts description 50 33.3
expect facts revision 100 66.7
expect facts date 50 100
expect facts packages 66.7 66.7
expect facts pin_count 100 100
expect facts temperature 100 100
expect facts supply_voltage 0 0
expect tables absolute_maximum_ratings 100 100
expect tables recommended_operating_conditions 0 null
expect tables electrical_characteristics 0 0
expect tables pin_descriptions null 0
check "manufacturer+part number right for 1 of 3 (33.3%)" \
        jq -e '."manufacturer+part_number" == {"right": 1, "documents": 3, "rate": 33.3}' "$out"
check "pin_descriptions: labelled 1, reported 0, found 0" \
        jq -e '.tables.pin_descriptions | .labelled == 1 and .reported == 0 and .found == 0' "$out"

text=$(Q --labels "$T/labels.yaml" "$B")
check "table output: the manufacturer row" grep -Eq '^manufacturer +3 +2 +1 +50\.0 +33\.3$' <<<"$text"
check "table output: the rate line" grep -Fxq 'manufacturer+part_number right: 1/3 (33.3%)' <<<"$text"

v=$(Q --labels "$T/labels.yaml" --verbose "$B")
check "--verbose: what was wrong in b.pdf" grep -Fxq 'b.pdf: manufacturer, description, date, supply_voltage, other_part_numbers' <<<"$v"
check "--verbose: c.pdf has no job" grep -q '^c.pdf: no job; manufacturer, part_number' <<<"$v"

# --check: the README's numbers, a placeholder row and a missing cell are skipped
cat > "$T/README.md" <<'EOF'
# x
## Datasheet facts: measured quality

| score | precision | recall | rate |
|---|---|---|---|
| manufacturer | 55.0 | 38 | |
| part_number | 100 | 70.0 | |
| table absolute_maximum_ratings | 100 | 100 | |
| pin_count | TBD | TBD | |
| manufacturer+part_number | | | 35 |

## next
EOF
Q --labels "$T/labels.yaml" --check "$T/README.md" "$B" > "$T/check.out"
ok $? "--check passes when every score is within 5 points of the README's"
check "--check compared 7 scores" grep -q '7 scores compared, 0 below' "$T/check.out"
sed -i 's/| part_number | 100 | 70.0 |/| part_number | 100 | 72.0 |/' "$T/README.md"
Q --labels "$T/labels.yaml" --check "$T/README.md" "$B" > "$T/check.out"
rc=$?
check "--check fails (exit 1) when a score is more than 5 points below" test $rc -eq 1
check "--check names the score that fell" grep -Fq 'regression: part_number recall: 66.7, recorded 72.0' "$T/check.out"

# an error is not a zero: unreadable inputs end with exit 2
echo '{"manufacturer": ' > "$B/a/facts.json"
Q --labels "$T/labels.yaml" "$B" >/dev/null 2>"$T/err"
rc=$?
check "a facts.json that cannot be parsed is an error (exit 2), not a missing fact" test $rc -eq 2
check "the error names the file" grep -q 'a/facts.json' "$T/err"
Q --labels "$T/labels.yaml" "$T/no-such-batch" >/dev/null 2>&1
check "a batch folder that does not exist is an error (exit 2)" test $? -eq 2
done_testing
