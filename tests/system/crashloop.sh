#!/bin/bash
# Crash loop: 300 PDFs of mixed sizes dropped in batches while the daemon is
# SIGKILLed 30 times and random workers 30 times, at random moments; the daemon
# is started again after each kill. At the end the spool's invariant holds
# (tests/system/check-spool): every original is in the outbox exactly once, as
# one job in one terminal state; every done job has complete outputs; no temp or
# partial file is visible; every status file parses and agrees with the jobs. A
# job fails only if the test killed its worker (that is reported, not retried).
#
# The decisions (batch sizes, PDF sizes, which kill, when) come from a seed,
# printed first with every kill's time: CRASHLOOP_SEED=N replays them.
# CRASHLOOP_PDFS, CRASHLOOP_DAEMON_KILLS, CRASHLOOP_WORKER_KILLS scale it.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (check-spool)"

SEED=${CRASHLOOP_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
N=${CRASHLOOP_PDFS:-300}
DAEMON_KILLS=${CRASHLOOP_DAEMON_KILLS:-30}
WORKER_KILLS=${CRASHLOOP_WORKER_KILLS:-30}
RANDOM=$SEED
diag "seed $SEED (replay: CRASHLOOP_SEED=$SEED), $N PDFs, $DAEMON_KILLS daemon kills, $WORKER_KILLS worker kills"

WORKERS=2 write_config 0.3s

# Mixed sizes: five prototypes from 1 to 120 pages (a few KiB to about 1 MiB),
# each copy made distinct by a comment after %%EOF.
PAGES=(1 3 10 40 120)
for p in "${PAGES[@]}"; do mkpdf "$T/proto$p.pdf" "$p" "crash loop, $p pages"; done
mkdir -p "$T/src" "$T/pristine"
i=0
B=0
while [ "$i" -lt "$N" ]; do
        B=$((B + 1))
        n=$((1 + RANDOM % 20))
        [ $((i + n)) -gt "$N" ] && n=$((N - i))
        mkdir -p "$T/src/batch$B"
        for _ in $(seq 1 "$n"); do
                i=$((i + 1))
                f=$T/src/batch$B/doc$i.pdf
                cp "$T/proto${PAGES[RANDOM % 5]}.pdf" "$f"
                printf '%% crash loop copy %s\n%%%%EOF\n' "$i" >> "$f"
        done
done
cp -r "$T/src/." "$T/pristine/"
diag "$N PDFs in $B drops, $(du -sk "$T/pristine" | cut -f1) KiB"

# drop K: a folder moved in whole, or, for a drop of one, the PDF alone
drop() {
        local d=$T/src/batch$1
        if [ "$(ls "$d" | wc -l)" -eq 1 ]; then mv "$d"/*.pdf "$INBOX/"; rmdir "$d"; else mv "$d" "$INBOX/"; fi
}
ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
workers_of() { pgrep -P "$1" -f pdfspool-worker; }

start_daemon || bail "daemon did not start"
T0=$(date +%s%N)
dk=0
wk=0
next=1
while [ "$dk" -lt "$DAEMON_KILLS" ] || [ "$wk" -lt "$WORKER_KILLS" ]; do
        if [ "$next" -le "$B" ]; then drop "$next"; next=$((next + 1)); fi
        # the moment of the next kill: 0 to 1.5 s on, from the seed
        sleep "$((RANDOM % 2)).$(printf %03d $((RANDOM % 1000)))"
        if [ "$dk" -ge "$DAEMON_KILLS" ] || { [ "$wk" -lt "$WORKER_KILLS" ] && [ $((RANDOM % 2)) -eq 0 ]; }; then
                mapfile -t ws < <(workers_of "$DAEMON_PID")
                [ "${#ws[@]}" -eq 0 ] && continue
                w=${ws[RANDOM % ${#ws[@]}]}
                if kill -KILL "$w" 2>/dev/null; then
                        wk=$((wk + 1))
                        diag "$(ms) ms: worker kill $wk (pid $w)"
                fi
        else
                kill_daemon
                dk=$((dk + 1))
                diag "$(ms) ms: daemon kill $dk"
                start_daemon || bail "daemon did not start again after kill $dk"
        fi
done
while [ "$next" -le "$B" ]; do drop "$next"; next=$((next + 1)); done
diag "$(ms) ms: all kills done, waiting for the spool to finish"

# Settled when check-spool finds nothing (checked once a second: it reads every file).
# A job whose worker the test killed fails (the PDF is blamed for a worker that
# died under it); so does one sent to a worker killed a moment before (pool.c:
# "could not be reached"). Both are counted against the worker kills below.
KILLED='^(worker killed by SIGKILL|the worker could not be reached)'
settled() { python3 "$CHECK_SPOOL" --inbox "$INBOX" --outbox "$OUTBOX" --state "$STATE" \
                --pristine "$T/pristine" --allow-failed "$KILLED" >/dev/null 2>&1; }
wait_settled 60 900 settled
diag "$(ms) ms: settled"

check "$dk daemon kills and $wk worker kills at random moments" \
        test "$dk" -ge "$DAEMON_KILLS" -a "$wk" -ge "$WORKER_KILLS"
check "the daemon was started $((dk + 1)) times and is running" kill -0 "$DAEMON_PID"
check_spool "$T/pristine" --allow-failed "$KILLED" --summary
ok $? "the spool's invariant holds (check-spool: every original once, outputs complete, no temp, statuses agree)"

# The same things again, directly, so that this test does not rest on one checker.
find "$OUTBOX" -mindepth 2 -name status.json -print0 | xargs -0 -r jq -c 'select(.job) | [.job, .state, (.error // "")]' \
        > "$T/jobs" 2>"$T/jq.err"
check "every status file parses" test ! -s "$T/jq.err"
check "$N jobs, one per PDF dropped ($(wc -l < "$T/jobs") job statuses)" test "$(wc -l < "$T/jobs")" -eq "$N"
nonterminal=$(jq -c 'select(.[1] != "done" and .[1] != "failed" and .[1] != "canceled")' "$T/jobs" | wc -l)
check "every job is in one terminal state ($nonterminal not)" test "$nonterminal" -eq 0
failed=$(jq -r 'select(.[1] == "failed") | .[2]' "$T/jobs")
n_failed=$(printf '%s' "$failed" | grep -c .)
diag "done: $(jq -c 'select(.[1] == "done")' "$T/jobs" | wc -l), failed: $n_failed"
check "only jobs whose worker was killed failed ($n_failed failed, $wk worker kills)" \
        sh -c "[ $n_failed -le $wk ] && ! printf '%s\n' \"\$1\" | grep -v '^\$' | grep -Evq \"\$2\"" _ "$failed" "$KILLED"

outputs_complete() {
        local st d bad=0
        while IFS= read -r -d '' st; do
                [ "$(jq -r 'select(.job) | .state' "$st")" = done ] || continue
                d=$(dirname "$st")
                if ! jq -e '.pages >= 1' "$d/meta.json" >/dev/null 2>&1 || [ ! -s "$d/text.txt" ] ||
                   [ "$(head -c 8 "$d/thumb.png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
                        echo "# incomplete: $d"
                        bad=1
                fi
        done < <(find "$OUTBOX" -mindepth 2 -name status.json -print0)
        return $bad
}
outputs_complete
ok $? "every done job has meta.json with pages, text.txt and a PNG thumbnail"
temps=$(find "$OUTBOX" \( -name '.pdfspool-tmp*' -o -name '*.tmp' -o -name '*.part' -o -name '.#*' \) | head -n 5)
[ -n "$temps" ] && printf '%s\n' "$temps" | sed 's/^/# temp: /'
check "no temp or partial file visible in the outbox" test -z "$temps"
counts_agree() {
        local bs b bad=0
        for bs in "$OUTBOX"/*/status.json; do
                b=$(basename "$(dirname "$bs")")
                [ "$b" = rejected ] && continue
                counts_add_up "$b" || { echo "# counts do not add up: $b"; bad=1; }
                want=$(jq -r '.jobs.done' "$bs")
                have=$(find "$OUTBOX/$b" -mindepth 2 -name status.json -exec jq -r 'select(.job) | .state' {} + | grep -c '^done$')
                [ "$want" = "$have" ] || { echo "# $b: status says $want done, its jobs $have"; bad=1; }
        done
        return $bad
}
counts_agree
ok $? "every batch status's counts add up and agree with its jobs"
check "nothing left in the inbox" test -z "$(ls -A "$INBOX")"
stop_daemon
done_testing
