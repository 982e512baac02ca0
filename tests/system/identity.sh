#!/bin/bash
# No drop reaches outside the spool after it was taken (issue 17): files and
# folders swapped for symbolic links, or files replaced, through a handle the
# uploader kept are refused at the open, never read, linked or re-moded (a);
# a top-level hard link to an outside file or archive stays out of the outbox
# and keeps its mode (b, b2); a PDF nested too deep is handed back (c); the
# outbox original is the daemon's own copy (d); names with control characters
# are shown escaped (e); a batch recorded without identities still refuses a
# link (g); a claim across file systems leaves a hard link out (f); and the
# openat2 fallback holds.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (keeps the uploader's handle)"

# Workers say hello only once $T/go exists: jobs wait until the test has
# changed the claimed drop, without any fixed sleep.
cat > "$T/held-worker" <<EOW
#!/bin/sh
while [ ! -e "$T/go" ]; do sleep 0.05; done
exec "$PDFSPOOL_WORKER"
EOW
chmod +x "$T/held-worker"
export PDFSPOOL_WORKER=$T/held-worker
WORKERS=1 write_config 0.3s
start_daemon || bail "daemon did not start"

# What must never be reached: a secret PDF and a secret folder outside the spool.
mkdir -p "$T/outside/folder"
mkpdf "$T/outside/secret.pdf" 1 "TOPSECRETTEXT"
cp "$T/outside/secret.pdf" "$T/outside/folder/b.pdf"
echo "TOPSECRETTEXT private" > "$T/outside/private.txt"
mkpdf "$T/outside/decoy.pdf" 1 "decoy"
chmod 0600 "$T/outside/secret.pdf" "$T/outside/folder/b.pdf" "$T/outside/private.txt"
outside_stat() { stat -c '%n %a %u %g %h %i' "$T/outside/secret.pdf" "$T/outside/folder/b.pdf" "$T/outside/private.txt"; }
ln "$T/outside/private.txt" "$T/private-link.txt"   # (b) below: a second name, made before the snapshot
before=$(outside_stat)

# (a) an uploader that keeps a handle on the dropped folder
mkdir -p "$T/src/held/sub"
mkpdf "$T/src/held/a.pdf" 1 "harmless a"
mkpdf "$T/src/held/sub/b.pdf" 1 "harmless b"
mkpdf "$T/src/held/c.pdf" 1 "harmless c"
mkpdf "$T/src/held/d.pdf" 1 "harmless d"
cat > "$T/uploader.py" <<'EOP'
import os, sys, time
drop, secret, folder, ready, swap = sys.argv[1:6]
fd = os.open(drop, os.O_RDONLY | os.O_DIRECTORY)
open(ready, "w").close()
while not os.path.exists(swap):
    time.sleep(0.02)
