#!/bin/bash
# Single-fault sweep (issue 16): for each class of system call the daemon and
# its workers make, a clean run of a small scenario counts the calls; then for
# a point N, one run fails exactly the N-th call of that class in each process
# (strace -f -e inject=...:when=N), the daemon is stopped, started again
# without faults, and the spool is checked with the shared invariant checker
# (check-spool): every dropped PDF in the outbox exactly once, done means all
# outputs there and equal to the clean run's, no good PDF failed, nothing
# stuck, no temp left, every status file right, the daemon never crashed.
#
# The scenario: a folder with a subfolder and a .ready marker (3 PDFs), a
# single PDF, a manifest with a hidden upload (1 PDF) and a zip (2 PDFs);
# once with state_dir on the inbox's file system ("samefs") and once on a
# tmpfs mounted here ("xfs", root only), so that the copying claim is swept.
#
#   faultsweep.sh                     make check: a seeded sample of points
#   faultsweep.sh --full              every N (classes of more than 500 calls: 500 points spread evenly)
#   faultsweep.sh --class C --point N [--xfs] [--seed S]     replay one run; keeps its folder
# Options: --max-points M (points per class and half, spread evenly from a
# seeded offset), --stride K (every K-th point from a seeded start), --seed S,
# --class C (repeatable), --samefs / --xfs (one half only), --budget SECONDS
# (start no run past it), --jobs J (runs at once), --keep (keep every run's folder).
#
# A point is SYSCALL:N (strace counts each call on its own, in each process).
# A run's verdict, the worst first: crashed (the daemon killed by a signal, or
# exiting on its own after it started, or after the restart), lost, false_done,
# failed, stuck (check-spool's categories; also a daemon that ignored SIGTERM),
# other (doubled, temp_left, bad_status), else ok. A daemon that exits non-zero
# before it logged "started" (a fault while loading) counts as nostart, not as
# a crash, when the restart then leaves the spool right. make check fails when
# any run is not ok.
. "$(dirname "$0")/lib.sh"
# LeakSanitizer cannot run under ptrace (strace): in a sanitizer build it would
# report that instead of a leak. ASan and UBSan still check every call.
export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
command -v strace >/dev/null || skip_all "strace not installed (apt-get install strace)"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs check-spool)"
command -v zip >/dev/null || skip_all "zip not installed"

# class -> "syscalls errno"
declare -A CLASS_CALLS=(
        [openat]="openat EMFILE"
        [getdents64]="getdents64 EIO"
        [mkdir]="mkdir,mkdirat ENOSPC"
        [rename]="rename,renameat,renameat2 EIO"
        [link]="link,linkat EIO"
        [unlink]="unlink,unlinkat EIO"
        [fsync]="fsync,fdatasync,syncfs EIO"
        [write]="write ENOSPC"
        [clone]="clone,clone3,fork,vfork EAGAIN"
        [socketpair]="socketpair EMFILE"
        [inotify_add_watch]="inotify_add_watch ENOSPC"
)
ALL_CLASSES="openat getdents64 mkdir rename link unlink fsync write clone socketpair inotify_add_watch"
N_BATCHES=4           # batches the scenario makes
# deadlines (s): with the fault, for the 4 batches to finish; after the restart, for everything to end
DEADLINE1=${FAULTSWEEP_DEADLINE1:-6}
DEADLINE2=${FAULTSWEEP_DEADLINE2:-10}
FULL_CAP=500          # the issue: a class of more than 500 calls gets 500 points spread evenly

CLASSES= POINT= HALVES= SEED= STRIDE= MAX_POINTS= BUDGET= JOBS=1 JOBS_SET= FULL= KEEP=
while [ $# -gt 0 ]; do
        case $1 in
        --class) CLASSES="$CLASSES $2"; shift ;;
        --point) POINT=$2; shift ;;
        --xfs) HALVES="$HALVES xfs" ;;
        --samefs) HALVES="$HALVES samefs" ;;
        --seed) SEED=$2; shift ;;
        --stride) STRIDE=$2; shift ;;
        --max-points) MAX_POINTS=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --jobs) JOBS=$2; JOBS_SET=1; shift ;;
        --full) FULL=1 ;;
        --keep) KEEP=1 ;;
        *) bail "unknown option $1 (see the comment at the top of $0)" ;;
        esac
        shift
