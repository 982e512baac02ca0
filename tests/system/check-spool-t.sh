#!/bin/bash
# The shared invariant checker (check-spool) can fail: a spool the real daemon
# finished passes it; each kind of damage a fault could leave is reported
# under its category (lost, doubled, false_done, failed, stuck, temp_left,
# bad_status) with a non-zero exit.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v python3 >/dev/null || skip_all "python3 not installed (runs check-spool)"

WORKERS=1 write_config 0.3s
mkdir -p "$T/pristine/vendor/sub" "$T/stage"
mkpdf "$T/pristine/vendor/a.pdf" 1 "checker a"
mkpdf "$T/pristine/vendor/b.pdf" 2 "checker b"
mkpdf "$T/pristine/vendor/sub/c.pdf" 1 "checker c"
mkpdf "$T/pristine/single.pdf" 1 "checker single"
cp -r "$T/pristine/." "$T/stage/"
: > "$T/stage/vendor/.ready"
start_daemon || bail "daemon did not start"
mv "$T/stage/vendor" "$T/stage/single.pdf" "$INBOX/"
check "the drops finish" wait_for 30 sh -c "jq -e '.state == \"done\"' '$OUTBOX/vendor/status.json' '$OUTBOX/single/status.json'"
wait_for 10 sh -c "[ -z \"\$(ls -A '$STATE'/test/claims/*/)\" ]"
stop_daemon

check_spool "$T/pristine"
ok $? "a spool the daemon finished passes"
check_spool "$T/pristine" --clean "$OUTBOX"
ok $? "... and matches itself as the clean run"

# damaged NAME CATEGORY SHELL-COMMAND [CHECKER-OPTIONS...]: on a copy of the
# spool, the command (run in the copy) must make the checker fail with a line of CATEGORY
damaged() {
        local name=$1 cat=$2 cmd=$3 d=$T/copy out rc; shift 3
        rm -rf "$d"; mkdir -p "$d"
        cp -a "$INBOX" "$OUTBOX" "$STATE" "$d/"
        (cd "$d" && eval "$cmd")
        out=$(python3 "$CHECK_SPOOL" --inbox "$d/inbox" --outbox "$d/outbox" --state "$d/state" --pristine "$T/pristine" "$@")
        rc=$?
        printf '%s\n' "$out" | sed 's/^/#   /'
        [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q "^$cat: "
        ok $? "$name: exit 1 and a $cat line"
}
damaged "a job's folder and the claim's copy gone" lost \
        'rm -rf outbox/vendor/b; rm -f state/test/finished/*/src/vendor/b.pdf'
damaged "a PDF twice" doubled 'cp -r outbox/vendor/a outbox/vendor/a-2'
damaged "done without text.txt" false_done 'rm outbox/vendor/sub/c/text.txt'
damaged "done with another text than the clean run" false_done \
        'echo other > outbox/vendor/a/text.txt' --clean "$OUTBOX"
damaged "done with a meta.json that does not parse" false_done 'echo "{" > outbox/single/single/meta.json'
damaged "a good PDF failed" failed \
        'jq ".state = \"failed\" | .error = \"x\"" outbox/vendor/a/status.json > t && mv t outbox/vendor/a/status.json'
damaged "a job still processing" stuck \
        'jq ".state = \"processing\"" outbox/single/single/status.json > t && mv t outbox/single/single/status.json'
damaged "a file left in the inbox" stuck 'cp outbox/single/single/single.pdf inbox/'
damaged "a claim left in the state dir" stuck 'mkdir -p state/test/claims/host/1.2.host.3.abc'
damaged "a temp folder in the outbox" temp_left 'mkdir outbox/vendor/.pdfspool-tmp.7'
damaged "a temp file in the outbox" temp_left 'echo x > outbox/vendor/.status.json.tmp-abcdef'
damaged "a batch status that does not parse" bad_status 'head -c 20 outbox/vendor/status.json > t && mv t outbox/vendor/status.json'
damaged "batch counts that do not add up" bad_status \
        'jq ".jobs.total = 9" outbox/vendor/status.json > t && mv t outbox/vendor/status.json'
damaged "the state dir and the outbox disagree" bad_status \
        'f=$(grep -l "\"done\"" state/test/finished/*/jobs/0.json | head -1); sed -i "s/\"done\"/\"failed\"/" "$f"'
done_testing
