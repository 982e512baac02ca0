#!/bin/bash
# A file added to a folder while a claim copies it across file systems (the
# state_dir on another file system than the inbox: a share mounted on the
# daemon's host) is never lost (issue 16): it ends up processed in some batch
# (its bytes are a job's original in the outbox) or stays in the inbox and is
# taken as a new drop later. Many tries, with and without a ready marker, the
# file added at varying moments after <claim>/src.partial appears, through a
# handle on the folder that the writer kept open (as a shell's working
# directory or a file server does): the daemon hides a drop in its inbox
# before it copies it, so a write by the folder's name fails outright, and
# only a kept handle can still add to it.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (watches the claim)"
[ "$(id -u)" = 0 ] || skip_all "not root: cannot mount a tmpfs for state_dir on another file system"
mkdir -p "$STATE"
mount -t tmpfs -o size=512m tmpfs "$STATE" 2>/dev/null || skip_all "cannot mount a tmpfs for state_dir"
EXTRA_CLEANUP="umount -l '$STATE'"
[ "$(stat -c %d "$STATE")" != "$(stat -c %d "$T")" ] || bail "state_dir is not on another file system"

TRIES=${CLAIMRACE_TRIES:-20}
FILES=40
DELAYS=(0 0 1 1 2 2 3 3 4 5 6 7 8 10 12 0 1 2 3 4)
plan $((TRIES + 2))

# A filler PDF of about 300 KB (an incompressible comment in its page), so
# that copying 30 of them takes a while.
mkdir -p "$T/proto" "$T/added"
{
        printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\n'
        head -c 300000 /dev/urandom | base64 -w 0 | sed 's/^/% /'
        printf '\nBT /F1 18 Tf 72 760 Td (filler) Tj ET\n'
} > "$T/proto/page.txt"
mutool create -o "$T/filler.pdf" "$T/proto/page.txt" >/dev/null 2>&1 || bail "cannot make the filler PDF"
diag "filler PDF: $(stat -c %s "$T/filler.pdf") bytes, $FILES a folder"

# A rescan every 10 s: what stays in the inbox is found again even without an event.
write_config 1s "rescan_interval: 10s" "    ready_marker: .ready"
start_daemon || bail "daemon did not start"
CLAIMS=$(ls -d "$STATE"/test/claims/*/ 2>/dev/null | head -n 1)
[ -d "$CLAIMS" ] || bail "no claims folder in $STATE/test/claims"

# settled NAME: nothing of the try is left in the inbox, every batch of it done.
settled() {
        [ ! -e "$INBOX/$1" ] || return 1
        # a claim not finished yet (taken, still registering or running) is not settled
        [ -z "$(ls -A "$STATE"/test/claims/*/ 2>/dev/null)" ] || return 1
        local f
        for f in "$OUTBOX/$1"/status.json "$OUTBOX/$1"-*/status.json; do
                [ -f "$f" ] || continue
                jq -e '.state == "done"' "$f" >/dev/null || return 1
        done
        [ -f "$OUTBOX/$1/status.json" ]
}

lost=0 stuck=0 during=0 late=0
for i in $(seq 1 "$TRIES"); do
        name=try$i delay=${DELAYS[$(( (i - 1) % ${#DELAYS[@]} ))]}
        marker=$([ $((i % 2)) = 1 ] && echo yes || echo no)
        mkdir -p "$T/src/$name"
        for k in $(seq -w 1 $FILES); do cp "$T/filler.pdf" "$T/src/$name/f$k.pdf"; done
        mkpdf "$T/added/$name-added.pdf" 1 "added during the claim of $name"
        rm -f "$T/watch.ready"
        python3 "$top_srcdir/tests/system/claim-watch.py" "$CLAIMS" "$INBOX/$name" "$delay" \
                "$T/added/$name-added.pdf" "$T/watch.ready" > "$T/watch.out" 2>&1 &
        watcher=$!
        wait_for 10 test -e "$T/watch.ready" || diag "$name: the watcher did not start"
        mv "$T/src/$name" "$INBOX/"
        [ $marker = yes ] && touch "$INBOX/$name/.ready"
        wait "$watcher"
        said=$(cat "$T/watch.out")
        wait_for 30 settled "$name" || diag "$name: not settled after 30 s: $(ls "$INBOX/$name" 2>/dev/null | wc -l) entries left in the inbox, batch status: $(cat "$OUTBOX/$name/status.json" 2>/dev/null | jq -c .jobs)"
        case $said in
        added*) during=$((during + 1)) ;;
        *) late=$((late + 1)) ;;
        esac
        # Every file of the try processed exactly once: the 30 and the added one.
        want=$FILES added=0
        [[ $said == added* ]] && want=$((FILES + 1)) added=1
        got=$(cat "$OUTBOX/$name/status.json" "$OUTBOX/$name"-*/status.json 2>/dev/null | jq -s 'map(.jobs.done) | add // 0')
        r=0
        if [ $added = 0 ]; then
                where="not added"
        elif bytes_in "$T/added/$name-added.pdf" "$OUTBOX"; then
                where="processed: $(cd "$OUTBOX" && ls -d "$name" "$name"-* 2>/dev/null | tr '\n' ' ')"
        elif [ -e "$INBOX/$name/$name-added.pdf" ]; then
                where="still in the inbox, not taken again within 30 s"; r=1; stuck=$((stuck + 1))
        else
                where="LOST: in no batch, not in the inbox"; r=1; lost=$((lost + 1))
        fi
        if [ "$got" != "$want" ]; then
                where="$where; $got of $want PDFs done in batches $name*"; r=1
        fi
        ok $r "$name (ready marker: $marker, +$delay ms): the added file is kept ($said; $where)"
done
diag "$lost of $TRIES tries lost the added file, $stuck left it in the inbox untaken; $during added while the folder was being claimed, $late too late or missed"
ok $([ $during -ge $((TRIES / 2)) ] && echo 0 || echo 1) \
        "at least half the tries added the file while the folder was being claimed ($during of $TRIES)"
ok $([ $((lost + stuck)) = 0 ] && echo 0 || echo 1) "every added file processed ($lost of $TRIES lost, $stuck left untaken)"
done_testing
