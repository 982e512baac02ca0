#!/bin/bash
# 20,000 small PDFs in 200 folders dropped at once: each processed exactly once.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
FOLDERS=${SCALE_FOLDERS:-200}
PER=${SCALE_PER_FOLDER:-100}
N=$((FOLDERS * PER))

write_config 1s
start_daemon || bail "daemon did not start"
mkpdf "$T/a.pdf" 1 "scale"
mkdir -p "$T/src"
for f in $(seq -w 1 $FOLDERS); do
        mkdir "$T/src/f$f"
        (cd "$T/src/f$f" && seq -w 1 $PER | sed 's/.*/&.pdf/' | xargs -n 500 sh -c 'for x; do cp ../../a.pdf "$x"; done' sh)
done
start=$(date +%s)
mv "$T/src"/* "$INBOX/"
all_done() {
        local n=0 f
        for f in "$OUTBOX"/f*/status.json; do
                [ "$(jq -r .state "$f" 2>/dev/null)" = done ] && n=$((n + 1))
        done
        [ $n -eq $FOLDERS ]
}
check "$FOLDERS batches of $PER PDFs finish" wait_for 1200 all_done
secs=$(( $(date +%s) - start ))
done_count=$(cat "$OUTBOX"/f*/status.json | jq -s 'map(.jobs.done) | add')
check "every one of the $N PDFs done ($done_count)" test "$done_count" -eq $N
dups=$(grep -o 'batch=f[0-9]* job=[^:]*: job done' "$LOG" | sort | uniq -d | wc -l)
check "none processed twice ($dups)" test "$dups" -eq 0
check "exactly $N job-done lines" test "$(grep -c ': job done' "$LOG")" -eq $N
check "no batch created twice" test "$(ls "$OUTBOX" | grep -c -- '-2$')" -eq 0
diag "$N PDFs in $FOLDERS folders: $secs s ($(( N / (secs > 0 ? secs : 1) )) PDFs/s)"
done_testing
