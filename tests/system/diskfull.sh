#!/bin/bash
# A full disk is not the input's fault: with the outbox on a full file system
# (a small tmpfs, then a loop-mounted ext4),
# good PDFs are never failed; their jobs wait ("deferred: ... No space left on
# device ...; retry at ..."), STATUS= and the batch status say why, and once
# there is room again every job ends done, with all its outputs, exactly once.
# A free-space reserve (min_free) keeps new drops in the inbox before the disk
# is full: said in the log, pending, health and STATUS=; taken when room is back.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (listens on NOTIFY_SOCKET)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root to mount a small tmpfs as the outbox"

SOCK=$T/notify.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
f = open(sys.argv[2], "a")
while True:
    f.write(s.recv(65536).decode(errors="replace") + "\n"); f.flush()
' "$SOCK" "$T/notify.txt" &
EXTRA_CLEANUP="kill $! 2>/dev/null"
wait_for 10 test -S "$SOCK" || bail "listener did not start"

# mount_outbox tmpfs|ext4: the outbox on a small file system of that kind (ext4:
# a loop device over a file, as a real disk partition behaves: its own block
# allocation, reserved blocks, journal).
mount_outbox() {
        mkdir -p "$OUTBOX"
        case $1 in
        tmpfs) mount -t tmpfs -o size=4m tmpfs "$OUTBOX" ;;
        ext4)  truncate -s 8M "$T/ext4.img" && mkfs.ext4 -q -F -m 0 "$T/ext4.img" >/dev/null 2>&1 &&
               mount -o loop "$T/ext4.img" "$OUTBOX" && rm -rf "$OUTBOX/lost+found" ;;
        esac
}
EXTRA_CLEANUP="$EXTRA_CLEANUP; umount -l '$OUTBOX' 2>/dev/null"

# full_disk KIND: the disk fills after the drop was taken (no reserve: min_free 0).
full_disk() {
        local kind=$1 name=full-$1 lines
        mount_outbox "$kind" || { diag "SKIP the $kind half: cannot mount one here"; return 0; }
        : > "$T/notify.txt"
        lines=$(wc -l < "$LOG" 2>/dev/null || echo 0)
        write_config 0.3s "min_free: 0"
        NOTIFY_SOCKET=$SOCK start_daemon || bail "daemon did not start ($kind)"
        # Fill the outbox's file system to the last block.
        dd if=/dev/zero of="$OUTBOX/.filler" bs=64k 2>/dev/null
        mkdir -p "$T/src/$name"
        for i in $(seq 1 $N); do mkpdf "$T/src/$name/sheet$i.pdf" 2 "Datasheet $i"; done
        touch "$T/src/$name/.ready"
        mv "$T/src/$name" "$INBOX/"
        check "$kind: the fault is logged as a deferral, not the input's fault" \
                wait_for 30 sh -c "tail -n +$((lines + 1)) '$LOG' | grep -q \"work deferred: .*No space left on device.*not the input's fault\""
        check "$kind: STATUS= says the queue waits, and why" \
                wait_for 10 grep -q 'STATUS=.*queue test waits: .*No space left on device; retry at' "$T/notify.txt"
        check "$kind: no job failed while the disk was full" sh -c "! tail -n +$((lines + 1)) '$LOG' | grep -q 'job failed'"
        check "$kind: the drop is claimed, not lost (it is in the spool's claims)" \
                bash -c "ls '$STATE'/test/claims/*/ | grep -q . && [ ! -e '$INBOX/$name' ]"
        check "$kind: pdfspoolctl health says the queue's work waits for space" \
                wait_for 10 sh -c "'$PDFSPOOLCTL' -c '$CFG' health | grep -q '^Queue test: work waits: .*No space left on device; retry at'"
        # Room again: everything finishes by itself.
        rm -f "$OUTBOX/.filler"
        check "$kind: once there is room, the batch finishes" wait_batch_done "$name" 90
        check "$kind: every job done, none failed" \
                test "$(jq_file "$OUTBOX/$name/status.json" '"\(.jobs.done) \(.jobs.failed)"')" = "$N 0"
        local missing=0 empty=0 i f
        for i in $(seq 1 $N); do
                for f in meta.json text.txt thumb.png status.json sheet$i.pdf; do
                        [ -s "$OUTBOX/$name/sheet$i/$f" ] || { missing=$((missing + 1)); diag "missing $name/sheet$i/$f"; }
                done
        done
        check "$kind: every done job has all its outputs" test "$missing" -eq 0
        check "$kind: the originals are byte for byte what was dropped" \
                bash -c 'for i in $(seq 1 '$N'); do mutool info "'"$OUTBOX/$name"'/sheet$i/sheet$i.pdf" >/dev/null 2>&1 || exit 1; done'
        empty=$(find "$OUTBOX" -name '*.json' -size 0 | wc -l)
        check "$kind: no status file is empty or truncated ($empty empty)" \
                sh -c "[ $empty -eq 0 ] && find '$OUTBOX' -name '*.json' -exec jq -e . {} + >/dev/null"
        check "$kind: no temp file or folder is left in the outbox" \
                test -z "$(find "$OUTBOX" \( -name '.pdfspool-tmp.*' -o -name '*.tmp-*' \) -print)"
        check "$kind: each job ran to its end once (one 'job done' line each)" \
                test "$(tail -n +$((lines + 1)) "$LOG" | grep -c 'job done:')" -eq "$N"
        check "$kind: a job's status no longer says deferred once done" \
                bash -c "! grep -l deferred '$OUTBOX'/$name/sheet*/status.json"
        stop_daemon
        umount "$OUTBOX" || umount -l "$OUTBOX"
}

