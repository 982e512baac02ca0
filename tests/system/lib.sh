# lib.sh: shared harness for system tests. Source it from a test script.
#
# Each test gets a fresh spool in a temp dir ($T) with an inbox, an outbox and
# a state dir, starts the real pdfspoold from the build tree, acts as a user
# would, and asserts on files, status JSON and the log. Output is TAP.
# Every wait has a deadline; nothing sleeps a fixed time to "let things happen".

set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
PDFSPOOLD=$top_builddir/src/pdfspoold
PDFSPOOLCTL=$top_builddir/src/pdfspoolctl
export PDFSPOOL_WORKER=$top_builddir/src/pdfspool-worker

T=$(mktemp -d "${TMPDIR:-/tmp}/pdfspool-test.XXXXXX")
INBOX=$T/inbox
OUTBOX=$T/outbox
STATE=$T/state
CFG=$T/pdfspool.yaml
LOG=$T/daemon.log
DAEMON_PID=
# Sanitizer builds (./configure --enable-sanitizers) write each ASan/UBSan report
# here instead of to stderr; check_sanitizers (at exit) fails the test on any.
# PDFSPOOL_DAEMON_WRAPPER (make check-valgrind) runs the daemon under a command
# (valgrind ...) whose logs, named *.vg.PID, land here too and are checked the same way.
SAN_DIR=$T/sanitizer
mkdir -p "$SAN_DIR"
export ASAN_OPTIONS="log_path=$SAN_DIR/asan:halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$SAN_DIR/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# PDFSPOOL_VALGRIND=1 (make check-valgrind): the daemon runs under memcheck; errors
# and definite leaks fail the test. Workers (exec'd) run natively.
if [ -n "${PDFSPOOL_VALGRIND:-}" ]; then
        PDFSPOOL_DAEMON_WRAPPER="valgrind --log-file=$SAN_DIR/daemon.vg.%p --leak-check=full \
--show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=no --child-silent-after-fork=yes"
fi
_tap_n=0
_tap_failed=0
_tap_planned=

# check_sanitizers: 0 when no program left a sanitizer report or a valgrind log
# with errors or definite leaks in $SAN_DIR; else prints them and returns 1.
# built_with_asan: the daemon under test was built with AddressSanitizer (its
# quarantine keeps freed memory: RSS says nothing of the daemon's own growth).
built_with_asan() { grep -q __asan_init "$PDFSPOOLD" 2>/dev/null; }

