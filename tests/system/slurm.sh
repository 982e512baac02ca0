#!/bin/bash
# executor: slurm on a real one-node Slurm cluster on localhost: munged,
# slurmctld -D and slurmd -D with a slurm.conf made here (non-default ports,
# everything in the test's temp dir). A batch goes through Slurm in chunks;
# one running job is canceled (scancel); the daemon is killed with SIGKILL
# while Slurm jobs run and started again: it adopts them. Every job ends
# exactly once, with the same outputs as the local executor's run of the same
# files (check-spool --clean). Needs root and the Debian packages slurmd,
# slurmctld, slurm-client, munge; skips with a message otherwise.
. "$(dirname "$0")/lib.sh"
command -v mutool >/dev/null || skip_all "mutool not installed"
command -v jq >/dev/null || skip_all "jq not installed"
. "$(dirname "$0")/slurm-cluster.sh"
slurm_cluster_start || skip_all "$SLURM_WHY"

# ---- the same files, first through the local executor: the outputs to match ----
N=36
mkpdf "$T/proto.pdf" 400 "slurm test"
mkpdf_copies "$T/proto.pdf" "$T/pristine/big" $N
# a second batch, dropped while Slurm's controller is away
mkdir -p "$T/pristine/late"
cp "$T/pristine/big/doc01.pdf" "$T/pristine/big/doc02.pdf" "$T/pristine/late/"
printf '%% late copy\n%%%%EOF\n' >> "$T/pristine/late/doc01.pdf"
printf '%% late copy\n%%%%EOF\n' >> "$T/pristine/late/doc02.pdf"
ctl() { "$PDFSPOOLCTL" -c "$CFG" "$@"; }

OUTBOX=$T/clean STATE=$T/clean-state write_config 0.5s
LOG=$T/clean.log start_daemon || bail "local daemon did not start"
cp -r "$T/pristine/big" "$T/pristine/late" "$INBOX/"
clean_done() { [ "$(jq_file "$T/clean/big/status.json" .state)" = done ] && [ "$(jq_file "$T/clean/late/status.json" .state)" = done ]; }
wait_for 120 clean_done
check "the local executor's run is done" test "$(jq_file "$T/clean/big/status.json" .state)" = done
stop_daemon

# ---- through Slurm ----
SLURM_YAML="executor: slurm
slurm:
  partition: pdfspool
  pdfs_per_task: 4
  max_jobs: 2
  time_limit: 10m
  poll_interval: 300ms"
write_config 0.5s "$SLURM_YAML"
start_daemon || bail "daemon did not start"
cp -r "$T/pristine/big" "$INBOX/"
our_jobs() { squeue -h -o %i -n "pdfspool:test:big" -t PENDING,RUNNING 2>/dev/null; }
running_slurm() { squeue -h -o %T -n "pdfspool:test:big" 2>/dev/null | grep -q RUNNING; }
check "Slurm runs the batch's chunks (job name pdfspool:test:big)" wait_for 60 running_slurm
check "sbatch said its id (logged)" grep -q 'batch=big: Slurm job [0-9]*: 4 jobs' "$LOG"

# Cancel one running job: its Slurm job is canceled, the job ends canceled,
# the others of its chunk without a result run again.
processing_job() { ctl jobs big 2>/dev/null | awk '$2 == "processing" { print $1; exit }'; }
has_processing() { [ -n "$(processing_job)" ]; }
wait_for 30 has_processing
victim=$(processing_job)
check "pdfspoolctl jobs shows the Slurm job and its state of a running job" \
        bash -c "'$PDFSPOOLCTL' -c '$CFG' jobs big | grep -E '^$victim +processing .*Slurm job [0-9]+ (SUBMITTED|PENDING|RUNNING)'"
diag "canceling running job $victim"
check "cancel of a running job accepted" ctl cancel big "$victim"
check "scancel sent" wait_for 20 grep -q "job=$victim: canceled by request: scancel" "$LOG"
victim_is() { [ "$(job_state big "$victim")" = "$1" ]; }
check "the canceled job ends canceled" wait_for 60 victim_is canceled