# the folder is in the spool's state now; the handle still reaches it
os.unlink("a.pdf", dir_fd=fd)
os.symlink(secret, "a.pdf", dir_fd=fd)
os.rename("sub", "sub.old", src_dir_fd=fd, dst_dir_fd=fd)
os.symlink(folder, "sub", dir_fd=fd)
# and a file replaced by another (the uploader's own, but not what was taken)
with open(os.open("d.new", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
    f.write(open(os.path.join(folder, "..", "decoy.pdf"), "rb").read())
os.rename("d.new", "d.pdf", src_dir_fd=fd, dst_dir_fd=fd)
open(swap + ".done", "w").close()
EOP
python3 "$T/uploader.py" "$T/src/held" "$T/outside/secret.pdf" "$T/outside/folder" "$T/ready" "$T/swap" &
upl=$!
wait_for 10 test -e "$T/ready" || bail "uploader did not start"
mv "$T/src/held" "$INBOX/"
claimed() { ls "$STATE"/test/claims/*/*/batch.json >/dev/null 2>&1; }
check "(a) the drop is claimed into the state directory" wait_for 30 claimed
touch "$T/swap"
check "(a) the uploader changed the claimed folder through its handle" wait_for 10 test -e "$T/swap.done"
wait "$upl"
touch "$T/go"
check "(a) batch finishes" wait_batch_done held 60
err() { jq -r .error "$OUTBOX/held/$1/status.json" 2>/dev/null; }
diag "a: $(err a); sub/b: $(err sub/b); c: $(jq -r .state "$OUTBOX/held/c/status.json")"
check "(a) file swapped for a symlink: failed, changed after it was taken" sh -c "jq -r .error '$OUTBOX/held/a/status.json' | grep -q 'changed after it was taken'"
check "(a) folder swapped for a symlink: failed, changed after it was taken" sh -c "jq -r .error '$OUTBOX/held/sub/b/status.json' | grep -q 'changed after it was taken'"
check "(a) file replaced by another: failed, now a different file" sh -c "jq -r .error '$OUTBOX/held/d/status.json' | grep -q 'changed after it was taken: now a different file'"
check "(a) the untouched file is done" test "$(jq -r .state "$OUTBOX/held/c/status.json")" = done
check "(a) the log says why" grep -q 'changed after it was taken' "$LOG"

# (b) a top-level hard link to an outside 0600 file
mv "$T/private-link.txt" "$INBOX/hardlink.txt"
check "(b) the hard link is rejected with a status" wait_for 30 test -e "$OUTBOX/rejected/hardlink.txt.status.json"
check "(b) the status says why" sh -c "jq -r .reason '$OUTBOX/rejected/hardlink.txt.status.json' | grep -q 'hard link'"
check "(b) the hard link is not in outbox/rejected" test ! -e "$OUTBOX/rejected/hardlink.txt"
check "(b) the hard link has left the inbox" test ! -e "$INBOX/hardlink.txt"

check "(b) it is kept in the spool's state, the status says so" sh -c "test -e '$STATE/test/rejected/hardlink.txt' && jq -r .reason '$OUTBOX/rejected/hardlink.txt.status.json' | grep -q \"kept in the spool's state\""
check "(b) the outside file is still 0600 with its two links" test "$(stat -c '%a %h' "$T/outside/private.txt")" = "600 2"

# (b2) a top-level hard link to an outside archive is not unpacked
python3 -c 'import zipfile, sys; z = zipfile.ZipFile(sys.argv[1], "w"); z.writestr("inner.txt", "TOPSECRETTEXT zipped"); z.close()' "$T/outside/private.zip"
chmod 0600 "$T/outside/private.zip"
ln "$T/outside/private.zip" "$INBOX/linked.zip"
check "(b2) a hard-linked archive is rejected" wait_for 30 test -e "$OUTBOX/rejected/linked.zip.status.json"
check "(b2) not unpacked into a batch" test ! -e "$OUTBOX/linked"
check "(b2) not in outbox/rejected, the outside archive still 0600" test ! -e "$OUTBOX/rejected/linked.zip" -a "$(stat -c %a "$T/outside/private.zip")" = 600

# Nothing of the outside reached outbox or state, by content or by inode; the
# one exception is the rejected hard link, kept where only the daemon can read it.
check "secret text is nowhere in outbox or state" sh -c "! grep -rlas --exclude-dir=rejected TOPSECRETTEXT '$OUTBOX' '$STATE'"
check "nor in outbox/rejected" sh -c "! grep -rlas TOPSECRETTEXT '$OUTBOX/rejected'"
for f in secret.pdf folder/b.pdf private.txt; do
        ino=$(stat -c %i "$T/outside/$f")
        check "no outbox or state entry is the inode of outside/$f" test -z "$(find "$OUTBOX" "$STATE" -inum "$ino" -not -path "$STATE/test/rejected/*")"
done
after=$(outside_stat)
check "outside files keep mode, owner and link count" test "$before" = "$after"
[ "$before" = "$after" ] || diag "before: $before / after: $after"

# (c) a PDF 70 folders deep is handed back
deep=$T/src/deep
p=$deep; for i in $(seq 1 70); do p=$p/d$i; done
mkdir -p "$p"
mkpdf "$p/x.pdf" 1 "deep"
mkpdf "$deep/top.pdf" 1 "top"
mv "$deep" "$INBOX/"
check "(c) batch finishes" wait_batch_done deep 60
kept=$(jq -r '.skipped[] | select(.source | endswith("/d70/x.pdf")) | .kept_as' "$OUTBOX/deep/status.json")
diag "deep: kept_as=${kept:0:40}..."
check "(c) the deep PDF is listed as skipped with kept_as" test -n "$kept" -a "$kept" != null
check "(c) and is in the outbox" test -f "$OUTBOX/deep/$kept" -a -n "$kept"

# (d) the outbox original is the daemon's own copy
orig=$OUTBOX/deep/top/top.pdf
src=$(ls -d "$STATE"/test/finished/*/src/deep/top.pdf | head -n 1)
check "(d) the outbox original exists" test -f "$orig"
check "(d) it is not the claimed file's inode" test "$(stat -c %i "$orig")" != "$(stat -c %i "$src")"
check "(d) it has one link" test "$(stat -c %h "$orig")" = 1
check "(d) same bytes as the claimed file" cmp -s "$orig" "$src"
# (e) names with control characters: bytes on disk, escaped for people
name=$'esc\e[31mred\nline'
mkdir -p "$T/src/$name"
mkpdf "$T/src/$name/x.pdf" 1 "escaped"
echo note > "$T/src/$name/n"$'\e'"ote.txt"
mv "$T/src/$name" "$INBOX/"
check "(e) batch with control characters in its name finishes" wait_batch_done "$name" 60
check "(e) the outbox folder has the name's bytes" test -d "$OUTBOX/$name"
check "(e) the status shows the name escaped" test "$(jq -r .source "$OUTBOX/$name/status.json")" = 'esc\x1b[31mred\x0aline'
check "(e) and a skipped file's name escaped" sh -c "jq -r '.skipped[].source' '$OUTBOX/$name/status.json' | grep -qxF 'n\\x1bote.txt'"
check "(e) the skipped file is kept under its own bytes" test -f "$OUTBOX/$name/n"$'\e'"ote.txt"
"$PDFSPOOLCTL" -c "$CFG" list > "$T/list.out" 2>&1
"$PDFSPOOLCTL" -c "$CFG" status "$name" > "$T/status.out" 2>&1
check "(e) pdfspoolctl list shows it escaped" grep -qF 'esc\x1b[31mred\x0aline' "$T/list.out"
no_esc() { ! grep -q "$(printf '\033')" "$@"; }
check "(e) no ESC byte in pdfspoolctl list or status output" no_esc "$T/list.out" "$T/status.out"
check "daemon still running" kill -0 "$DAEMON_PID"

# (g) a batch recorded before identities were kept (no "taken") still refuses
# a link at every open: what is checked then is "a regular file with one link".
stop_daemon
rm -f "$T/go"
start_daemon || bail "daemon did not restart"
mkdir -p "$T/src/old"
mkpdf "$T/src/old/p.pdf" 1 "old p"
mkpdf "$T/src/old/q.pdf" 1 "old q"
mv "$T/src/old" "$INBOX/"
old_claimed() { ls "$STATE"/test/claims/*/*/src/old/q.pdf >/dev/null 2>&1 && ls "$STATE"/test/claims/*/*/batch.json >/dev/null 2>&1; }
check "(g) claimed while no worker runs" wait_for 30 old_claimed
stop_daemon
rec=$(ls "$STATE"/test/claims/*/*/batch.json)
jq -c 'del(.jobs[].taken) | del(.skipped[].taken)' "$rec" > "$rec.new" && mv "$rec.new" "$rec"
check "(g) the record has no identities any more" sh -c "! grep -q taken '$rec'"
claimdir=$(dirname "$rec")
rm "$claimdir/src/old/q.pdf" && ln -s "$T/outside/secret.pdf" "$claimdir/src/old/q.pdf"
touch "$T/go"
start_daemon || bail "daemon did not restart"
check "(g) the old batch finishes" wait_batch_done old 60
check "(g) its untouched file is done" test "$(job_state old p)" = done
check "(g) the file swapped for a link fails: changed after it was taken" sh -c "jq -r .error '$OUTBOX/old/q/status.json' | grep -q 'changed after it was taken: now a symbolic link'"
check "(g) the secret's text is not in the outbox" sh -c "! grep -rlas TOPSECRETTEXT '$OUTBOX/old'"

# (f) a claim across file systems copies the drop: a hard-linked file is left
# out, not turned into an ordinary file with one link, and said so.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/xfs" && mount -t tmpfs -o size=64m tmpfs "$T/xfs" 2>/dev/null; then
        EXTRA_CLEANUP='umount -l "$T/xfs"'
        stop_daemon
        sed -i "s|^state_dir: .*|state_dir: $T/xfs/state|" "$CFG"
        start_daemon || bail "daemon did not start with state_dir on another file system"
        mkdir -p "$T/src/xhl"
        mkpdf "$T/src/xhl/ok.pdf" 1 "fine"
        ln "$T/outside/secret.pdf" "$T/src/xhl/linked.pdf"
        mv "$T/src/xhl" "$INBOX/"
        check "(f) cross-file-system batch finishes" wait_batch_done xhl 60
        check "(f) the hard link is skipped as one, and not kept" sh -c "jq -e '.skipped[] | select(.source == \"linked.pdf\") | (.reason | startswith(\"hard link\")) and .kept_as == null' '$OUTBOX/xhl/status.json'"
        check "(f) the other file is done" test "$(job_state xhl ok)" = done
        check "(f) the secret's text is not in the state nor the outbox" sh -c "! grep -rlas --exclude-dir=rejected TOPSECRETTEXT '$T/xfs' '$OUTBOX'"
        check "(f) the secret keeps its mode" test "$(stat -c %a "$T/outside/secret.pdf")" = 600
else
        diag "not root or no tmpfs: the cross-file-system claim is not checked here"
fi

# A kernel without openat2: the same opens, one component at a time.
if command -v strace >/dev/null && [ -x "$top_builddir/tests/unit/fsutil-t" ]; then
        strace -f -qq -o "$T/strace.log" -e trace=openat2 -e inject=openat2:error=ENOSYS \
                "$top_builddir/tests/unit/fsutil-t" > "$T/fallback.tap" 2>&1
        check "without openat2 (ENOSYS injected) every fsutil check still holds" \
                sh -c "grep -q INJECTED '$T/strace.log' && grep -q '^ok' '$T/fallback.tap' && ! grep -q '^not ok' '$T/fallback.tap'"
else
        diag "strace or tests/unit/fsutil-t not there: the openat2 fallback is not checked here"
fi
done_testing
