#!/bin/bash
# The attack catalog (issue 17): hostile drops into one running daemon, as an
# uploader who can write to the inbox and nothing else would make them. After
# each group of attacks:
#   - a secret token (in a text file and a PDF outside the spool) is in no file
#     of the outbox or state, and no file there is an outside inode; a private
#     0600 token (the target of the hard-link attacks) is in no outbox file;
#   - the outbox holds no symbolic link;
#   - the sentinel trees outside are unchanged (content, mode, owner, links);
#   - the daemon is alive, pdfspoolctl list works, and the event loop never
#     went a second without a WATCHDOG=1 (WATCHDOG_USEC=1s: sd-event pings
#     every 0.25-0.75 s while the loop turns);
#   - each drop ended with a reason (a batch status or outbox/rejected/*.status.json).
# The private files are hard-linked by the attacks themselves, so their link
# count is not compared, and a dropped hard link may sit in state (where the
# claim holds what was dropped): only the outbox is searched for them.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (notify reader, hostile archives, kept handle)"
command -v bsdtar >/dev/null || skip_all "bsdtar not installed (apt-get install libarchive-tools)"
HELPER=$top_srcdir/tests/system/kept-handle.py

TOKEN=SECRET-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
PRIV=PRIVATE-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
OUTSIDE=$T/outside          # the secret, never linked by an attack: searched in outbox and state
PRIVATE=$T/private          # 0600 files the attacks hard-link to: searched in the outbox
mkdir -p "$OUTSIDE/folder" "$PRIVATE" "$T/src"
# mkpdf_plain FILE TEXT: a PDF whose text is in its bytes (streams not compressed),
# so that a search by content finds its token in a kept original too.
mkpdf_plain() { mkpdf "$1.z" 1 "$2" && mutool clean -d "$1.z" "$1" && rm -f "$1.z"; }
echo "secret text $TOKEN" > "$OUTSIDE/secret.txt"
mkpdf_plain "$OUTSIDE/secret.pdf" "secret pdf $TOKEN"
mkpdf_plain "$OUTSIDE/folder/inner.pdf" "secret inner $TOKEN"
echo "folder note $TOKEN" > "$OUTSIDE/folder/note.txt"
chmod 0640 "$OUTSIDE/folder/inner.pdf" "$OUTSIDE/folder/note.txt"
echo "private text $PRIV" > "$PRIVATE/private.txt"
mkpdf_plain "$PRIVATE/private.pdf" "private pdf $PRIV"
chmod 0600 "$PRIVATE/private.txt" "$PRIVATE/private.pdf"
grep -qaF "$TOKEN" "$OUTSIDE/secret.pdf" && grep -qaF "$PRIV" "$PRIVATE/private.pdf" || bail "tokens not visible in the PDFs' bytes"

# A second queue whose inbox is on a tmpfs: its claims copy across file systems.
XFS=
if [ "$(id -u)" = 0 ] && mkdir -p "$T/xfs" && mount -t tmpfs -o size=64m tmpfs "$T/xfs" 2>/dev/null; then
        XFS=$T/xfs
        EXTRA_CLEANUP="umount -l '$XFS'"
        INBOX2=$XFS/inbox OUTBOX2=$T/outbox2 PRIVATE2=$XFS/private
        mkdir -p "$INBOX2" "$PRIVATE2"
        mkpdf_plain "$PRIVATE2/private.pdf" "private pdf $PRIV"
        chmod 0600 "$PRIVATE2/private.pdf"
        xqueue="  xfs:
    inbox: $INBOX2
    outbox: $OUTBOX2
    settle: 1s
    ready_marker: .ready"
else
        diag "not root or no tmpfs mount: the cross-file-system hard link is not tried"
        OUTBOX2=$T/outbox2 xqueue=
fi
sentinel_record "$OUTSIDE" "$T/sentinel.outside"
sentinel_record "$PRIVATE" "$T/sentinel.private"
[ -n "$XFS" ] && sentinel_record "$PRIVATE2" "$T/sentinel.private2"

WORKERS=1 write_config 1s "archive_max_entries: 1000" "    ready_marker: .ready
    manifest_timeout: 3s
