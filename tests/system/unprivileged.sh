#!/bin/bash
# The daemon as an ordinary user, as under systemd (User=pdfspool): a file in
# a drop that it may not read fails its job with "permission denied" and the
# rest of the batch goes on; outbox files get the configured modes.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
command -v setpriv >/dev/null || skip_all "setpriv not installed (util-linux)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root to run the daemon as another user"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"

write_config 0.5s "" "    file_mode: 0640
    dir_mode: 0750"
mkdir -p "$OUTBOX" "$STATE"
chown -R nobody "$T"
chmod 755 "$T"
# The binaries live in the build tree, which nobody may not be able to enter: copy them.
mkdir -p "$T/bin" && cp "$PDFSPOOLD" "$PDFSPOOL_WORKER" "$T/bin/" && chmod 755 "$T/bin" "$T"/bin/*
PDFSPOOLD=$T/bin/pdfspoold
export PDFSPOOL_WORKER=$T/bin/pdfspool-worker
# start_daemon, as nobody
: >> "$LOG"; chown nobody "$LOG"
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$PDFSPOOLD" -c "$CFG" >>"$LOG" 2>&1 </dev/null &
DAEMON_PID=$!
wait_for 20 grep -q ' started: ' "$LOG" || bail "daemon did not start as nobody: $(tail -3 "$LOG")"
check "daemon runs as nobody" test "$(ps -o user= -p "$DAEMON_PID")" = nobody

mkpdf "$T/a.pdf" 1 "unprivileged"
mkdir -p "$T/src/mixed"
cp "$T/a.pdf" "$T/src/mixed/readable.pdf"
cp "$T/a.pdf" "$T/src/mixed/secret.pdf"
chown -R nobody "$T/src/mixed"
chown root "$T/src/mixed/secret.pdf"
chmod 600 "$T/src/mixed/secret.pdf"
mv "$T/src/mixed" "$INBOX/"
check "batch with an unreadable file finishes" wait_batch_done mixed 30
check "readable file: done" test "$(job_state mixed readable)" = done
check "unreadable file: failed" test "$(job_state mixed secret)" = failed
check "unreadable file: the reason says permission denied" sh -c "jq -r .error '$OUTBOX/mixed/secret/status.json' | grep -qi 'permission denied'"
check "the rest of the batch went on: counts add up" counts_add_up mixed
check "outbox files get file_mode 0640" test "$(stat -c %a "$OUTBOX/mixed/readable/meta.json")" = 640
check "outbox folders get dir_mode 0750" test "$(stat -c %a "$OUTBOX/mixed/readable")" = 750
check "the unreadable file is not lost: it is in the state directory" sh -c "ls '$STATE'/test/*/*/src/mixed/secret.pdf '$STATE'/test/finished/*/src/mixed/secret.pdf 2>/dev/null | grep -q secret"
done_testing
