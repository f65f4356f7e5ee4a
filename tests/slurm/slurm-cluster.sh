#!/usr/bin/env bash
# A throwaway single-host Slurm for the tests (Debian 12's slurmctld, slurmd, slurm-client, munge),
# run as root without systemd:
#   tests/slurm/slurm-cluster.sh start DIR    writes DIR/slurm.conf, starts munged (when not running),
#                                             slurmctld and slurmd, waits for the node to be idle;
#                                             then use it with SLURM_CONF=DIR/slurm.conf
#   tests/slurm/slurm-cluster.sh stop DIR     stops the daemons it started, by their PIDs
# Exit status 3 (and a line saying why) when Slurm cannot be started here: tests skip on it.
set -euo pipefail
action=${1:?start or stop}
dir=$(mkdir -p "${2:?directory}" && cd "$2" && pwd)

cant() { echo "slurm-cluster: $*" >&2; exit 3; }

if [ "$action" = stop ]; then
  for daemon in slurmd slurmctld; do
    if [ -f "$dir/$daemon.pid" ]; then kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true; fi
  done
  for daemon in slurmd slurmctld; do
    if [ -f "$dir/$daemon.pid" ]; then
      pid=$(cat "$dir/$daemon.pid")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$daemon.pid"
    fi
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
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid.file
SlurmdPidFile=$dir/slurmd.pid.file
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1 &
echo $! > "$dir/slurmctld.pid"
slurmd -D -f "$SLURM_CONF" > "$dir/slurmd.out" 2>&1 &
echo $! > "$dir/slurmd.pid"
for _ in $(seq 100); do
  if sinfo -h -o %t 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; exit 0; fi
  sleep 0.2
done
"$0" stop "$dir"
cant "the node did not come up: $(tail -3 "$dir/slurmctld.log" "$dir/slurmd.log" 2>/dev/null | tr '\n' ' ')"