done
for c in $CLASSES; do [ -n "${CLASS_CALLS[$c]:-}" ] || bail "unknown class $c; classes: $ALL_CLASSES"; done
: "${CLASSES:=$ALL_CLASSES}"
if [ -n "$POINT" ]; then
        [ -n "${HALVES}" ] || HALVES=samefs
        KEEP=1
        export KEEP_TEST_DIR=1
fi
: "${HALVES:=samefs xfs}"
: "${SEED:=${FAULTSWEEP_SEED:-$(( $(date +%s%N) % 100000 ))}}"
if [ -z "$FULL$STRIDE$MAX_POINTS$POINT" ]; then
        # make check: a sample that ends within 10 minutes on 2 busy cores
        MAX_POINTS=${FAULTSWEEP_MAX_POINTS:-6}
        : "${BUDGET:=${FAULTSWEEP_BUDGET:-420}}"
        [ "$JOBS_SET" ] || JOBS=2
fi
START=$(date +%s)
CHECKER=$top_srcdir/tests/system/check-spool
diag "seed $SEED (replay this sample: $0 --seed $SEED${MAX_POINTS:+ --max-points $MAX_POINTS}${STRIDE:+ --stride $STRIDE})"

# ---- the scenario ----
SCEN=$T/scenario
make_scenario() {
        mkdir -p "$SCEN/drop/vendor/sub" "$SCEN/drop/.upload" "$SCEN/pdfs" "$SCEN/zip/docs"
        mkpdf "$SCEN/drop/vendor/a.pdf" 1 "sweep vendor a"
        mkpdf "$SCEN/drop/vendor/b.pdf" 2 "sweep vendor b"
        mkpdf "$SCEN/drop/vendor/sub/c.pdf" 1 "sweep vendor sub c"
        : > "$SCEN/drop/vendor/.ready"
        mkpdf "$SCEN/drop/single.pdf" 1 "sweep single"
        mkpdf "$SCEN/drop/.upload/m.pdf" 1 "sweep manifest m"
        mkpdf "$SCEN/zip/docs/d.pdf" 1 "sweep zip d"
        mkpdf "$SCEN/zip/docs/e.pdf" 2 "sweep zip e"
        (cd "$SCEN/zip" && zip -qr "$SCEN/drop/pack.zip" docs)
        printf 'batch: review\nfiles:\n  - path: .upload/m.pdf\n    sha256: %s\n' \
                "$(sha256sum "$SCEN/drop/.upload/m.pdf" | cut -d' ' -f1)" > "$SCEN/drop/review.batch.yaml"
        cp -r "$SCEN/drop/vendor" "$SCEN/drop/single.pdf" "$SCEN/drop/.upload" "$SCEN/zip/docs" "$SCEN/pdfs/"
        [ "$(find "$SCEN/pdfs" -name '*.pdf' | wc -l)" -eq 7 ] && [ -s "$SCEN/drop/pack.zip" ]
}

# drop_scenario INBOX STAGE: what a user does, each drop appearing at once
drop_scenario() {
        local inbox=$1 stage=$2
        cp -r "$SCEN/drop/." "$stage/"
        mv "$stage/vendor" "$inbox/"
        mv "$stage/single.pdf" "$inbox/"
        mv "$stage/.upload" "$inbox/"
        mv "$stage/review.batch.yaml" "$inbox/"
        mv "$stage/pack.zip" "$inbox/"
}

# ---- one run ----
# run_config DIR: the run's spool configuration (state in DIR/state)
run_config() {
        local d=$1
        cat > "$d/pdfspool.yaml" <<EOC
state_dir: $d/state
workers: 1
log: stderr
job_timeout: 20s
stop_grace: 2s
queues:
  test:
    inbox: $d/inbox
    outbox: $d/outbox
    settle: 300ms
    incomplete_wait: 1s
EOC
}

