#!/bin/bash
# bench/slurm.sh: the same folder of PDFs through the local executor and
# through a one-node Slurm cluster on this machine (executor: slurm; max_jobs
# twice the CPUs, so that a pending Slurm job starts the moment one ends), to show
# what going through Slurm costs: sbatch, scheduling, a worker started per
# chunk, outcomes read from files and scontrol. Needs root and the Slurm
# packages (tests/system/slurm-cluster.sh). Prints one line per run and the
# ratio of their drop-to-done times.
#   usage: [ROUNDS=2] [SLURM_SCHEDULER_PARAMETERS=...] bench/slurm.sh [FOLDER] [PDFS_PER_TASK...]
#   default: the datasheets corpus, pdfs_per_task 1 and 8 (from a built tree)
set -u
top_builddir=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$top_builddir
. "$top_srcdir/tests/system/lib.sh"
. "$top_srcdir/tests/system/slurm-cluster.sh"
folder=${1:-$(corpus_dir)/datasheets}
shift
chunks=${*:-1 8}
[ -d "$folder" ] || { echo "no folder of PDFs: $folder" >&2; exit 1; }
slurm_cluster_start || { echo "no Slurm here: $SLURM_WHY" >&2; exit 1; }
cpus=$(nproc)

# run NAME [EXTRA-TOP-LEVEL-YAML]: a fresh spool, the folder dropped, seconds
# from the drop to the batch's end printed as the last line
run() {
        local name=$1 yaml=${2:-} start end
        rm -rf "$INBOX" "$OUTBOX" "$STATE"
        WORKERS=$cpus write_config 0.2s "$yaml"
        start_daemon || { echo "daemon did not start" >&2; exit 1; }
        cp -r "$folder" "$T/bench"
        start=$(date +%s.%N)
        mv "$T/bench" "$INBOX/"
        wait_for 1800 batch_done bench || { echo "$name: batch did not finish" >&2; exit 1; }
        end=$(date +%s.%N)
        stop_daemon
        jq -r --arg name "$name" --arg wall "$(python3 -c "print(round($end - $start, 2))")" \
                '"\($name): \(.jobs.done) done, \(.jobs.failed) failed, \(.pages_done) pages; \($wall) s from drop to done, \((.pages_done / ($wall | tonumber)) | floor) pages/s"' \
                "$OUTBOX/bench/status.json" >&2
        python3 -c "print(round($end - $start, 2))"
}

rounds=${ROUNDS:-2}
echo "$(find "$folder" -name '*.pdf' | wc -l) PDFs from $folder, $cpus CPUs (local: $cpus workers; Slurm: CPUs=$cpus, max_jobs $((cpus * 2))), SchedulerParameters=${SLURM_SCHEDULER_PARAMETERS:-none (the defaults)}, $rounds rounds, runs interleaved (the machine's load changes)"
declare -A total
for r in $(seq 1 "$rounds"); do
        t=$(run "round $r: local")
        total[local]=$(python3 -c "print(${total[local]:-0} + $t)")
        for n in $chunks; do
                t=$(run "round $r: slurm, pdfs_per_task $n" "executor: slurm
slurm:
  partition: pdfspool
  max_jobs: $((cpus * 2))
  pdfs_per_task: $n
  poll_interval: 200ms")
                total[$n]=$(python3 -c "print(${total[$n]:-0} + $t)")
        done
done
for n in $chunks; do
        python3 -c "l, s = ${total[local]}, ${total[$n]}; print('slurm, pdfs_per_task $n: %.1f s against local %.1f s over $rounds rounds: %.2f x (%+.0f%%)' % (s, l, s / l, (s / l - 1) * 100))"
done

