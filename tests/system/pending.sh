#!/bin/bash
# pdfspoolctl pending: every drop that is not a batch yet, with why it waits
# and until when (settling, a file that looks cut short, a manifest waiting
# for its files), and recent rejects with their reason; list shows the same
# rows as "waiting". Without a daemon it says that nothing is being judged.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

INCOMPLETE_WAIT=120s write_config 30s
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1
ctl() { "$PDFSPOOLCTL" -c "$CFG" "$@"; }

# settling: a folder, settle 30 s
mkdir -p "$T/src/slowfolder"; cp "$T/a.pdf" "$T/src/slowfolder/a.pdf"
mv "$T/src/slowfolder" "$INBOX/"
# cut short: a folder with a ready marker and a PDF without %%EOF
mkdir -p "$T/src/cut"; head -c 300 "$T/a.pdf" > "$T/src/cut/cut.pdf"; touch "$T/src/cut/.ready"
mv "$T/src/cut" "$INBOX/"
# a manifest waiting for two files
printf 'batch: mf\nfiles:\n  - x.pdf\n  - y.pdf\n' > "$T/mf.batch.yaml"
mv "$T/mf.batch.yaml" "$INBOX/"
# a reject
echo "not a pdf" > "$INBOX/notes.txt"

has() { ctl pending > "$T/pending" 2>&1; grep -q -- "$1" "$T/pending"; }
check "pending: the folder is settling, with until when" wait_for 20 has "slowfolder .*settling.* until [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
check "pending: the cut-short PDF waits, naming it" wait_for 20 has "cut .*cut.pdf.*%%EOF.* until "
check "pending: the manifest waits for its 2 files, named, with its timeout" \
        wait_for 20 has "mf.batch.yaml .*manifest waits for 2 missing .* until .*: x.pdf, y.pdf"
sed 's/^/# /' "$T/pending"
ctl pending --json > "$T/pending.json"
check "pending --json: kinds drop and manifest, each with a reason" \
        jq -e '[.pending[] | select(.reason != null) | .kind] | (index("drop") != null and index("manifest") != null)' "$T/pending.json"
check "pending --json: the daemon runs" jq -e '.daemon == "running"' "$T/pending.json"
ctl list > "$T/list"
check "list shows the drops as waiting" grep -q "^slowfolder .*waiting .*settling" "$T/list"
ctl list --state waiting > "$T/list2"
check "list --state waiting: only those rows" sh -c "grep -q waiting '$T/list2' && ! grep -q ' done ' '$T/list2'"
ctl list > /dev/null
check "pending: recent rejects with their reason (after the 30 s settle)" wait_for 60 has "notes.txt .*not a PDF"
stop_daemon
ctl pending > "$T/pending" 2>&1
check "without a daemon: pending says nothing is being judged" grep -q "not running" "$T/pending"
done_testing