$xqueue"
SOCK=$T/notify.sock NOTES=$T/notify.log
notify_listen "$SOCK" "$NOTES" || bail "notify reader did not start"
EXTRA_CLEANUP="kill $NOTIFY_READER_PID 2>/dev/null; ${EXTRA_CLEANUP:-}"
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 start_daemon || bail "daemon did not start"
grep -q "^[0-9.]* $DAEMON_PID WATCHDOG=1" "$NOTES" || wait_for 5 grep -q "^[0-9.]* $DAEMON_PID WATCHDOG=1" "$NOTES" ||
        bail "the daemon sends no WATCHDOG=1 with WATCHDOG_USEC set"

mkpdf "$T/a.pdf" 1 "plain"
outboxes() { echo "$OUTBOX"; [ -d "$OUTBOX2" ] && echo "$OUTBOX2"; }

# ---- what a drop became ----
# status_of TAG: the batch status whose source contains TAG, or the rejected
# status whose file name contains TAG.
status_of() {
        local f
        for f in "$OUTBOX"/*/status.json "$OUTBOX2"/*/status.json; do
                [ -f "$f" ] && jq -e --arg t "$1" '.source | contains($t)' "$f" >/dev/null 2>&1 && { echo "$f"; return 0; }
        done
        for f in "$OUTBOX"/rejected/*.status.json "$OUTBOX2"/rejected/*.status.json; do
                [ -f "$f" ] && jq -e --arg t "$1" '.file | contains($t)' "$f" >/dev/null 2>&1 && { echo "$f"; return 0; }
        done
        return 1
}
# ended TAG: the drop is a finished batch, or rejected with a reason.
ended() {
        local f; f=$(status_of "$1") || return 1
        jq -e '(.state == "rejected" and (.reason | length > 0)) or .state == "done" or .state == "canceled"' "$f" >/dev/null
}
# outcome TAG: one line that says what the drop became.
outcome() {
        local f; f=$(status_of "$1") || { echo "no status: did not end"; return; }
        jq -r 'if .state == "rejected" then "rejected: \(.reason)"
               else "batch \(.state): \(.jobs.done) done, \(.jobs.failed) failed, \(.jobs.skipped) skipped" +
                    ([.failures[] | "; failed \(.source): \(.error)"] | join("")) +
                    ([.skipped[] | "; skipped \(.source): \(.reason)"] | .[0:6] | join("")) end' "$f"
}
# attack NAME TAG: the drop ended with a reason; one diag line with the outcome.
attack() {
        local name=$1 tag=$2
        wait_for "${WAIT:-30}" ended "$tag"
        ok $? "$name: the drop ended with a reason"
        diag "attack $name: $(outcome "$tag" | tr -d '\000-\037' | cut -c1-400)"
}
# skipped_with_reason TAG SOURCE...: each SOURCE is listed as skipped, with a reason.
skipped_with_reason() {
        local f s; f=$(status_of "$1") || return 1; shift
        for s in "$@"; do
                jq -e --arg s "$s" '[.skipped[] | select(.source == $s and (.reason | length > 0))] | length == 1' "$f" >/dev/null ||
                        { diag "not skipped with a reason: $s"; return 1; }
        done
}
# job_done_count TAG: done jobs of the batch whose source contains TAG.
job_done_count() { jq -r .jobs.done "$(status_of "$1")" 2>/dev/null; }

# fresh KEY DESCRIPTION COMMAND...: COMMAND prints its findings (one a line)
# and fails when it finds any; ok unless it found something not reported by an
# earlier group, so that each group is charged only with what it caused.
fresh() {
        local key=$1 d=$2 out new; shift 2
        touch "$T/known.$key"
        out=$("$@")
        new=$(printf '%s\n' "$out" | grep -vxF -f "$T/known.$key" | grep .)
        printf '%s\n' "$out" >> "$T/known.$key"
        [ -n "$new" ] && printf '%s\n' "$new"
        ok $([ -z "$new" ] && echo 0 || echo 1) "$d"
}
# unchanged DIR RECORD [nolinks]: the tree is as recorded; a change is
# reported once, then recorded as the new state.
unchanged() {
        local now; now=$(mktemp "$T/sentinel.XXXXXX")
        sentinel_record "$1" "$now"
        if [ -n "${3:-}" ]; then # the attacks' own hard links change the link count
                cut -f1-4,6 "$now" > "$now.cmp"; cut -f1-4,6 "$2" > "$2.cmp"
        else
                cp "$now" "$now.cmp"; cp "$2" "$2.cmp"
        fi
        if ! diff -q "$2.cmp" "$now.cmp" >/dev/null; then
                diff "$2.cmp" "$now.cmp" | grep '^[<>]' | sed 's/^/# sentinel: /'
                mv "$now" "$2"
                rm -f "$now.cmp"
                return 1
        fi
        rm -f "$now" "$now.cmp"
}
# after GROUP SINCE: the checks that hold after every group of attacks.
after() {
        local g=$1 since=$2 gap sent=0
        fresh token "$g: the secret token is in no file of the outbox or state" no_token "$TOKEN" $(outboxes) "$STATE"
        fresh inode "$g: no file in the outbox or state is an outside inode" no_shared_inode "$OUTSIDE" $(outboxes) "$STATE"
        fresh priv "$g: the private (0600, hard-linked) token is in no outbox file" no_token "$PRIV" $(outboxes)
        fresh privinode "$g: no outbox file is a private (hard-linked) inode" \
                no_shared_inode "$PRIVATE" $(outboxes) ${XFS:+"$PRIVATE2"}
        fresh links "$g: no symbolic link in the outbox" no_links_in $(outboxes)
        unchanged "$OUTSIDE" "$T/sentinel.outside" || sent=1
        unchanged "$PRIVATE" "$T/sentinel.private" nolinks || sent=1
        [ -n "$XFS" ] && { unchanged "$PRIVATE2" "$T/sentinel.private2" nolinks || sent=1; }
        ok $sent "$g: sentinel trees unchanged (content, mode, owner, link count)"
        check "$g: daemon alive" kill -0 "$DAEMON_PID"
        check "$g: pdfspoolctl list works" timeout 20 "$PDFSPOOLCTL" -c "$CFG" list
        gap=$(watchdog_gap_ms "$NOTES" "$DAEMON_PID" "$since")
        ok $([ "${gap%% *}" -lt 1000 ] && echo 0 || echo 1) "$g: longest gap between WATCHDOG=1 under 1 s ($gap)"
}
mksock() { python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }
ready() { touch "$INBOX/$1/.ready"; }

# ---- 1. links and special files inside a folder ----
since=$(now_unix)
d=$T/src/in-folder-links
mkdir -p "$d"
cp "$T/a.pdf" "$d/a.pdf"
ln -s "$OUTSIDE/secret.pdf" "$d/secret.pdf"
ln -s "$OUTSIDE/secret.txt" "$d/secret.txt"
ln -s "$OUTSIDE/folder" "$d/folder-link"
ln -s loop.pdf "$d/loop.pdf"
ln -s l2.pdf "$d/l1.pdf"; ln -s l1.pdf "$d/l2.pdf"
ln "$PRIVATE/private.pdf" "$d/hard.pdf"
ln "$PRIVATE/private.txt" "$d/hard.txt"
mkfifo "$d/fifo.pdf"
mksock "$d/sock.pdf"
specials=(secret.pdf secret.txt folder-link loop.pdf l1.pdf l2.pdf hard.pdf hard.txt fifo.pdf sock.pdf)
if mknod "$d/null.pdf" c 1 3 2>/dev/null; then specials+=(null.pdf); else diag "cannot make a device node: not tried"; fi
mv "$d" "$INBOX/" && ready in-folder-links
attack "links in a folder" in-folder-links
check "links in a folder: every link and special file skipped with a reason" skipped_with_reason in-folder-links "${specials[@]}"
check "links in a folder: the real PDF done" test "$(job_done_count in-folder-links)" = 1
after "links in a folder" "$since"

# ---- 2. links and special files at the top of the inbox ----
since=$(now_unix)
ln -s "$OUTSIDE/secret.pdf" "$INBOX/top-symlink.pdf"
ln -s "$OUTSIDE/folder" "$INBOX/top-dirlink"
ln -s top-loop "$INBOX/top-loop"
mkfifo "$INBOX/top-fifo.pdf"
mksock "$INBOX/top-sock.pdf"
tops=(top-symlink.pdf top-dirlink top-loop top-fifo.pdf top-sock.pdf)
mknod "$INBOX/top-null.pdf" c 1 3 2>/dev/null && tops+=(top-null.pdf)
for t in "${tops[@]}"; do attack "at the top: $t" "$t"; done
after "links at the top" "$since"

# ---- 3. a hard link at the top to an outside 0600 file ----
since=$(now_unix)
ln "$PRIVATE/private.pdf" "$INBOX/top-hard.pdf"
ln "$PRIVATE/private.txt" "$INBOX/top-hard.txt"
attack "hard link at the top (PDF)" top-hard.pdf
attack "hard link at the top (text)" top-hard.txt
after "hard links at the top" "$since"

# ---- 4. hostile names ----
since=$(now_unix)
long=-$(printf 'L%.0s' $(seq 1 250))
nl=$'names-nl\nsecond-line'
mkdir -p "$T/src/$nl"
cp "$T/a.pdf" "$T/src/$nl/-rf.pdf"
cp "$T/a.pdf" "$T/src/$nl/"$'\e[31mred\e[0m.pdf'
cp "$T/a.pdf" "$T/src/$nl/"$'bin-\xff\xfe.pdf'
cp "$T/a.pdf" "$T/src/$nl/$long.pdf"
mv "$T/src/$nl" "$INBOX/" && ready "$nl"
bin=$'names-bin-\xff\xfe\x80'
mkdir -p "$T/src/$bin" && cp "$T/a.pdf" "$T/src/$bin/x.pdf"
mv "$T/src/$bin" "$INBOX/" && ready "$bin"
cp "$T/a.pdf" "$INBOX/-names-dash.pdf"
cp "$T/a.pdf" "$INBOX/"$'\e]0;pwned\a\e[2Jnames-esc.pdf'
attack "names: newline folder, dash/ESC/non-UTF-8/255-byte files" names-nl
check "names: all 4 PDFs in the newline folder done" test "$(job_done_count names-nl)" = 4
attack "names: non-UTF-8 folder" names-bin
check "names: the PDF in the non-UTF-8 folder done" test "$(job_done_count names-bin)" = 1
attack "names: leading dash at the top" names-dash
attack "names: escape sequences at the top" names-esc
# pdfspool-status(5) and issue 17: names kept as bytes on disk, shown escaped.
ctl_raw() { timeout 20 "$PDFSPOOLCTL" -c "$CFG" list | LC_ALL=C grep -a -e $'[\x01-\x08\x0b-\x1f\x7f]' -e '^second-line'; }
out=$(ctl_raw | cat -A)
[ -n "$out" ] && diag "pdfspoolctl list printed: $out"
ok $([ -z "$out" ] && echo 0 || echo 1) "names: pdfspoolctl list shows no raw control character or newline of a name"
after "hostile names" "$since"

# ---- 5. depth and width ----
since=$(now_unix)
deep=$T/src/depth-100
p=$deep; for i in $(seq 1 100); do p=$p/d; done
mkdir -p "$p"
mkpdf "$p/bottom.pdf" 1 "bottom of a deep tree"
cp "$T/a.pdf" "$deep/top.pdf"
cp "$p/bottom.pdf" "$T/bottom.pdf"
mv "$deep" "$INBOX/" && ready depth-100
attack "depth: a PDF 100 folders deep" depth-100
check "depth: the PDF 100 deep is processed or handed back in the outbox" bytes_in "$T/bottom.pdf" $(outboxes)
mkdir -p "$T/src/width-20000"
(cd "$T/src/width-20000" && seq 1 20000 | sed 's/^/f/' | xargs touch)
cp "$T/a.pdf" "$T/src/width-20000/real.pdf"
mv "$T/src/width-20000" "$INBOX/" && ready width-20000
WAIT=120 attack "width: 20,001 entries" width-20000
check "width: every entry accounted for" test "$(jq -r .jobs.total "$(status_of width-20000)")" = 20001
after "depth and width" "$since"

# ---- 6. archives ----
since=$(now_unix)
mkdir -p "$T/arc"
python3 - "$T/arc" "$T/a.pdf" "$OUTSIDE" "$PRIVATE" <<'PY'
import io, os, sys, tarfile, zipfile, stat
out, pdf, outside, private = sys.argv[1:5]
data = open(pdf, "rb").read()
def tar(name, entries):
    with tarfile.open(os.path.join(out, name), "w") as t:
        for e in entries:
            t.addfile(e[0], io.BytesIO(e[1]) if len(e) > 1 else None)
def reg(name, body=data):
    i = tarfile.TarInfo(name); i.size = len(body); return (i, body)
def link(name, target, kind):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; return (i,)
with zipfile.ZipFile(os.path.join(out, "arc-dotdot.zip"), "w") as z:
    z.writestr("ok.pdf", data)
    z.writestr("../escaped-zip.pdf", data)
    z.writestr("a/../../escaped-zip2.pdf", data)
    i = zipfile.ZipInfo("x"); i.filename = outside + "/folder/escaped-abs.pdf"; z.writestr(i, data)
tar("arc-abs.tar", [reg("ok.pdf"), reg(outside + "/folder/escaped-abs-tar.pdf"), reg("../../escaped-tar.pdf")])
tar("arc-symwrite.tar", [reg("ok.pdf"), link("lnk", outside + "/folder", tarfile.SYMTYPE),
                         reg("lnk/escaped-through-link.pdf"), link("up", "../../../../../..", tarfile.SYMTYPE),
                         reg("up" + outside + "/folder/escaped-up.pdf"), link("sec.pdf", outside + "/secret.pdf", tarfile.SYMTYPE)])
tar("arc-hardlink.tar", [reg("ok.pdf"), link("hl-abs.pdf", private + "/private.pdf", tarfile.LNKTYPE),
                         link("hl-rel.pdf", "ok.pdf", tarfile.LNKTYPE), link("hl-up.pdf", "../../private/private.pdf", tarfile.LNKTYPE)])
with zipfile.ZipFile(os.path.join(out, "arc-bomb.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("zeros.pdf", b"\0" * (40 << 20))
tar("arc-many.tar", [reg("f%04d.txt" % n, b"x") for n in range(1001)])
inner = io.BytesIO()
with zipfile.ZipFile(inner, "w") as z:
    z.writestr("inner.pdf", data)
    z.writestr("../escaped-nested.pdf", data)
with zipfile.ZipFile(os.path.join(out, "arc-nested.zip"), "w") as z:
    z.writestr("ok.pdf", data)
    z.writestr("inner.zip", inner.getvalue())
PY
for a in arc-dotdot.zip arc-abs.tar arc-symwrite.tar arc-hardlink.tar arc-bomb.zip arc-many.tar arc-nested.zip; do
        cp "$T/arc/$a" "$INBOX/"
done
attack "archive: ../ and absolute zip entries" arc-dotdot
check "archive ../: the normal entry done, 3 skipped" sh -c "[ \"\$(jq -r '[.jobs.done, (.skipped | length)] | join(\" \")' '$OUTBOX/arc-dotdot/status.json')\" = '1 3' ]"
attack "archive: absolute and ../ tar entries" arc-abs
attack "archive: symlink entry, then a file written through it" arc-symwrite
check "archive symlink-then-write: the link entries skipped with reasons" skipped_with_reason arc-symwrite lnk up sec.pdf
attack "archive: hard-link entries" arc-hardlink
check "archive hard links: 3 entries skipped with reasons" skipped_with_reason arc-hardlink hl-abs.pdf hl-rel.pdf hl-up.pdf
attack "archive: compression bomb (40 MiB of zeros)" arc-bomb
check "archive bomb: refused with a reason" sh -c "jq -r '.skipped[0].reason' '$OUTBOX/arc-bomb/status.json' | grep -q '^archive refused: '"
attack "archive: 1001 entries (limit 1000)" arc-many
check "archive entries: refused with a reason" sh -c "jq -r '.skipped[0].reason' '$OUTBOX/arc-many/status.json' | grep -q '^archive refused: '"
attack "archive: an archive inside an archive" arc-nested
# Entries written "through" a skipped link land in a real folder of that name
# inside unpacked/ (and are jobs there): that is inside; anything else is out.
out=$(find /tmp -maxdepth 1 -name 'escaped*'; find "$T" -name 'escaped*' | grep -v -e '/unpacked/' -e "^$OUTBOX/arc-")
[ -n "$out" ] && diag "escaped: $out"
ok $([ -z "$out" ] && echo 0 || echo 1) "archives: nothing escaped next to the spool, into state or into /tmp"
after "archives" "$since"

# ---- 7. manifests ----
since=$(now_unix)
printf 'files:\n  - ../outside/secret.pdf\n' > "$INBOX/m-dotdot.batch.yaml"
printf 'files:\n  - %s/secret.pdf\n' "$OUTSIDE" > "$INBOX/m-absolute.batch.yaml"
ln -s "$OUTSIDE/folder" "$INBOX/.through"
printf 'files:\n  - .through/inner.pdf\n  - .through/\n' > "$INBOX/m-through-dirlink.batch.yaml"
mkdir -p "$INBOX/.up" && cp "$T/a.pdf" "$INBOX/.up/ok.pdf" && ln -s "$OUTSIDE/secret.pdf" "$INBOX/.up/s.pdf"
printf 'files:\n  - .up/ok.pdf\n  - .up/s.pdf\n' > "$INBOX/m-listed-symlink.batch.yaml"
python3 - "$INBOX" <<'PY'
import sys
inbox = sys.argv[1]
# billion laughs: 9 levels of 9 aliases each
lines = ['a0: &a0 "lol"']
for i in range(1, 10):
    lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)))
bomb = "files:\n  - x.pdf\nlabels:\n" + "".join("  " + l + "\n" for l in lines) + "options: *a9\n"
open(inbox + "/m-alias-bomb.batch.yaml", "w").write(bomb)
open(inbox + "/m-alias-files.batch.yaml", "w").write("\n".join(lines) + "\nfiles: *a9\n")
open(inbox + "/m-oversize.batch.yaml", "w").write("files:\n" + "".join("  - f%07d.pdf\n" % i for i in range(160000)))
open(inbox + "/m-malformed.batch.yaml", "wb").write(b"files: [\n  - {path: \x00\xff\xfe\n\t- :\n")
PY
for m in m-dotdot m-absolute m-through-dirlink m-listed-symlink m-alias-bomb m-alias-files m-oversize m-malformed; do
        attack "manifest: $m" "$m.batch.yaml"
done
check "manifest through a symlinked folder: the outside PDF is not a done job" \
        sh -c "! jq -e '.jobs.done > 0' '$OUTBOX/m-through-dirlink/status.json' 2>/dev/null"
check "manifest listing a symlink: only the real PDF done" \
        sh -c "[ \"\$(jq -r .jobs.done '$OUTBOX/m-listed-symlink/status.json' 2>/dev/null)\" != 2 ]"
rm -f "$INBOX/.through"
after "manifests" "$since"

# ---- 8. files swapped for symbolic links while the drop is claimed ----
since=$(now_unix)
d=$T/src/race-flip
mkdir -p "$d"
for i in 1 2 3 4 5 6; do mkpdf "$d/x$i.pdf" 1 "flip $i"; cp "$d/x$i.pdf" "$T/src/race-flip-x$i.pdf"; done
# A folder that keeps changing is not taken while it changes (two walks must
# agree): the flipper swaps for 10 s at most, so the claim comes in a quiet
# instant between swaps, or after them.
FLIP_SECONDS=10 python3 "$HELPER" flip "$d" "$T/flip.ready" "$OUTBOX/race-flip/status.json" "$OUTSIDE/secret.pdf" \
        x1.pdf x2.pdf x3.pdf x4.pdf x5.pdf x6.pdf > "$T/flip.out" 2>&1 &
flipper=$!
wait_for 10 test -e "$T/flip.ready" || diag "the flipper did not start"
mv "$d" "$INBOX/" && ready race-flip
WAIT=60 attack "race: files swapped for links during the claim" race-flip
wait "$flipper"
diag "flipper: $(cat "$T/flip.out")"
after "claim race" "$since"

# ---- 9. changes through a handle the uploader kept after the claim ----
since=$(now_unix)
d=$T/src/kept-handle
mkdir -p "$d/c-sub"
mkpdf "$d/a-slow.pdf" 400 "slow first job"
mkpdf "$d/b-swap.pdf" 1 "to be swapped"
mkpdf "$d/c-sub/inner.pdf" 1 "inner, to be swapped"
python3 "$HELPER" swap "$d" "$T/kept.ready" "$OUTBOX/kept-handle/status.json" \
        "b-swap.pdf=$OUTSIDE/secret.pdf" "c-sub=$OUTSIDE/folder" -- \
        "$OUTBOX/kept-handle/b-swap/status.json" "$OUTBOX/kept-handle/c-sub/inner/status.json" > "$T/kept.out" 2>&1 &
keeper=$!
wait_for 10 test -e "$T/kept.ready" || diag "the handle keeper did not start"
mv "$d" "$INBOX/" && ready kept-handle
WAIT=90 attack "kept handle: a PDF and a folder swapped for links after the claim" kept-handle
wait "$keeper"
diag "keeper: $(cat "$T/kept.out")"
check "kept handle: the swap came while both jobs were still queued" \
        sh -c "grep -q 'jobs then: \\(queued\\|not started\\), \\(queued\\|not started\\)\$' '$T/kept.out'"
check "kept handle: the swapped jobs are not done" \
        jq -se 'length == 2 and all(.state != "done")' "$OUTBOX/kept-handle/b-swap/status.json" "$OUTBOX/kept-handle/c-sub/inner/status.json"
after "kept handle" "$since"

# ---- 10. claims across file systems: a hard link in a folder, a swap race ----
if [ -n "$XFS" ]; then
        since=$(now_unix)
        mkdir -p "$INBOX2/.build/xfs-hardlink"
        cp "$T/a.pdf" "$INBOX2/.build/xfs-hardlink/ok.pdf"
        ln "$PRIVATE2/private.pdf" "$INBOX2/.build/xfs-hardlink/hard.pdf"
        mv "$INBOX2/.build/xfs-hardlink" "$INBOX2/" && touch "$INBOX2/xfs-hardlink/.ready"
        attack "hard link in a folder, claim across file systems" xfs-hardlink
        check "cross-fs hard link: skipped with a reason" skipped_with_reason xfs-hardlink hard.pdf
        # Files swapped for links while the claim copies the folder.
        d=$INBOX2/.build/xfs-flip
        mkdir -p "$d"
        for i in 1 2 3 4 5 6; do cp "$T/src/race-flip-x$i.pdf" "$d/x$i.pdf"; done
        # At most 5 s: a claim that loses the race may be tried again after it.
        FLIP_SECONDS=5 python3 "$HELPER" flip "$d" "$T/xflip.ready" "$OUTBOX2/xfs-flip/status.json" "$OUTSIDE/secret.pdf" \
                x1.pdf x2.pdf x3.pdf x4.pdf x5.pdf x6.pdf > "$T/xflip.out" 2>&1 &
        flipper=$!
        wait_for 10 test -e "$T/xflip.ready" || diag "the flipper did not start"
        mv "$d" "$INBOX2/" && touch "$INBOX2/xfs-flip/.ready"
        attack "race: files swapped for links during a claim across file systems" xfs-flip
        wait "$flipper"
        diag "flipper: $(cat "$T/xflip.out")"
        after "cross-fs claims" "$since"
fi

# ---- 11. a 1 MiB-class manifest of 60,000 labels ----
since=$(now_unix)
python3 -c 'import sys; open(sys.argv[1], "w").write("files:\n  - x.pdf\nlabels:\n" + "".join("  l%05d: v\n" % i for i in range(60000)))' \
        "$INBOX/m-labels.batch.yaml"
WAIT=60 attack "manifest: 60,000 labels" m-labels.batch.yaml
after "manifest labels" "$since"

# ---- 12. a manifest of 100,000 missing files (last: today it holds the loop for long) ----
since=$(now_unix)
python3 -c 'import sys; open(sys.argv[1], "w").write("files:\n" + "".join("- m%05d\n" % i for i in range(100000)))' \
        "$INBOX/m-missing.batch.yaml"
# A fixed daemon may need a while to write 100,000 failed jobs; one whose loop
# has stopped (no WATCHDOG=1 for 5 s) is not waited for.
hung() {
        local last; last=$(grep "^[0-9.]* $DAEMON_PID .*WATCHDOG=1" "$NOTES" | tail -n 1 | cut -d' ' -f1)
        [ -n "$last" ] && awk -v l="$last" -v n="$(now_unix)" 'BEGIN { exit !(n - l > 5) }'
}
ended_or_hung() { ended "$1" || hung; }
# (PDFSPOOL_TIME_FACTOR: a sanitizer build runs several times slower; ./dev.sh sanitize sets 4)
wait_for $((120 * ${PDFSPOOL_TIME_FACTOR:-1})) ended_or_hung m-missing.batch.yaml
WAIT=0 attack "manifest: 100,000 missing files, manifest_timeout 3s" m-missing.batch.yaml
after "manifest missing files" "$since"
done_testing