N=6
full_disk tmpfs
command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null || diag "SKIP the ext4 half: mkfs.ext4 or losetup not installed"
command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null && full_disk ext4

mount_outbox tmpfs || bail "cannot mount the outbox again"
# ---- min_free: new drops wait in the inbox while less is free ----
write_config 0.3s "min_free: 2M"
NOTIFY_SOCKET=$SOCK start_daemon || bail "daemon did not start with min_free"
avail=$(df --output=avail -B1 "$OUTBOX" | tail -n 1)
# leave about 1 MiB free: less than min_free, room enough for the daemon's own files
dd if=/dev/zero of="$OUTBOX/.filler" bs=64k count=$(( (avail - (1 << 20)) / 65536 )) 2>/dev/null
diag "free on the outbox: $(df --output=avail -B1 "$OUTBOX" | tail -n 1) bytes"
mkdir -p "$T/src/reserve"
for i in 1 2; do mkpdf "$T/src/reserve/r$i.pdf" 1 "Reserve $i"; done
touch "$T/src/reserve/.ready"
mv "$T/src/reserve" "$INBOX/"
check "min_free: the drop waits, the log says why and names the reserve" \
        wait_for 30 grep -q "free on the file system of $OUTBOX, less than min_free (2.0 MiB): reserve and later drops wait in the inbox" "$LOG"
check "... it stays in the inbox, untouched, and no batch is made" \
        sh -c "test -e '$INBOX/reserve/r1.pdf' && test ! -e '$OUTBOX/reserve' && ! ls '$STATE'/test/claims/*/ 2>/dev/null | grep -q ."
check "pdfspoolctl pending names the reserve" \
        wait_for 20 sh -c "'$PDFSPOOLCTL' -c '$CFG' pending | grep -q 'reserve.*less than min_free'"
check "pdfspoolctl health says new drops wait, and why" \
        wait_for 20 sh -c "'$PDFSPOOLCTL' -c '$CFG' health | grep -q 'Queue test: new drops wait: only .* less than min_free'"
check "STATUS= says new drops wait" wait_for 10 grep -q 'STATUS=.*queue test: new drops wait: only .*less than min_free' "$T/notify.txt"
rm -f "$OUTBOX/.filler"
check "room again: the drop is taken by itself and its batch finishes" wait_batch_done reserve 60
check "... and the log says drops are taken again" grep -q "new drops are taken again" "$LOG"
check "both jobs done" test "$(jq_file "$OUTBOX/reserve/status.json" '"\(.jobs.done) \(.jobs.failed)"')" = "2 0"
stop_daemon
done_testing