batches_finished() { [ "$(grep -c ': batch finished: ' "$1")" -ge "$2" ]; }
started_after() { [ "$(grep -c ' started: ' "$1")" -gt "$2" ]; }
# all_ended DIR: nothing left to do: no claim, nothing in the inbox, no batch still running
all_ended() {
        local d=$1 f
        [ -z "$(ls -A "$d"/state/test/claims/*/ 2>/dev/null)" ] || return 1
        [ -z "$(find "$d/inbox" -type f -print -quit 2>/dev/null)" ] || return 1
        for f in "$d"/outbox/*/status.json; do
                [ -e "$f" ] || continue
                [ "$(basename "$(dirname "$f")")" = rejected ] && continue
                case $(jq -r .state "$f" 2>/dev/null) in done|canceled) ;; *) return 1 ;; esac
        done
}
pid_alive() { kill -0 "$1" 2>/dev/null; }
# reap PID (a child of this shell) within SECS, else kill it and its children:
# no run may hang the sweep, whatever strace or the daemon do.
reap() {
        local pid=$1 secs=${2:-15}
        if ! wait_for "$secs" not_running "$pid"; then
                pkill -KILL -P "$pid" 2>/dev/null
                kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid"
}

# stop_pid PID: SIGTERM, then SIGKILL after a deadline; prints "term" or "kill"
stop_pid() {
        local pid=$1
        pid_alive "$pid" || { echo gone; return; }
        kill -TERM "$pid" 2>/dev/null
        if wait_for 10 not_running "$pid"; then echo term; else kill -KILL "$pid" 2>/dev/null; echo kill; fi
}

# one_run HALF CLASS POINT DIR: start the daemon with the fault (POINT 0: no
# fault, only counting), drop the scenario, wait, stop; restart without
# faults, wait, stop; check. Writes DIR/result: "VERDICT REACHED NOTES".
one_run() {
        local half=$1 class=$2 point=$3 d=$4
        local calls errno spid dpid how rc verdict notes= reached=no t0
        read -r calls errno <<<"${CLASS_CALLS[$class]:-openat EMFILE}"
        # strace counts each system call on its own: "renameat:3" fails the 3rd
        # renameat of each process and no other call
        case $point in *:*) calls=${point%:*}; point=${point#*:} ;; esac
        t0=$(date +%s%N)
        mkdir -p "$d/inbox" "$d/outbox" "$d/stage"
        if [ "$half" = xfs ]; then
                mkdir -p "$XFS/${d##*/}" && ln -s "$XFS/${d##*/}" "$d/state"
        fi
        run_config "$d"
        local inject=()
        if [ "$point" -gt 0 ]; then
                inject=(-e "inject=$calls:error=$errno:when=$point")
        else
                calls=$(for c in $ALL_CLASSES; do echo "${CLASS_CALLS[$c]% *}"; done | paste -sd,)
        fi
        # phase 1: under strace, with the fault. Not --seccomp-bpf by default: with
        # it, about 1 run in 10 lost the unpack child's exit (the daemon waited
        # for it for ever, the child was gone), even without a fault.
        strace -f -qq ${FAULTSWEEP_STRACE_OPTS:-} -o "$d/trace.log" -e trace="$calls" -e signal=none "${inject[@]}" \
                "$PDFSPOOLD" -c "$d/pdfspool.yaml" >>"$d/daemon.log" 2>&1 </dev/null &
        spid=$!
        wait_for 10 pgrep -P "$spid" >/dev/null
        dpid=$(pgrep -P "$spid" | head -1)
        [ -n "$dpid" ] || dpid=$(pgrep -f -- "-c $d/pdfspool.yaml" | grep -vx "$spid" | head -1)
        if wait_for 10 started_after "$d/daemon.log" 0; then
                drop_scenario "$d/inbox" "$d/stage"
                wait_for "$DEADLINE1" sh -c "[ \$(grep -c ': batch finished: ' '$d/daemon.log') -ge $N_BATCHES ] || ! kill -0 $spid" 2>/dev/null
        else
                drop_scenario "$d/inbox" "$d/stage"
                notes="$notes nostart"
        fi
        [ -n "${FAULTSWEEP_DEBUG:-}" ] && ps -e -o pid,ppid,stat,wchan:32,cmd > "$d/ps.txt"
        if pid_alive "$spid" && [ -n "$dpid" ]; then
                how=$(stop_pid "$dpid")
                [ "$how" = kill ] && notes="$notes no_stop_on_sigterm"
                reap "$spid"; rc=$?
                [ "$how" = term ] && [ "$rc" -ne 0 ] && notes="$notes exit${rc}_after_sigterm"
        else
                if pid_alive "$spid"; then
                        stop_pid "$spid" >/dev/null
                        notes="$notes no_daemon_pid"
                fi
                reap "$spid"; rc=$?
                [ "$rc" -ne 0 ] && notes="$notes exit${rc}_on_its_own"
        fi
        grep -q '(INJECTED)' "$d/trace.log" && reached=yes
        if [ -n "$dpid" ] && grep -q "^$dpid +++ killed by SIG" "$d/trace.log" && ! grep -q "^$dpid +++ killed by SIGKILL" "$d/trace.log"; then
                notes="$notes daemon_$(grep -o "^$dpid +++ killed by SIG[A-Z0-9]*" "$d/trace.log" | awk '{print $NF}')"
        fi
        local wsig; wsig=$(grep -v "^$dpid " "$d/trace.log" | grep -o '+++ killed by SIG[A-Z0-9]*' | grep -v SIGKILL | awk '{print $NF}' | sort -u | paste -sd,)
        [ -n "$wsig" ] && notes="$notes child_killed_by_$wsig"

        # phase 2: restart without faults, until everything ended
        if [ "$point" -gt 0 ]; then
                echo "=== restart without faults ===" >> "$d/daemon.log"
                local before; before=$(grep -c ' started: ' "$d/daemon.log")
                "$PDFSPOOLD" -c "$d/pdfspool.yaml" >>"$d/daemon.log" 2>&1 </dev/null &
                dpid=$!
                if wait_for 10 started_after "$d/daemon.log" "$before"; then
                        wait_for "$DEADLINE2" all_ended "$d"
                        if pid_alive "$dpid"; then
                                how=$(stop_pid "$dpid")
                                [ "$how" = kill ] && notes="$notes restart_no_stop_on_sigterm"
                                reap "$dpid"; rc=$?
                        else
                                reap "$dpid"; rc=$?
                                notes="$notes restart_exit${rc}_on_its_own"
                        fi
                else
                        notes="$notes restart_failed"
                        kill -KILL "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
                fi
        fi

        # the invariant
        local clean=()
        [ "$point" -gt 0 ] && clean=(--clean "$T/clean-$half/outbox")
        python3 "$CHECKER" --inbox "$d/inbox" --outbox "$d/outbox" --state "$d/state/" --pristine "$SCEN/pdfs" \
                --kept "$SCEN/drop/pack.zip" --kept "$SCEN/drop/review.batch.yaml" "${clean[@]}" > "$d/check.txt" 2>&1
        rc=$?
        [ "$rc" -eq 2 ] && echo "bad_status: the checker could not look: $(cat "$d/check.txt")" >> "$d/check.txt"
        # one verdict per run, the worst first. A daemon that exits non-zero before
        # it started (a fault while it loads or sets up) refused to start, said so,
        # and left everything for the next start: not a crash.
        verdict=
        case " $notes " in
        *" daemon_SIG"*|*restart_exit*|*restart_failed*) verdict=crashed ;;
        *_on_its_own*) [[ " $notes " == *" nostart "* ]] || verdict=crashed ;;
        esac
        if [ -z "${verdict:-}" ]; then
                for v in lost false_done failed stuck doubled temp_left bad_status; do
                        grep -q "^$v: " "$d/check.txt" && { verdict=$v; break; }
                done
        fi
        [ -z "${verdict:-}" ] && [[ " $notes " == *no_stop_on_sigterm* ]] && verdict=stuck
        : "${verdict:=ok}"
        local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "$verdict $reached ${ms}ms${notes}" > "$d/result"
}

