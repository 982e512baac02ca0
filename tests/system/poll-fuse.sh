#!/bin/bash
# Polling where inotify cannot see: the inbox is a FUSE mount (bindfs) and the
# test writes into the directory underneath, as another NFS/SMB client would;
# inotify on the mount sees nothing. watch: auto must choose polling, and every
# drop is processed exactly once. The claim crosses file systems (copy, fsync,
# remove).
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v bindfs >/dev/null || skip_all "bindfs not installed (apt-get install bindfs)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root to mount FUSE"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"

UNDER=$T/under
mkdir -p "$UNDER" "$INBOX"
bindfs "$UNDER" "$INBOX" 2>"$T/bindfs.err" || skip_all "bindfs cannot mount here: $(cat "$T/bindfs.err")"
EXTRA_CLEANUP="fusermount -u '$INBOX' 2>/dev/null || umount -l '$INBOX' 2>/dev/null"
check "inbox is a FUSE mount" sh -c "stat -f -c %T '$INBOX' | grep -q fuse"

# Prove the premise: inotify on the mount does not see writes made underneath.
if command -v inotifywait >/dev/null; then
        (inotifywait -q -t 3 -e create "$INBOX" > "$T/inotify.out" 2>&1) &
        w=$!
        sleep 0.5; touch "$UNDER/probe"; wait $w
        check "premise: inotify on the mount is blind to writes underneath" test ! -s "$T/inotify.out"
        rm -f "$UNDER/probe"
fi

write_config 3s "" "    watch: auto
    poll_interval: 1s"
start_daemon || bail "daemon did not start"
check "auto chose polling on the FUSE mount" grep -q 'watching inbox .* (polling every [0-9.]* s, fuse file system' "$LOG"
mkpdf "$T/a.pdf" 2 "fuse"
for i in 1 2 3; do
        mkdir -p "$T/src/d$i"
        cp "$T/a.pdf" "$T/src/d$i/x.pdf"; cp "$T/a.pdf" "$T/src/d$i/y.pdf"
        cp -r "$T/src/d$i" "$UNDER/"
done
cp "$T/a.pdf" "$UNDER/single.pdf"
for b in d1 d2 d3 single; do
        check "drop $b written underneath is processed" wait_batch_done $b 60
done
check "the mount's inbox is empty (claimed across file systems)" test -z "$(ls -A "$UNDER")"
check "each job processed exactly once" test "$(grep -c ': job done' "$LOG")" -eq 7
check "no duplicate batches" test "$(ls "$OUTBOX" | grep -c -- '-2$')" -eq 0
check "state holds a complete copy of each drop" test "$(find "$STATE/test/finished" -path '*/src/*' -name '*.pdf' | wc -l)" -eq 7
check "no partial claim left" test -z "$(find "$STATE" -name src.partial)"

# A slow writer underneath, pausing less than settle: polling sees the size
# change; never taken early.
size=$(stat -c %s "$T/a.pdf")
( head -c $((size / 2)) "$T/a.pdf" > "$UNDER/slow.pdf"; sleep 1.5; tail -c +$((size / 2 + 1)) "$T/a.pdf" >> "$UNDER/slow.pdf" ) &
wait $!
check "slow write underneath: processed whole" wait_batch_done slow 60
check "slow write: done, 2 pages" test "$(job_state slow slow)" = done -a "$(jq_file "$OUTBOX/slow/slow/status.json" .pages)" = 2
stop_daemon
done_testing
