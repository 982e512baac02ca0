#!/bin/bash
# Archives (.zip, .tar, .tar.gz, .tar.xz, .tar.zst, .7z) become one batch
# each, unpacked safely: no paths outside, no links, limits that refuse a
# zip bomb with a reason; the archive itself is kept in the batch's outbox.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v bsdtar >/dev/null || skip_all "bsdtar not installed (apt-get install libarchive-tools)"
command -v python3 >/dev/null || skip_all "python3 not installed (writes a hostile zip)"

write_config 0.5s "archive_max_ratio: 100"
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 2 "archived"
mkdir -p "$T/content/docs/sub"
cp "$T/a.pdf" "$T/content/docs/one.pdf"
cp "$T/a.pdf" "$T/content/docs/sub/two.pdf"
echo "read me" > "$T/content/docs/README.txt"
for fmt in zip tar tar.gz tar.xz tar.zst 7z; do
        name=set-${fmt//./-}
        (cd "$T/content" && bsdtar -a -cf "$T/$name.$fmt" docs)
        cp "$T/$name.$fmt" "$INBOX/"
done
for fmt in zip tar tar.gz tar.xz tar.zst 7z; do
        name=set-${fmt//./-}
        check "$fmt: one batch, done" wait_batch_done "$name" 30
        check "$fmt: both PDFs done, the text file skipped" \
                jq -e '.jobs.done == 2 and .jobs.skipped == 1 and .jobs.failed == 0' "$OUTBOX/$name/status.json"
        check "$fmt: job paths are the paths in the archive" test "$(job_state "$name" docs/sub/two)" = done
        check "$fmt: the archive is kept in the outbox" cmp -s "$T/$name.$fmt" "$OUTBOX/$name/$name.$fmt"
done

# A zip bomb: 60 MB of zeros compress far past the ratio limit.
head -c 60000000 /dev/zero > "$T/zeros.pdf"
(cd "$T" && bsdtar -a -cf bomb.zip zeros.pdf)
cp "$T/bomb.zip" "$INBOX/"
check "zip bomb: a batch that ends at once" wait_batch_done bomb 30
check "zip bomb: refused with a reason" sh -c "jq -r '.skipped[0].reason' '$OUTBOX/bomb/status.json' | grep -q '^archive refused: '"
check "zip bomb: nothing unpacked in the state or the outbox" test -z "$(find "$STATE" "$OUTBOX" -name zeros.pdf)"

# Hostile names and links inside a zip: skipped with reasons, nothing lands outside.
python3 - "$T/evil.zip" "$T/a.pdf" <<'PY'
import sys, zipfile, stat
out, pdf = sys.argv[1:3]
with zipfile.ZipFile(out, "w") as z:
    z.write(pdf, "ok.pdf")
    z.write(pdf, "../escaped.pdf")
    data = open(pdf, "rb").read()
    absolute = zipfile.ZipInfo("placeholder")
    absolute.filename = "/tmp/absolute.pdf"   # ZipInfo() would strip the "/"
    z.writestr(absolute, data)
    info = zipfile.ZipInfo("shadow.pdf")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z.writestr(info, "/etc/shadow")
PY
cp "$T/evil.zip" "$INBOX/"
check "hostile zip: batch done" wait_batch_done evil 30
check "hostile zip: the normal entry is done" test "$(job_state evil ok)" = done
check "hostile zip: 3 entries skipped with reasons" jq -e '[.skipped[] | select(.reason != "")] | length == 3' "$OUTBOX/evil/status.json"
check "hostile zip: nothing escaped" test ! -e "$T/escaped.pdf" -a ! -e /tmp/absolute.pdf -a ! -e "$STATE/test/escaped.pdf"
check "hostile zip: no shadow content in the outbox" sh -c "! grep -rqs '^root:' '$OUTBOX'"

# A text file named .zip is not an archive: rejected like any non-PDF.
echo "not really" > "$INBOX/fake.zip"
check "fake archive: rejected with a reason" wait_for 20 test -f "$OUTBOX/rejected/fake.zip.status.json"
# A damaged archive: a batch whose archive is skipped with the reason.
head -c 300 "$T/set-tar-gz.tar.gz" > "$INBOX/broken.tar.gz"
check "damaged archive: batch ends" wait_batch_done broken 30
check "damaged archive: reason given" sh -c "jq -r '.skipped[0].reason' '$OUTBOX/broken/status.json' | grep -qi 'damaged\\|archive'"
check "daemon still running" kill -0 "$DAEMON_PID"
done_testing