# count_calls TRACE SYSCALL: the most calls of it one process made
count_calls() {
        grep -E "^[0-9]+ +$2\(" "$1" | awk '{n[$1]++} END {m = 0; for (p in n) if (n[p] > m) m = n[p]; print m}'
}

# points COUNT: the points to try in a class of COUNT calls
points() {
        local c=$1 i
        [ "$c" -gt 0 ] || return 0
        if [ -n "$STRIDE" ]; then
                seq $(( 1 + SEED % STRIDE )) "$STRIDE" "$c"
                return
        fi
        local m=${MAX_POINTS:-$c}
        [ -n "$FULL" ] && m=$(( c > FULL_CAP ? FULL_CAP : c ))
        [ "$m" -ge "$c" ] && { seq 1 "$c"; return; }
        # m points spread evenly, shifted by a seeded offset inside the first step
        awk -v c="$c" -v m="$m" -v s="$SEED" 'BEGIN { srand(s); off = rand() * c / m;
                for (i = 0; i < m; i++) { p = int(off + i * c / m) + 1; if (p > c) p = c; if (p != last) print p; last = p } }'
}

# ---- the halves ----
make_scenario || bail "cannot make the scenario's PDFs"
XFS=
if [[ " $HALVES " == *" xfs "* ]]; then
        if [ "$(id -u)" -ne 0 ]; then
                diag "SKIP the cross-file-system half: mounting a tmpfs for state_dir needs root"
                HALVES=${HALVES//xfs/}
        else
                XFS=$T/xfs
                mkdir -p "$XFS"
                if mount -t tmpfs -o size=256m tmpfs "$XFS"; then
                        EXTRA_CLEANUP="umount -l '$XFS'"
                else
                        diag "SKIP the cross-file-system half: cannot mount a tmpfs"
                        HALVES=${HALVES//xfs/}
                fi
        fi
fi
[ -n "${HALVES// /}" ] || skip_all "no half of the sweep can run here"

RUNS=$T/runs
mkdir -p "$RUNS"
results=() bads=()
declare -A COUNT
for half in $HALVES; do
        t0=$(date +%s%N)
        one_run "$half" none 0 "$T/clean-$half"
        clean_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        read -r v _ <"$T/clean-$half/result"
        if [ "$v" != ok ]; then
                diag "the clean run ($half) is not clean:"; sed 's/^/#   /' "$T/clean-$half/check.txt"
                tail -n 20 "$T/clean-$half/daemon.log" | sed 's/^/#   /'
                bail "clean run ($half) failed the invariant"
        fi
        counts=
        for c in $CLASSES; do
                for sc in $(echo "${CLASS_CALLS[$c]% *}" | tr , ' '); do
                        COUNT[$half.$sc]=$(count_calls "$T/clean-$half/trace.log" "$sc")
                        [ "${COUNT[$half.$sc]}" -gt 0 ] && counts="$counts $sc=${COUNT[$half.$sc]}"
                done
        done
        diag "clean run ($half): ${clean_ms} ms; calls (most in one process):$counts"
done

# the list of runs, then run them J at a time
list=$T/runs.list
for half in $HALVES; do
        for c in $CLASSES; do
                if [ -n "$POINT" ]; then echo "0 $half $c $POINT"; continue; fi
                for sc in $(echo "${CLASS_CALLS[$c]% *}" | tr , ' '); do
                        i=0
                        for p in $(points "${COUNT[$half.$sc]}"); do echo "$i $half $c $sc:$p"; i=$((i + 1)); done
                done
        done
done | sort -s -n -k1,1 | cut -d' ' -f2- > "$list"  # the i-th point of each before any (i+1)-th: a budget cut stays even
total_runs=$(wc -l < "$list")
diag "$total_runs runs, $JOBS at a time${BUDGET:+, no new run after ${BUDGET} s}"
skipped_budget=0
running=0
while read -r half c p; do
        if [ -n "$BUDGET" ] && [ $(( $(date +%s) - START )) -ge "$BUDGET" ]; then
                skipped_budget=$((skipped_budget + 1))
                continue
        fi
        if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
        one_run "$half" "$c" "$p" "$RUNS/$half-$c-${p/:/-}" </dev/null &
        running=$((running + 1))
done < "$list"
wait
[ "$skipped_budget" -gt 0 ] && diag "budget of $BUDGET s spent: $skipped_budget of $total_runs runs not started"

# ---- the table ----
n=0
bad_total=0
printf '# %-34s %6s %7s %4s %4s %10s %6s %5s %7s %5s %7s %6s\n' class points reached ok lost false_done failed stuck crashed other nostart avg_ms
for half in $HALVES; do
        for c in $CLASSES; do
                declare -A k=([tried]=0 [reached]=0 [ok]=0 [lost]=0 [false_done]=0 [failed]=0 [stuck]=0 [crashed]=0 [other]=0 [nostart]=0 [ms]=0)
                bad=()
                for r in "$RUNS/$half-$c-"*/result; do
                        [ -e "$r" ] || continue
                        read -r v reached ms notes <"$r"
                        p=${r%/result}; p=${p#"$RUNS/$half-$c-"}; p=${p/-/:}
                        k[tried]=$((k[tried] + 1))
                        [ "$reached" = yes ] && k[reached]=$((k[reached] + 1))
                        [[ " $notes " == *" nostart "* ]] && k[nostart]=$((k[nostart] + 1))
                        k[ms]=$((k[ms] + ${ms%ms}))
                        case $v in ok|lost|false_done|failed|stuck|crashed) k[$v]=$((k[$v] + 1)) ;; *) k[other]=$((k[other] + 1)) ;; esac
                        if [ "$v" != ok ]; then
                                first=$(grep -m1 "^$v: " "${r%/result}/check.txt" || head -n 1 "${r%/result}/check.txt")
                                more=$(( $(grep -c . "${r%/result}/check.txt") - 1 ))
                                [ "$more" -gt 0 ] && first="$first (+$more more)"
                                bad+=("$v point $p${notes:+ ($notes)}: ${first:-the invariant held}")
                                bad+=("   replay: $0 --class $c --point $p$([ "$half" = xfs ] && echo ' --xfs') --seed $SEED")
                        fi
                        if [ -z "$KEEP" ] && [ "$v" = ok ]; then
                                rd=${r%/result}
                                rm -rf "$rd"
                                [ -n "$XFS" ] && rm -rf "${XFS:?}/${rd##*/}"
                        fi
                done
                [ "${k[tried]}" -gt 0 ] || { unset k; continue; }
                label="$c ${CLASS_CALLS[$c]#* } ($half)"
                printf '# %-34s %6d %7d %4d %4d %10d %6d %5d %7d %5d %7d %6d\n' "$label" "${k[tried]}" "${k[reached]}" "${k[ok]}" \
                        "${k[lost]}" "${k[false_done]}" "${k[failed]}" "${k[stuck]}" "${k[crashed]}" "${k[other]}" "${k[nostart]}" \
                        $(( k[ms] / k[tried] ))
                nbad=$(( k[tried] - k[ok] ))
                bad_total=$((bad_total + nbad))
                results+=("$nbad|$label: ${k[ok]} of ${k[tried]} runs ok (fault reached in ${k[reached]})")
                for b in "${bad[@]}"; do bads+=("$b"); done
                unset k
        done
done
for b in "${bads[@]}"; do diag "$b"; done
for r in "${results[@]}"; do
        ok "$([ "${r%%|*}" -eq 0 ] && echo 0 || echo 1)" "${r#*|}"
done
[ -n "$POINT" ] && for half in $HALVES; do for c in $CLASSES; do
        d=$RUNS/$half-$c-${POINT/:/-}
        [ -d "$d" ] || continue
        # the tmpfs goes at exit: keep a copy of the state dir in the run's folder
        [ -L "$d/state" ] && rm "$d/state" && cp -a "$XFS/${d##*/}" "$d/state"
        diag "run folder: $d (daemon.log, trace.log, check.txt, state/)"
        sed 's/^/#   /' "$d/check.txt"
        grep -h '(INJECTED)' "$d/trace.log" | sed 's/^/#   injected: /'
done; done
diag "$(( $(date +%s) - START )) s in all; $bad_total bad runs; seed $SEED"
done_testing
