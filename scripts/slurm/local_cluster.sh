#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying LAUNCHER=slurm and for the tests (needs root and Debian's
# slurm-wlm and munge packages: apt-get install -y slurm-wlm munge).
#
#   sudo bash scripts/slurm/local_cluster.sh start    # munge key, munged, slurm.conf, slurmctld, slurmd; waits
#                                                     # until the node takes jobs (seconds); safe to run twice
#   sudo bash scripts/slurm/local_cluster.sh stop
#
# The node is this host with all its CPUs (NodeAddr 127.0.0.1, so the host name need not resolve), processes are
# tracked by /proc (proctrack/linuxproc) and not bound (task/none), so no cgroups are needed (containers work).
# The daemons run as root and keep their state and logs under $SLURM_LOCAL_DIR (default /var/lib/slurm-local).
# /etc/slurm/slurm.conf is written only when absent or written by this script: a real cluster's is left alone.
set -euo pipefail
state=${SLURM_LOCAL_DIR:-/var/lib/slurm-local}
conf=/etc/slurm/slurm.conf
marker="# written by scripts/slurm/local_cluster.sh"
host=$(hostname -s)

die() { echo "local_cluster: $*" >&2; exit 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((2 * seconds))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    die "$what did not come up within ${seconds}s (logs: $state/*.log)"
}

node_idle() { [[ $(sinfo -h -n "$host" -o %t 2>/dev/null) == idle* ]]; }

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    wait_for 10 munged sh -c 'munge -n | unmunge'
}

write_conf() {
    if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
        die "$conf exists and was not written by this script; not touching a real cluster's configuration"
    fi
    mkdir -p "$(dirname "$conf")" "$state/ctld" "$state/d"
    cat > "$conf" <<CONF
$marker
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    [[ $(id -u) == 0 ]] || die "needs root (the daemons run as root)"
    for tool in munged slurmctld slurmd sbatch; do
        command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool not found: apt-get install -y slurm-wlm munge"
    done
    if scontrol ping 2>/dev/null | grep -q UP && node_idle; then
        echo "local_cluster: already running ($(sinfo -h -o '%P %D node(s) %t'))"; return 0
    fi
    start_munge
    write_conf
    pgrep -f "^/usr/sbin/slurmctld" >/dev/null || /usr/sbin/slurmctld
    wait_for 20 slurmctld sh -c 'scontrol ping | grep -q UP'
    pgrep -f "^/usr/sbin/slurmd" >/dev/null || /usr/sbin/slurmd
    wait_for 20 "slurmd (node $host)" sh -c "sinfo -h -n $host -o %t | grep -Eq '^(idle|mix|alloc)'"
    echo "local_cluster: up: partition local, node $host with $(nproc) CPUs (logs in $state)"
}

stop() {
    for daemon in slurmd slurmctld; do
        if [[ -f $state/$daemon.pid ]] && kill "$(cat "$state/$daemon.pid")" 2>/dev/null; then
            echo "local_cluster: stopped $daemon"
        fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: bash scripts/slurm/local_cluster.sh start|stop" >&2; exit 2 ;;
esac
