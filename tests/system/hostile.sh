#!/bin/bash
# Junk is ignored, not failed; a top-level file that is not a PDF goes to
# rejected/ with a reason; a ready marker completes a folder at once; links,
# FIFOs and devices in a drop are never followed or copied; 255-byte names and
# a drop of 100,000 entries are handled.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

write_config 30s "" "    ready_marker: .ready"
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1 "hostile"

# Ready marker: complete at once, long before the 30 s settle period.
mkdir -p "$T/src/marked"
cp "$T/a.pdf" "$T/src/marked/"
# Junk that must be ignored, not failed and not listed.
for j in Thumbs.db desktop.ini .DS_Store '~$draft.docx' '.~lock.x.odt#' ._a.pdf x.part y.crdownload z.tmp w.partial; do
        echo junk > "$T/src/marked/$j"
done
mkdir -p "$T/src/marked/@eaDir" && cp "$T/a.pdf" "$T/src/marked/@eaDir/thumb.pdf"
# Links, FIFO, device: never followed, copied or read.
ln -s /etc/shadow "$T/src/marked/shadow.pdf"
ln -s /etc "$T/src/marked/etc-link"
ln "$T/src/marked/a.pdf" "$T/src/marked/hardlink.pdf"
mkfifo "$T/src/marked/fifo.pdf"
have_dev=0
mknod "$T/src/marked/null.pdf" c 1 3 2>/dev/null && have_dev=1
mv "$T/src/marked" "$INBOX/"
touch "$INBOX/marked/.ready"
check "ready marker: batch taken without waiting for settle" wait_batch_done marked 10
s=$OUTBOX/marked/status.json
reason() { jq -r --arg f "$1" '.skipped[] | select(.source == $f) | .reason' "$s"; }
check "junk is not processed" test "$(jq -r .jobs.done "$s")" = 0
check "junk is not listed as skipped or failed" test "$(jq -r '[.skipped[].source] | map(select(test("Thumbs|DS_Store|part|tmp|lock|eaDir|~"))) | length' "$s")" = 0
check "symlink skipped: not followed" test "$(reason shadow.pdf)" = "symbolic link: not followed"
check "symlink to a folder skipped" test "$(reason etc-link)" = "symbolic link: not followed"
check "no shadow content anywhere in the outbox" sh -c "! grep -rqs '^root:' '$OUTBOX'"
check "symlink not copied into the outbox" test ! -e "$OUTBOX/marked/shadow.pdf" -a ! -L "$OUTBOX/marked/shadow.pdf"
check "hard link skipped with a reason" sh -c "jq -r '.skipped[] | select(.source == \"hardlink.pdf\" or .source == \"a.pdf\") | .reason' '$s' | grep -q 'hard link'"
check "FIFO skipped with a reason" test "$(reason fifo.pdf)" = "named pipe (FIFO): not a regular file"
if [ $have_dev = 1 ]; then
        check "device node skipped with a reason" test "$(reason null.pdf)" = "device node: not a regular file"
else
        diag "cannot make a device node here: that case is not checked"
fi
check "batch counts add up" counts_add_up marked

# Top-level junk stays ignored; a top-level non-PDF is rejected with a reason.
echo junk > "$INBOX/Thumbs.db"
echo partial > "$INBOX/upload.part"
echo "a text file" > "$INBOX/notes.txt"
mkdir -p "$T/src/later" && cp "$T/a.pdf" "$T/src/later/" && touch "$T/src/later/.ready" && mv "$T/src/later" "$INBOX/"
check "a later drop is processed" wait_batch_done later 10
check "top-level non-PDF moved to rejected/" wait_for 40 test -f "$OUTBOX/rejected/notes.txt"
check "rejected file has a status with the reason" test "$(jq_file "$OUTBOX/rejected/notes.txt.status.json" .reason)" = "not a PDF"
check "rejected file left the inbox" test ! -e "$INBOX/notes.txt"
check "top-level junk is left alone" test -f "$INBOX/Thumbs.db" -a -f "$INBOX/upload.part"
check "junk never appears in the outbox" test ! -e "$OUTBOX/Thumbs" -a ! -e "$OUTBOX/rejected/Thumbs.db"

# Names 255 bytes long, at the top and inside a drop.
long=$(printf 'L%.0s' $(seq 1 251))
mkdir -p "$T/src/$long"
cp "$T/a.pdf" "$T/src/$long/$long.pdf"
touch "$T/src/$long/.ready"
mv "$T/src/$long" "$INBOX/"
check "255-byte folder and file names: batch done" wait_batch_done "$long" 20
check "255-byte name: job done" test "$(job_state "$long" "$long")" = done
mkdir -p "$T/src2/$long" && cp "$T/a.pdf" "$T/src2/$long/x.pdf" && touch "$T/src2/$long/.ready" && mv "$T/src2/$long" "$INBOX/"
check "255-byte batch name taken again: suffix fits in 255 bytes" wait_for 20 sh -c "ls '$OUTBOX' | grep -q -- '-2\$'"

# A drop with 100,000 entries.
mkdir -p "$T/src/many"
(cd "$T/src/many" && seq 1 100000 | sed 's/^/f/' | xargs touch)
cp "$T/a.pdf" "$T/src/many/real.pdf"
touch "$T/src/many/.ready"
mv "$T/src/many" "$INBOX/"
check "100,000-entry drop becomes a batch that finishes" wait_batch_done many 300
check "100,000-entry drop: the PDF is done" test "$(job_state many real)" = done
check "100,000-entry drop: every entry accounted for" test "$(jq -r .jobs.total "$OUTBOX/many/status.json")" = 100001
check "daemon still running" kill -0 "$DAEMON_PID"
done_testing
