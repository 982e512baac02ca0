# slurm-cluster.sh: a one-node Slurm cluster on localhost for the Slurm test
# and bench (sourced after lib.sh): munged, slurmctld -D and slurmd -D with a
# slurm.conf in $T/slurm (non-default ports, state and spool dirs there),
# exported as SLURM_CONF. slurm_cluster_start returns 1 with $SLURM_WHY when
# Slurm cannot start here (not root, packages missing, a daemon that does not
# come up); every daemon it started is stopped at exit (lib.sh's trap runs
# $EXTRA_CLEANUP), whatever happens. $SLURM_SCHEDULER_PARAMETERS, when set,
# becomes slurm.conf's SchedulerParameters (the bench compares).
SLURM_PIDS=
SLURM_WHY=
stop_slurm() {
        local p
        # the jobs first (slurmd leaves running steps alive when it stops): this
        # cluster is the test's own, every job on it is ours
        if [ -n "${SLURM_CONF:-}" ]; then
                scancel --partition=pdfspool >/dev/null 2>&1
                wait_for 20 slurm_no_jobs
        fi
        for p in $SLURM_PIDS; do kill -TERM "$p" 2>/dev/null; done
        for p in $SLURM_PIDS; do wait_for 10 not_running "$p" || kill -KILL "$p" 2>/dev/null; done
        SLURM_PIDS=
}

slurm_cluster_start() {
        local p S=$T/slurm
        [ "$(id -u)" = 0 ] || { SLURM_WHY="not root: slurmd and slurmctld run as root here"; return 1; }
        PATH=$PATH:/usr/sbin
        for p in munged slurmctld slurmd sbatch scontrol scancel sinfo squeue; do
                command -v $p >/dev/null ||
                        { SLURM_WHY="$p not installed (apt-get install slurmd slurmctld slurm-client munge)"; return 1; }
        done
        EXTRA_CLEANUP="${EXTRA_CLEANUP:+$EXTRA_CLEANUP; }stop_slurm"
        mkdir -p "$S/state" "$S/d" "$S/munge"
        chmod 700 "$S/munge"
        dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null
        chmod 400 "$S/munge/munge.key"
        munged --force --foreground --socket="$S/munge/munge.sock" --key-file="$S/munge/munge.key" \
                --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/seed" \
                >/dev/null 2>&1 &
        SLURM_PIDS="$SLURM_PIDS $!"
        if ! wait_for 10 test -S "$S/munge/munge.sock"; then
                SLURM_WHY="munged did not start: $(tail -n 1 "$S/munge/munged.log" 2>/dev/null)"
                return 1
        fi
        local host port
        host=$(hostname -s)
        port=$(( 20000 + RANDOM % 20000 ))
        cat > "$S/slurm.conf" <<EOC
ClusterName=pdfspooltest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/d
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
${SLURM_SCHEDULER_PARAMETERS:+SchedulerParameters=$SLURM_SCHEDULER_PARAMETERS}
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=pdfspool Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOC
        export SLURM_CONF=$S/slurm.conf
        slurmctld -D -i >"$S/slurmctld.out" 2>&1 &
        SLURMCTLD_PID=$!
        SLURM_PIDS="$SLURM_PIDS $!"
        slurmd -D >"$S/slurmd.out" 2>&1 &
        SLURM_PIDS="$SLURM_PIDS $!"
        if ! wait_for 30 slurm_node_idle; then
                tail -n 5 "$S/slurmctld.log" "$S/slurmd.log" "$S/slurmctld.out" "$S/slurmd.out" 2>/dev/null | sed 's/^/# /'
                SLURM_WHY="the one-node Slurm cluster did not come up (above)"
                return 1
        fi
}
# The controller away and back (its state kept), for a test of an
# unreachable Slurm.
slurmctld_stop() {
        kill -TERM "$SLURMCTLD_PID" 2>/dev/null
        wait_for 20 not_running "$SLURMCTLD_PID" || kill -KILL "$SLURMCTLD_PID" 2>/dev/null
}
slurmctld_start() {
        slurmctld -D >>"$T/slurm/slurmctld.out" 2>&1 &
        SLURMCTLD_PID=$!
        SLURM_PIDS="$SLURM_PIDS $!"
        wait_for 30 slurm_node_idle
}
slurm_no_jobs() { [ -z "$(squeue -h -o %i -t PENDING,RUNNING,COMPLETING 2>/dev/null)" ]; }
slurm_node_idle() { sinfo -h -o %T 2>/dev/null | grep -q idle; }
