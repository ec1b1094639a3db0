#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, everything under one directory, for
# tests/batch.rs. Usage: cluster.sh start DIR | stop DIR
#   start: installs Slurm and munge from Debian's packages when missing (root only),
#          starts munged, slurmctld and slurmd, waits for the node to be idle, and
#          records their PIDs in DIR/pids; prints `export SLURM_CONF=...`.
#   stop:  stops exactly the recorded PIDs.
set -euo pipefail
cmd="$1"; P="$(mkdir -p "$2" && cd "$2" && pwd)"
if [ "$cmd" = stop ]; then
  if [ -f "$P/pids" ]; then
    for pid in $(cat "$P/pids"); do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
      alive=0; for pid in $(cat "$P/pids"); do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break; sleep 0.1
    done
    for pid in $(cat "$P/pids"); do kill -9 "$pid" 2>/dev/null || true; done
    rm -f "$P/pids"
  fi
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then echo "Slurm is not installed and this is not root" >&2; exit 3; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi
export SLURM_CONF="$P/etc/slurm.conf"
chmod a+x "$P"   # munged runs as the munge user and must reach its socket
mkdir -p "$P/etc" "$P/munge" "$P/spool/ctld" "$P/spool/d" "$P/run" "$P/log"
chown munge:munge "$P/munge"; chmod 0755 "$P/munge"
[ -f "$P/munge/munge.key" ] || mungekey --create --keyfile="$P/munge/munge.key"
chown munge:munge "$P/munge/munge.key"; chmod 0400 "$P/munge/munge.key"
cpus=$(nproc)
# Two ports free now (asked of the kernel), not fixed ones another cluster may hold.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port); d_port=$(free_port)
while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
cat > "$SLURM_CONF" <<CONF
ClusterName=superion-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$P/munge/munge.socket.2
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
StateSaveLocation=$P/spool/ctld
SlurmdSpoolDir=$P/spool/d
SlurmctldPidFile=$P/run/slurmctld.pid
SlurmdPidFile=$P/run/slurmd.pid
SlurmctldLogFile=$P/log/slurmctld.log
SlurmdLogFile=$P/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$P/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
: > "$P/pids"
setpriv --reuid=munge --regid=munge --init-groups munged -F --key-file="$P/munge/munge.key" \
  --socket="$P/munge/munge.socket.2" --pid-file="$P/munge/munged.pid" \
  --seed-file="$P/munge/munged.seed" --log-file="$P/munge/munged.log" > "$P/log/munged.out" 2>&1 &
echo $! >> "$P/pids"
sleep 0.3
slurmctld -D -f "$SLURM_CONF" > "$P/log/slurmctld.out" 2>&1 &
echo $! >> "$P/pids"
slurmd -D -f "$SLURM_CONF" -N localhost > "$P/log/slurmd.out" 2>&1 &
echo $! >> "$P/pids"
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
  state=$(timeout 2 sinfo -h -N -o %T 2>/dev/null || true)
  [ "$state" = idle ] && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.1
done
echo "the Slurm node did not become idle (logs in $P/log)" >&2
exit 1