check_sanitizers() {
        local f bad=0
        for f in "$SAN_DIR"/asan.* "$SAN_DIR"/ubsan.*; do
                [ -s "$f" ] || continue
                # Not findings: the worker's memory limit under ASan (soft_rss_limit_mb stands
                # in for RLIMIT_AS: the PDF is out of memory, as it should be), and a leak
                # check that cannot run in a process a test traces with strace.
                if ! grep -q -E 'ERROR: AddressSanitizer|runtime error|ERROR: LeakSanitizer: detected' "$f" &&
                   grep -q -E 'soft rss limit exhausted|LeakSanitizer does not work under ptrace' "$f"; then
                        continue
                fi
                echo "# sanitizer report $(basename "$f"):"
                head -n 60 "$f" | sed 's/^/#   /'
                bad=1
        done
        for f in "$SAN_DIR"/*.vg.*; do
                [ -f "$f" ] || continue
                # a process still running when the test ended (SIGKILL) has no summary: that is no finding
                if grep -Eq 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$f"; then
                        echo "# valgrind $(basename "$f"):"
                        grep -E '^==[0-9]+== ' "$f" | sed -n '/Memcheck, a memory error detector/,$p' | head -n 80 | sed 's/^/#   /'
                        bad=1
                fi
        done
        return $bad
}

cleanup() {
        local pids rc=$?
        [ -n "$DAEMON_PID" ] && { kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID"; } 2>/dev/null
        pids=$(pgrep -f "pdfspool-worker" -P "${DAEMON_PID:-1}" 2>/dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
        if ! check_sanitizers; then
                echo "Bail out! a sanitizer or valgrind found errors (above)"
                rc=1
        fi
        if [ "$_tap_failed" -gt 0 ] && [ -f "$LOG" ]; then
                echo "# --- daemon log ($LOG) ---"
                tail -n 60 "$LOG" | sed 's/^/# /'
        fi
        [ -z "${KEEP_TEST_DIR:-}" ] && [ -n "$T" ] && [ "$T" != / ] && rm -rf "$T"
        exit $rc
}
trap cleanup EXIT

# ---- TAP ----
plan() { _tap_planned=$1; echo "1..$1"; }
ok() { # ok CONDITION-EXIT-CODE DESCRIPTION
        _tap_n=$((_tap_n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"
                # a "# TODO" result is a known failure (TAP: XFAIL), shown, not counted
                case $2 in *"# TODO "*) ;; *) _tap_failed=$((_tap_failed + 1)) ;; esac
        fi
}
check() { # check DESCRIPTION COMMAND...: ok if the command succeeds
        local d=$1; shift
        if "$@" >/dev/null; then ok 0 "$d"; else ok 1 "$d"; fi
}
diag() { echo "# $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail() { echo "Bail out! $*"; exit 1; }
done_testing() {
        [ -z "$_tap_planned" ] && echo "1..$_tap_n"
        [ "$_tap_failed" -eq 0 ]
}

# wait_for TIMEOUT-SECONDS COMMAND...: poll until the command succeeds; 1 on timeout.
wait_for() {
        local timeout=$1; shift
        local deadline=$(( $(date +%s%N) / 1000000 + timeout * 1000 ))
        while ! "$@" >/dev/null 2>&1; do
                [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
                sleep 0.05
        done
        return 0
}

# wait_settled IDLE-SECONDS MAX-SECONDS COMMAND...: poll (once a second) until
# the command succeeds, as long as the daemon is at work: 1 when its log has not
# grown for IDLE-SECONDS (it has nothing more to do, so the spool will not settle),
# or after MAX-SECONDS in all. Says how long it took: a slow machine shows as such
# instead of as a broken invariant.
wait_settled() {
        local idle=$1 max=$2; shift 2
        local t0 now size last_size=-1 last_change rc=1
        t0=$(date +%s); last_change=$t0
        while true; do
                if "$@" >/dev/null 2>&1; then rc=0; break; fi
                now=$(date +%s)
                size=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
                [ "$size" != "$last_size" ] && { last_size=$size; last_change=$now; }
                if [ $((now - last_change)) -ge "$idle" ]; then
                        diag "not settled: the daemon did nothing for $idle s"; break
                fi
                if [ $((now - t0)) -ge "$max" ]; then diag "not settled within $max s"; break; fi
                sleep 1
        done
        diag "waited $(( $(date +%s) - t0 )) s for the spool to settle"
        return $rc
}

# ---- PDFs ----
# mkpdf FILE [PAGES] [TEXT]: a small real PDF made with mutool create.
mkpdf() {
        local file=$1 pages=${2:-1} text=${3:-Hello from pdfspool} i
        local dir; dir=$(mktemp -d "$T/mkpdf.XXXXXX")
        for i in $(seq 1 "$pages"); do
                printf '%%%%MediaBox 0 0 595 842\n%%%%Font F1 Helvetica\nBT /F1 18 Tf 72 760 Td (%s page %d) Tj ET\n' "$text" "$i" > "$dir/p$i.txt"
        done
        mutool create -o "$file" $(for i in $(seq 1 "$pages"); do echo "$dir/p$i.txt"; done) >/dev/null 2>&1
        rm -rf "$dir"
}

# ---- spool and daemon ----
# write_config [SETTLE] [EXTRA-TOP-LEVEL-YAML] [EXTRA-QUEUE-YAML]
write_config() {
        local settle=${1:-1s}
        mkdir -p "$INBOX"
        cat > "$CFG" <<EOC
state_dir: $STATE
workers: ${WORKERS:-2}
log: stderr
job_timeout: ${JOB_TIMEOUT:-60s}
${2:-}
queues:
  test:
    inbox: $INBOX
    outbox: $OUTBOX
    settle: $settle
    incomplete_wait: ${INCOMPLETE_WAIT:-1s}
${3:-}
EOC
}

# start_daemon: start pdfspoold on $CFG, wait until it has logged that it started.
start_daemon() {
        : >> "$LOG"
        local before; before=$(grep -c ' started: ' "$LOG")
        # shellcheck disable=SC2086 # the wrapper is a command line
        ${PDFSPOOL_DAEMON_WRAPPER:-} "$PDFSPOOLD" -c "$CFG" "$@" >>"$LOG" 2>&1 </dev/null &
        DAEMON_PID=$!
        local t0; t0=$(date +%s%N)
        if ! wait_for 60 daemon_started_or_gone "$before" "$DAEMON_PID" || ! daemon_started_after "$before"; then
                if not_running "$DAEMON_PID"; then
                        wait "$DAEMON_PID"
                        diag "pdfspoold did not start: it exited with status $?"
                else
                        diag "pdfspoold did not start within 60 s"
                fi
                tail -n 20 "$LOG" | sed 's/^/# /'
                return 1
        fi
        local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ "$ms" -gt 5000 ] && diag "pdfspoold took $ms ms to start"
        return 0
}
daemon_started_after() { [ "$(grep -c ' started: ' "$LOG")" -gt "$1" ]; }
daemon_started_or_gone() { daemon_started_after "$1" || not_running "$2"; }

stop_daemon() {
        [ -z "$DAEMON_PID" ] && return 0
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait_for 30 not_running "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
}
kill_daemon() {
        [ -z "$DAEMON_PID" ] && return 0
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
}
not_running() { ! kill -0 "$1" 2>/dev/null; }

# ---- status files ----
# jq_file FILE FILTER: print a value from a JSON file
jq_file() { jq -r "$2" "$1" 2>/dev/null; }
batch_state() { jq_file "$OUTBOX/$1/status.json" .state; }
job_state() { jq_file "$OUTBOX/$1/$2/status.json" .state; }
batch_is() { [ "$(batch_state "$1")" = "$2" ]; }
batch_done() { batch_is "$1" done; }
# wait_batch_done BATCH [TIMEOUT]
wait_batch_done() { wait_for "${2:-60}" batch_done "$1"; }
# counts add up: total = queued + processing + done + failed + canceled + skipped
counts_add_up() {
        jq -e '.jobs | .total == (.queued + .processing + .done + .failed + .canceled + .skipped)' "$OUTBOX/$1/status.json" >/dev/null
}

# check_spool PRISTINE-DIR [CHECK-SPOOL-OPTIONS...]: the spool's invariant
# (tests/system/check-spool) on $INBOX, $OUTBOX and $STATE, once everything
# ended; PRISTINE-DIR holds a copy of every PDF dropped. Each violation is
# printed as a diag line; fails if there is any.
CHECK_SPOOL=$top_srcdir/tests/system/check-spool
check_spool() {
        local pristine=$1 out rc; shift
        out=$(python3 "$CHECK_SPOOL" --inbox "$INBOX" --outbox "$OUTBOX" --state "$STATE" --pristine "$pristine" "$@" 2>&1)
        rc=$?
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
        return $rc
}

# mkpdf_copies PROTO DIR N: N PDFs DIR/docNN.pdf with PROTO's pages, each with
# other bytes (a comment after %%EOF, then %%EOF again), so that a checker can
# tell them apart by content
mkpdf_copies() {
        local proto=$1 dir=$2 n=$3 i
        mkdir -p "$dir"
        for i in $(seq -w 1 "$n"); do
                cp "$proto" "$dir/doc$i.pdf"
                printf '%% copy %s\n%%%%EOF\n' "$i" >> "$dir/doc$i.pdf"
        done
}

# corpus location: $PDFSPOOL_CORPUS or ../shared/corpus next to the checkout
corpus_dir() {
        local c=${PDFSPOOL_CORPUS:-}
        if [ -z "$c" ]; then
                for c in "$top_srcdir/../shared/corpus" "$top_srcdir/../../shared/corpus"; do
                        [ -d "$c" ] && break
                done
        fi
        [ -d "$c" ] && (cd "$c" && pwd)
}

# ---- hostile-drop checks (attacks.sh, claimrace.sh) ----
# sentinel_record DIR FILE: write what DIR holds (path, type, sha256 of
# content, mode, owner, link count) to FILE, sorted, one line a path.
sentinel_record() {
        (cd "$1" && find . -printf '%p\t%y\t%m\t%u:%g\t%n\n' | sort | while IFS=$'\t' read -r p y m o n; do
                sum=-
                [ "$y" = f ] && sum=$(sha256sum < "$p" | cut -d' ' -f1)
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$y" "$m" "$o" "$n" "$sum"
        done) > "$2"
}
# sentinel_same DIR FILE: DIR still holds exactly what FILE recorded; prints the
# differences as diag lines otherwise.
sentinel_same() {
        local now; now=$(mktemp "$T/sentinel.XXXXXX")
        sentinel_record "$1" "$now"
        if ! diff -q "$2" "$now" >/dev/null; then
                diff "$2" "$now" | head -n 20 | sed 's/^/# sentinel: /'
                rm -f "$now"
                return 1
        fi
        rm -f "$now"
}
# no_token TOKEN DIR...: no file under the DIRs (links not followed) holds TOKEN.
no_token() {
        local token=$1 hits; shift
        hits=$(grep -rlaF -- "$token" "$@" 2>/dev/null | head -n 5)
        [ -z "$hits" ] && return 0
        printf '%s\n' "$hits" | sed 's/^/# token found in: /'
        return 1
}
# no_shared_inode REFDIR DIR...: no file under the DIRs is the same inode
# (dev:inode) as a file under REFDIR.
no_shared_inode() {
        local ref=$1 hits; shift
        hits=$(join -t' ' <(find "$ref" -type f -printf '%D:%i %p\n' | sort -k1,1) \
                          <(find "$@" -type f -printf '%D:%i %p\n' 2>/dev/null | sort -k1,1) | head -n 5)
        [ -z "$hits" ] && return 0
        printf '%s\n' "$hits" | sed 's/^/# same inode: /'
        return 1
}
# no_links_in DIR...: no symbolic link anywhere under the DIRs.
no_links_in() {
        local hits; hits=$(find "$@" -type l -printf '%p -> %l\n' 2>/dev/null | head -n 5)
        [ -z "$hits" ] && return 0
        printf '%s\n' "$hits" | sed 's/^/# symbolic link: /'
        return 1
}

# notify_listen SOCKET FILE: start a reader of sd_notify datagrams on SOCKET
# that logs "UNIX-TIME PID MESSAGE" lines to FILE; sets NOTIFY_READER_PID.
notify_listen() {
        python3 "$top_srcdir/tests/system/notify-reader.py" listen "$1" "$2" &
        NOTIFY_READER_PID=$!
        wait_for 10 test -S "$1"
}
# watchdog_gap_ms FILE PID SINCE: the longest time in ms without a WATCHDOG=1
# from PID between SINCE (unix time) and now, with where it was.
watchdog_gap_ms() { python3 "$top_srcdir/tests/system/notify-reader.py" gap "$@"; }
now_unix() { date +%s.%N; }
# bytes_in FILE DIR...: some file under the DIRs has FILE's bytes.
bytes_in() {
        local f=$1 want; shift
        want=$(sha256sum < "$f" | cut -d' ' -f1)
        find "$@" -type f -size "$(stat -c %s "$f")c" -print0 2>/dev/null | xargs -0r sha256sum | grep -q "^$want "
}
