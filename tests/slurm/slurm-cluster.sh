#!/usr/bin/env bash
# A throwaway single-host Slurm for the tests (Debian 12's slurmctld, slurmd, slurm-client, munge),
# run as root without systemd:
#   tests/slurm/slurm-cluster.sh start DIR [--nodes N]
#       writes DIR/slurm.conf, starts munged (when not running), slurmctld and slurmd, waits for the
#       nodes to be idle; then use it with SLURM_CONF=DIR/slurm.conf. One node (named as the host)
#       by default; with N > 1, N nodes HOST-1..HOST-N on this same host, each its own slurmd with
#       its own port and spool directory (a heterogeneous job needs a node per component). An MPI
#       step across two of them fails (they share the PMIx temporary directory): keep steps on one.
#   tests/slurm/slurm-cluster.sh stop DIR
#       stops the daemons it started, by their PIDs
# Exit status 3 (and a line saying why) when Slurm cannot be started here: tests skip on it.
set -euo pipefail
action=${1:?start or stop}
dir=$(mkdir -p "${2:?directory}" && cd "$2" && pwd)
nodes=1
if [ "${3:-}" = --nodes ]; then nodes=${4:?--nodes needs a number}; fi
case "$nodes" in [1-9]) ;; *) echo "slurm-cluster: --nodes $nodes: give 1 to 9" >&2; exit 2 ;; esac

cant() { echo "slurm-cluster: $*" >&2; exit 3; }

if [ "$action" = stop ]; then
  # Our own PID files (slurmd.pid or slurmd-NODE.pid, slurmctld.pid), the slurmds first.
  pidfiles=()
  for file in "$dir"/slurmd*.pid "$dir/slurmctld.pid"; do [ -f "$file" ] && pidfiles+=("$file"); done
  for file in "${pidfiles[@]}"; do kill "$(cat "$file")" 2>/dev/null || true; done
  for file in "${pidfiles[@]}"; do
    pid=$(cat "$file")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
  done
  exit 0
fi

[ "$(id -u)" -eq 0 ] || cant "needs root (the daemons run as root here)"
for tool in slurmctld slurmd sbatch sinfo munged; do
  command -v "$tool" >/dev/null || cant "$tool is not installed (scripts/install-deps installs it)"
done

# munge: the key comes with the package; the daemon runs as its own user.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged || cant "munged does not start"
  sleep 0.5
  munge -n | unmunge >/dev/null 2>&1 || cant "munge does not work"
fi

mkdir -p "$dir/state" "$dir/spool"
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
if [ "$nodes" -eq 1 ]; then
  names=("$host")
  node_lines="NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN"
  slurmd_files="SlurmdSpoolDir=$dir/spool
SlurmdPidFile=$dir/slurmd.pid.file
SlurmdLogFile=$dir/slurmd.log"
else
  # Every node is this host (NodeHostname), told apart by its slurmd's port; %n = the node's name.
  names=()
  node_lines="NodeName=DEFAULT CPUs=4 State=UNKNOWN"
  for i in $(seq "$nodes"); do
    names+=("$host-$i")
    node_lines+=$'\n'"NodeName=$host-$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + i))"
  done
  # Heterogeneous jobs are started by the backfill scheduler only: every second, not every 30.
  slurmd_files="SlurmdSpoolDir=$dir/spool/%n
SlurmdPidFile=$dir/slurmd-%n.pid.file
SlurmdLogFile=$dir/slurmd-%n.log
SchedulerParameters=bf_interval=1"
fi
node_list=$(IFS=,; echo "${names[*]}")
cat > "$dir/slurm.conf" <<CONF
ClusterName=t2s-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$dir/state
$slurmd_files
SlurmctldPidFile=$dir/slurmctld.pid.file
SlurmctldLogFile=$dir/slurmctld.log
$node_lines
PartitionName=debug Nodes=$node_list Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1 &
echo $! > "$dir/slurmctld.pid"
if [ "$nodes" -eq 1 ]; then
  slurmd -D -f "$SLURM_CONF" > "$dir/slurmd.out" 2>&1 &
  echo $! > "$dir/slurmd.pid"
else
  for name in "${names[@]}"; do
    mkdir -p "$dir/spool/$name"
    slurmd -D -N "$name" -f "$SLURM_CONF" > "$dir/slurmd-$name.out" 2>&1 &
    echo $! > "$dir/slurmd-$name.pid"
  done
fi
for _ in $(seq 100); do
  if [ "$(sinfo -h -N -o %t 2>/dev/null | grep -c idle)" -eq "$nodes" ]; then echo "$SLURM_CONF"; exit 0; fi
  alive=1
  for file in "$dir"/slurmctld.pid "$dir"/slurmd*.pid; do kill -0 "$(cat "$file")" 2>/dev/null || alive=0; done
  [ "$alive" -eq 1 ] || break  # a daemon refused the configuration or its port: no use waiting
  sleep 0.2
done
"$0" stop "$dir"
cant "the nodes did not come up: $(tail -q -n 3 "$dir"/*.out "$dir"/*.log 2>/dev/null | tr '\n' ' ')"
