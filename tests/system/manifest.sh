#!/bin/bash
# A *.batch.yaml manifest is an explicit batch and its commit marker: the batch
# starts as soon as the manifest and every listed file are complete, without
# the settle wait; checksums are verified; labels and options are applied; a
# manifest with errors is refused whole with file:line:column and touches
# nothing; files still missing after manifest_timeout fail, named.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"

write_config 30s "" "    manifest_timeout: 4s"
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 2 "manifest a"
mkpdf "$T/b.pdf" 1 "manifest b"

# Files uploaded into a hidden folder first (never a drop of their own), then the manifest.
mkdir -p "$INBOX/.upload"
cp "$T/a.pdf" "$T/b.pdf" "$INBOX/.upload/"
sha_a=$(sha256sum "$T/a.pdf" | cut -d' ' -f1)
cat > "$T/review.batch.yaml" <<EOM
batch: lm317-review
files:
  - path: .upload/a.pdf
    sha256: $sha_a
  - path: .upload/b.pdf
    sha256: 0000000000000000000000000000000000000000000000000000000000000000
labels:
  project: power-supply
  requested_by: anna
options:
  thumbnail_size: 64
EOM
cp "$T/review.batch.yaml" "$INBOX/"
check "manifest batch starts without the 30 s settle wait" wait_batch_done lm317-review 10
s=$OUTBOX/lm317-review/status.json
check "batch named by the manifest" test "$(jq -r .batch "$s")" = lm317-review
check "labels copied into the batch status" jq -e '.labels.project == "power-supply" and .labels.requested_by == "anna"' "$s"
check "sha256 matches: job done" test "$(job_state lm317-review .upload/a)" = done
check "sha256 mismatch: job failed" test "$(job_state lm317-review .upload/b)" = failed
check "sha256 mismatch: the reason says so" sh -c "jq -r .error '$OUTBOX/lm317-review/.upload/b/status.json' | grep -q '^checksum mismatch: the manifest says sha256 0000'"
check "option thumbnail_size applied (64 px)" test "$(od -An -tu1 -j16 -N8 "$OUTBOX/lm317-review/.upload/a/thumb.png" | awk '{print ($3*256+$4 > $7*256+$8) ? $3*256+$4 : $7*256+$8}')" -eq 64
check "the manifest is kept in the batch's outbox" test -f "$OUTBOX/lm317-review/review.batch.yaml"
check "listed files and manifest left the inbox" test ! -e "$INBOX/review.batch.yaml" -a ! -e "$INBOX/.upload/a.pdf"
check "batch counts add up" counts_add_up lm317-review

# Manifest first; a listed folder arrives afterwards and is not taken on its own.
cat > "$INBOX/vendor.batch.yaml" <<EOM
files:
  - vendor/
EOM
mkdir -p "$T/src/vendor"
for i in 1 2 3; do cp "$T/a.pdf" "$T/src/vendor/v$i.pdf"; done
cp -r "$T/src/vendor" "$INBOX/"
check "manifest-first: batch (named after the manifest) completes" wait_batch_done vendor 15
check "manifest-first: all 3 files of the folder" test "$(jq -r .jobs.done "$OUTBOX/vendor/status.json")" = 3
check "the folder was not claimed as a batch of its own" test ! -e "$OUTBOX/vendor-2"

# A manifest with a mistake is refused whole; the files it names stay.
mkdir -p "$INBOX/.keep"
cp "$T/a.pdf" "$INBOX/.keep/x.pdf"
printf 'files:\n  - path: .keep/x.pdf\n    sha256: nothex\n' > "$INBOX/broken.batch.yaml"
check "broken manifest: rejected with a status file" wait_for 10 test -f "$OUTBOX/rejected/broken.batch.yaml.status.json"
r=$(jq -r .reason "$OUTBOX/rejected/broken.batch.yaml.status.json")
check "broken manifest: reason has file:line:column ($r)" sh -c "echo '$r' | grep -q 'broken.batch.yaml:3:[0-9]*: '"
check "broken manifest: the file it named is untouched" cmp -s "$T/a.pdf" "$INBOX/.keep/x.pdf"
printf 'files: [\n' > "$INBOX/syntax.batch.yaml"
check "YAML syntax error: rejected with a position" wait_for 10 sh -c "jq -r .reason '$OUTBOX/rejected/syntax.batch.yaml.status.json' | grep -q 'syntax.batch.yaml:[0-9]*:[0-9]*: '"

# Files still missing after manifest_timeout: the batch goes on, the missing ones fail, named.
cp "$T/a.pdf" "$INBOX/.upload/present.pdf"
printf 'batch: partial\nfiles:\n  - .upload/present.pdf\n  - .upload/never-came.pdf\n' > "$INBOX/partial.batch.yaml"
check "manifest with a missing file finishes after manifest_timeout" wait_batch_done partial 20
check "present file done" test "$(job_state partial .upload/present)" = done
check "missing file failed, named, with the reason" sh -c "jq -e '.failures[] | select(.source == \".upload/never-came.pdf\") | .error | test(\"^missing: \")' '$OUTBOX/partial/status.json'"
check "batch counts add up" counts_add_up partial
done_testing