# SIGKILL while Slurm jobs run, and start again: the jobs are adopted.
check "Slurm jobs running before the kill" wait_for 60 running_slurm
before=$(our_jobs | wc -l)
kill_daemon
diag "daemon killed with $before Slurm jobs pending or running"
start_daemon || bail "daemon did not restart"
check "chunks from before the restart adopted" grep -q 'from before the restart: [1-9][0-9]* jobs\? adopted' "$LOG"
# A Slurm job that ends without results for a reason outside pdfspool (here
# an scancel by someone else): its PDFs are retried, the attempt counted,
# Slurm's reason in their status.
running_id() { squeue -h -o %i -n "pdfspool:test:big" -t RUNNING 2>/dev/null | head -n 1; }
has_running_id() { [ -n "$(running_id)" ]; }
if wait_for 60 has_running_id; then
        outside=$(running_id)
        scancel "$outside"
        check "a chunk canceled outside pdfspool is retried with Slurm's reason" \
                wait_for 30 grep -q "ended without a result: the Slurm job was canceled outside pdfspool" "$LOG"
        retried=$(grep -o "job=[^:]*: run 1 ended without a result: the Slurm job was canceled outside" "$LOG" | head -n 1 | sed 's/job=\([^:]*\):.*/\1/')
else
        ok 1 "a chunk canceled outside pdfspool is retried with Slurm's reason (no running chunk left to cancel)"
fi
check "the batch finishes" wait_for 300 batch_is big done
attempts=$(ctl jobs big 2>/dev/null | awk -v j="${retried:-none}" '$1 == j { print $3 }')
check "the retried job ran twice, counted ($retried: attempts $attempts)" test "$attempts" = 2
none_left() { [ -z "$(our_jobs)" ]; }
check "no Slurm job of ours is left" wait_for 30 none_left

# The adopted Slurm jobs' outputs were kept for them (their temp folders are
# not swept at the restart): nothing had to wait and run again.
check "no job was deferred or ran again for lack of its outputs" test "$(grep -c 'the job waits and is retried' "$LOG")" = 0
dups=$(grep -o 'batch=big job=[^:]*: job [a-z]*' "$LOG" | sort | uniq -d | wc -l)
check "no job ended twice ($dups duplicates in the log)" test "$dups" -eq 0
ended=$(grep -o 'batch=big job=[^:]*: job [a-z]*' "$LOG" | grep -v "job=$victim:" | sort -u | wc -l)
check "every other job ended once ($ended of $((N - 1)))" test "$ended" -eq $((N - 1))
check "the canceled job is the only one canceled" test "$(jq -r '.jobs.canceled' "$OUTBOX/big/status.json")" = 1
# retry brings the canceled job back; it runs through Slurm and ends done
check "retry of the canceled job accepted" ctl retry big "$victim"
check "the retried job ends done" wait_for 120 victim_is done
check "the batch is done again" wait_for 60 batch_is big done

# Slurm's controller away: nothing is submitted and nothing is decided from a
# failed look; the jobs wait (deferred) and run once it is back.
slurmctld_stop
cp -r "$T/pristine/late" "$INBOX/"
check "without a controller, sbatch fails and the jobs wait" wait_for 60 grep -q "batch=late.*cannot submit the job to Slurm" "$LOG"
late_waits() { [ "$(job_state late doc01)" = queued ] && jq -e '.error | startswith("deferred:")' "$OUTBOX/late/doc01/status.json" >/dev/null; }
check "a job that could not be submitted is queued, its status says deferred" wait_for 20 late_waits
slurmctld_start || diag "the controller did not come back"
check "with the controller back, the batch runs through Slurm and finishes" wait_for 180 batch_is late done
check "the invariant holds, outputs as the local executor's" check_spool "$T/pristine" --clean "$T/clean"
check "no chunk is left in the state dir" test -z "$(ls -A "$STATE/.slurm")"
stop_daemon

# A Slurm queue's jobs run with its profile (outputs made on the node) and its
# filters (run by the daemon once the node made the outputs), as local ones.
cat > "$T/tag" <<'F'
#!/bin/sh
echo "tagged $PDFSPOOL_JOB"
printf '{"tag": "slurm-%s"}' "$PDFSPOOL_TEXT_LAYER" > result.json
F
chmod +x "$T/tag"
write_config 0.5s "$SLURM_YAML
profiles:
  rich:
    outputs: [meta, text, stext, thumbs]
    filters:
      - command: [$T/tag]" "    profile: rich"
start_daemon || bail "daemon did not start with a profile"
mkdir -p "$T/src/prof"
mkpdf "$T/src/prof/one.pdf" 1 "LM317 regulator"
mv "$T/src/prof" "$INBOX/"
check "profile through Slurm: the batch finishes" wait_for 180 batch_is prof done
check "... the node made the profile's outputs (stext.json)" jq -e '.pages | length == 1' "$OUTBOX/prof/one/stext.json"
check "... the job's status says its text layer and its filter's result" \
        jq -e '.text_layer == "full" and .filter.tag == "slurm-full"' "$OUTBOX/prof/one/status.json"
check "... the filter's output is in log.txt" grep -q "tagged one" "$OUTBOX/prof/one/log.txt"
stop_daemon
done_testing
