#!/bin/bash
# Processing profiles: a queue's default profile makes the outputs it names
# (stext.json with blocks/lines/spans, page renders, JPEG thumbs of pages 1-2);
# a manifest picks another profile and overrides single options; a bad output
# or value is a config error with FILE:LINE:COLUMN; every done job's status
# carries text_layer (none, partial, full).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed (apt-get install mupdf-tools)"
command -v jq >/dev/null || skip_all "jq not installed"

profiles='profiles:
  rich:
    outputs: [meta, text, stext, outline, thumbs, pages, facts, tables]
    thumbs: {pages: "1-2", size: 100, format: jpeg}
    pages: {dpi: 36, pages: "2-"}
  lean:
    outputs: [meta]'

# --check-config: an unknown output and a bad value, each at its place.
write_config 1s "$profiles" "    profile: rich"
check "--check-config accepts the profiles" "$PDFSPOOLD" --check-config -c "$CFG"
sed -i 's/text, stext, outline/text, stxt, outline/' "$CFG"
out=$("$PDFSPOOLD" --check-config -c "$CFG" 2>&1)
line=$(grep -n 'stxt' "$CFG" | cut -d: -f1)
check "unknown output refused at file:line:column" \
        sh -c 'echo "$1" | grep -q "$2:$3:[0-9]*: unknown output \"stxt\" in profile \"rich\""' sh "$out" "$CFG" "$line"
sed -i 's/stxt/stext/; s/dpi: 36/dpi: 5/' "$CFG"
out=$("$PDFSPOOLD" --check-config -c "$CFG" 2>&1)
check "a DPI out of range is refused" sh -c 'echo "$1" | grep -q "pages.dpi\" in profile \"rich\" must be a resolution"' sh "$out"
sed -i 's/dpi: 5/dpi: 36/; s/profile: rich/profile: nosuch/' "$CFG"
out=$("$PDFSPOOLD" --check-config -c "$CFG" 2>&1)
check "a queue's unknown profile is refused" sh -c 'echo "$1" | grep -q "names no profile: \"nosuch\""' sh "$out"
sed -i 's/profile: nosuch/profile: rich/' "$CFG"

start_daemon || bail "daemon did not start"

# The queue's profile: rich. One page with text, one without (a filled box).
src=$T/src/rich
mkdir -p "$src" "$T/mk"
printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\nBT /F1 18 Tf 72 760 Td (LM317 regulator) Tj ET\n' > "$T/mk/p1.txt"
printf '%%%%MediaBox 0 0 595 842\n0 0 1 rg 100 100 200 200 re f\n' > "$T/mk/p2.txt"
mutool create -o "$src/mixed.pdf" "$T/mk/p1.txt" "$T/mk/p2.txt" >/dev/null 2>&1
mutool create -o "$src/scan.pdf" "$T/mk/p2.txt" >/dev/null 2>&1
mkpdf "$src/text.pdf" 3 "NE555 timer"
cp -r "$src" "$INBOX/"
check "rich batch finishes" wait_batch_done rich
j=$OUTBOX/rich/mixed
check "rich: done" test "$(job_state rich mixed)" = done
check "rich: stext.json has pages, blocks, lines, spans with bbox and font" \
        jq -e '.pages | length == 2 and (.[0].blocks[0].lines[0].spans[0] | (.bbox | length) == 4 and (.font | length) > 0 and (.text | test("LM317")))' "$j/stext.json"
check "rich: JPEG thumbs of pages 1 and 2, no thumb.png" \
        sh -c "test -s '$j/thumbs/0001.jpg' -a -s '$j/thumbs/0002.jpg' -a ! -e '$j/thumb.png' && head -c 3 '$j/thumbs/0001.jpg' | od -An -tx1 | grep -q 'ff d8 ff'"
check "rich: page 2 rendered at 36 dpi (298 x 421), page 1 not" \
        sh -c "test ! -e '$j/pages/0001.png' && python3 -c 'import struct,sys; d=open(sys.argv[1],\"rb\").read(24); w,h=struct.unpack(\">II\", d[16:24]); sys.exit(0 if (w,h)==(298,421) else 1)' '$j/pages/0002.png'"
check "rich: meta, text, facts, tables too" test -s "$j/meta.json" -a -s "$j/text.txt" -a -s "$j/facts.json" -a -s "$j/tables.json"
check "text_layer: partial for one page of two with text" test "$(jq_file "$j/status.json" .text_layer)" = partial
check "text_layer: none for a page without text" test "$(jq_file "$OUTBOX/rich/scan/status.json" .text_layer)" = none
check "text_layer: full when every page has text" test "$(jq_file "$OUTBOX/rich/text/status.json" .text_layer)" = full
check "rich: the summary page shows the JPEG thumb of page 1" wait_for 20 grep -q 'mixed/thumbs/0001.jpg' "$OUTBOX/rich/index.html"
check "rich: 3 pages of text.pdf rendered from page 2 on" test -s "$OUTBOX/rich/text/pages/0003.png" -a -s "$OUTBOX/rich/text/pages/0002.png"

# A manifest picks "lean" and overrides one option: meta.json and stext.json only.
mkdir -p "$T/m/m"
mkpdf "$T/m/m/a.pdf" 2 "Lean one"
cat > "$T/m/lean.batch.yaml" <<EOM
files: [m/a.pdf]
profile: lean
options:
  stext: on
EOM
mv "$T/m/m" "$INBOX/.m" && mv "$T/m/lean.batch.yaml" "$INBOX/" && mv "$INBOX/.m" "$INBOX/m"
check "lean batch finishes" wait_batch_done lean
l=$OUTBOX/lean/m/a
check "lean: done with meta.json and stext.json" sh -c "test '$(job_state lean m/a)' = done && test -s '$l/meta.json' -a -s '$l/stext.json'"
check "lean: no text.txt, thumb.png, facts.json, pages/" test ! -e "$l/text.txt" -a ! -e "$l/thumb.png" -a ! -e "$l/facts.json" -a ! -e "$l/pages"
check "lean: meta.json has no outline (not asked for)" jq -e 'has("outline") | not' "$l/meta.json"

# A manifest naming a profile the configuration does not have: its jobs fail saying so.
mkdir -p "$T/n/nop"
mkpdf "$T/n/nop/x.pdf" 1
printf 'files: [nop/]\nprofile: nosuch\n' > "$T/n/nop.batch.yaml"
mv "$T/n/nop" "$INBOX/nop" && mv "$T/n/nop.batch.yaml" "$INBOX/"
check "unknown profile in a manifest: batch finishes" wait_batch_done nop
check "unknown profile in a manifest: the job fails saying so" \
        jq -e '.state == "failed" and .error == "profile \"nosuch\" is not in the configuration"' "$OUTBOX/nop/nop/x/status.json"

# A manifest whose option is wrong is refused with its place.
cat > "$T/bad.batch.yaml" <<EOM
files: [nothing.pdf]
options:
  thumbs: {size: 5}
EOM
mv "$T/bad.batch.yaml" "$INBOX/"
check "a manifest with a bad profile option is refused with file:line:column" \
        wait_for 30 grep -q 'bad.batch.yaml:3:[0-9]*: option "thumbs.size" must be a number of pixels' "$LOG"

stop_daemon
done_testing
