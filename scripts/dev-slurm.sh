#!/usr/bin/env bash
# A real single-node Slurm (22.05) on this machine, for trying `expc build --target slurm`
# and for the tests in tests/backend/slurm.rs. Needs Debian or Ubuntu, root, no systemd.
#
#   scripts/dev-slurm.sh up      install what is missing, write the configuration, start
#                                munged, MariaDB, slurmdbd, slurmctld and slurmd; wait until
#                                the node is idle
#   scripts/dev-slurm.sh down    stop the daemons by their pid files
#   scripts/dev-slurm.sh status  print whether the cluster answers, and `sinfo`
#
# Everything lives under $EXPC_SLURM_DIR (default /tmp/expc-slurm): slurm.conf, the state
# and spool directories, logs, pid files, the job completion file, and the accounting a
# site keeps: slurmdbd over a MariaDB server of its own (data under $EXPC_SLURM_DIR/mysql,
# on 127.0.0.1 only), so `sacct` reports each job's elapsed and CPU time and largest
# resident set, as on a real cluster. $EXPC_SLURM_PORT (default 6817) is slurmctld's
# port; slurmd, slurmdbd and MariaDB take the next three. A second cluster for trying a
# change beside the shared one: another EXPC_SLURM_DIR and EXPC_SLURM_PORT, and
# EXPC_SLURM_LINK=0 to leave /etc/slurm/slurm.conf alone.
#
# Like a site's cluster, it has the partitions the examples name (`debug`, the default;
# `short` and `long`, same node) and environment modules (Lmod) for the software stacks
# they load: `gcc/12.2.0` and `python/3.11.7`, modulefiles under $EXPC_SLURM_DIR/modulefiles
# that put this machine's gcc and python3 first on PATH (listed in /etc/lmod/modulespath).
set -euo pipefail

dir="${EXPC_SLURM_DIR:-/tmp/expc-slurm}"
conf="$dir/slurm.conf"
port="${EXPC_SLURM_PORT:-6817}"
dbd_port=$((port + 2))
db_port=$((port + 3))
packages=(slurm-wlm slurmctld slurmd slurm-client munge lmod slurmdbd mariadb-server)

say() { echo "dev-slurm: $*" >&2; }
die() {
  say "$*"
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get, retried while another apt holds the dpkg lock.
apt_retry() {
  local i
  for i in $(seq 1 60); do
    if DEBIAN_FRONTEND=noninteractive as_root apt-get "$@"; then
      return 0
    fi
    if ! pgrep -x apt-get >/dev/null 2>&1 && ! pgrep -x dpkg >/dev/null 2>&1 \
      && ! pgrep -x unattended-upgr >/dev/null 2>&1; then
      [ "$i" -ge 3 ] && return 1
    fi
    say "apt-get is busy (dpkg lock); retrying in 5 s ($i/60)"
    sleep 5
  done
  return 1
}

install() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "please install: ${missing[*]} (no apt-get here)"
  say "installing ${missing[*]}"
  apt_retry update -qq || die "apt-get update failed"
  apt_retry install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# Whether the process in pid file $1 is alive.
alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

write_config() {
  local hw cpus mem
  hw="$(slurmd -C 2>/dev/null | head -1)"
  cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
  [ -n "$cpus" ] && [ -n "$mem" ] || die "\`slurmd -C\` did not report CPUs and RealMemory: $hw"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  cat >"${1:-$conf}" <<EOF
# Written by scripts/dev-slurm.sh: a single-node cluster for development and tests.
ClusterName=expc
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmctldPort=$port
SlurmdPort=$((port + 1))
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=3600
DependencyParameters=kill_invalid_depend
SchedulerParameters=sched_interval=1,bf_interval=1
MailProg=/bin/true
ReturnToService=2
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
PartitionName=short Nodes=localhost MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
PartitionName=long Nodes=localhost MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
}

# slurmdbd's configuration: beside slurm.conf, where slurmdbd looks for it; readable by
# its user only, as slurmdbd requires.
write_dbd_config() {
  cat >"$dir/slurmdbd.conf" <<EOF
# Written by scripts/dev-slurm.sh: accounting for the development cluster.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm-dev
StorageLoc=slurm_acct_db
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
EOF
  chmod 600 "$dir/slurmdbd.conf"
}

# A MariaDB server of the cluster's own, on 127.0.0.1 only, for slurmdbd.
start_mariadb() {
  local sock="$dir/run/mysqld.sock" i
  if alive "$dir/run/mysqld.pid"; then return 0; fi
  if [ ! -d "$dir/mysql/mysql" ]; then
    mkdir -p "$dir/mysql"
    mariadb-install-db --user=root --datadir="$dir/mysql" --auth-root-authentication-method=normal \
      >"$dir/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $dir/log/mariadb-install.log)"
  fi
  mariadbd --user=root --datadir="$dir/mysql" --socket="$sock" --port="$db_port" \
    --bind-address=127.0.0.1 --pid-file="$dir/run/mysqld.pid" --log-error="$dir/log/mariadb.log" \
    >/dev/null 2>&1 &
  for i in $(seq 1 150); do
    [ -S "$sock" ] && mariadb --socket="$sock" -u root -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb --socket="$sock" -u root -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-dev';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-dev';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
    || die "MariaDB did not start (see $dir/log/mariadb.log)"
}

start_slurmdbd() {
  local i
  if ! alive "$dir/run/slurmdbd.pid"; then
    slurmdbd || die "slurmdbd did not start (see $dir/log/slurmdbd.log)"
  fi
  for i in $(seq 1 100); do
    sacctmgr -n list cluster >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx expc; then
    sacctmgr -i add cluster expc >/dev/null || die "sacctmgr could not add the cluster (see $dir/log/slurmdbd.log)"
  fi
  # The accounts the examples and tests charge, as a site's would be: with accounting, a job
  # asking for an account the user has no association with is charged to another.
  local accounts="lab,monitoring,nonlinear-dynamics,rainfall,vision-lab"
  if ! sacctmgr -n -P list assoc user=root format=account 2>/dev/null | grep -qx vision-lab; then
    sacctmgr -i add account "$accounts" cluster=expc >/dev/null 2>&1 || true
    sacctmgr -i add user root account="$accounts" cluster=expc >/dev/null \
      || die "sacctmgr could not add the accounts (see $dir/log/slurmdbd.log)"
  fi
}

# Lmod modulefiles named as a site names its stacks, each putting a program of this
# machine first on PATH; registered in /etc/lmod/modulespath, which Lmod's login set-up
# (/etc/profile.d/lmod.sh) reads, in jobs too.
write_modules() {
  local python gcc
  python="$(python3 -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))')" \
    || die "python3 is needed for the python module"
  gcc="$(dirname "$(command -v gcc || echo /usr/bin/gcc)")"
  mkdir -p "$dir/modulefiles/gcc" "$dir/modulefiles/python"
  printf 'whatis("GCC: the gcc of this machine")\nprepend_path("PATH", "%s")\n' "$gcc" \
    >"$dir/modulefiles/gcc/12.2.0.lua"
  printf 'whatis("Python: the python3 of this machine")\nprepend_path("PATH", "%s")\n' "$python" \
    >"$dir/modulefiles/python/3.11.7.lua"
  if ! grep -qxF "$dir/modulefiles" /etc/lmod/modulespath 2>/dev/null; then
    echo "$dir/modulefiles" >>/etc/lmod/modulespath
  fi
}

start_munge() {
  if alive "$dir/run/munged.pid"; then return 0; fi
  # One munged per machine: a second cluster uses the one already running, and leaves it
  # running when it goes down.
  if alive /run/munge/munged.pid; then
    cp /run/munge/munged.pid "$dir/run/munged.pid"
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  # munged writes its own pid file; it daemonizes and must run as `munge`.
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid \
    || die "munged did not start (see /var/log/munge/munged.log)"
  local i
  for i in $(seq 1 50); do
    [ -s /run/munge/munged.pid ] && break
    sleep 0.1
  done
  cp /run/munge/munged.pid "$dir/run/munged.pid"
  touch "$dir/run/munged.ours"
}

up() {
  install
  export SLURM_CONF="$conf"
  write_modules
  local running=0
  if alive "$dir/run/slurmctld.pid" && alive "$dir/run/slurmd.pid"; then
    # Up already: restarted only when this script now writes another configuration.
    write_config "$conf.next"
    if cmp -s "$conf.next" "$conf" && alive "$dir/run/slurmdbd.pid"; then
      running=1
      say "already up (SLURM_CONF=$conf)"
    else
      say "the configuration changed (a newer dev-slurm.sh): restarting"
      down
    fi
    rm -f "$conf.next"
  fi
  if [ "$running" -eq 0 ]; then
    write_config
    write_dbd_config
    start_munge
    start_mariadb
    start_slurmdbd
    # -c: start from a clean state, so jobs of an earlier session are forgotten.
    alive "$dir/run/slurmctld.pid" || slurmctld -c -f "$conf" \
      || die "slurmctld did not start (see $dir/log/slurmctld.log)"
    alive "$dir/run/slurmd.pid" || slurmd -N localhost -f "$conf" \
      || die "slurmd did not start (see $dir/log/slurmd.log)"
  fi
  # Slurm's commands find the configuration through /etc/slurm/slurm.conf or SLURM_CONF;
  # point the default at ours so that `sbatch` works from any shell.
  mkdir -p /etc/slurm
  if [ "${EXPC_SLURM_LINK:-1}" = 0 ]; then
    :
  elif [ ! -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then
    ln -sfn "$conf" /etc/slurm/slurm.conf
  else
    say "note: /etc/slurm/slurm.conf is not this cluster's; run Slurm commands with SLURM_CONF=$conf"
  fi
  local i state
  for i in $(seq 1 300); do
    state="$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)"
    case "$state" in
      idle | mix | alloc) say "up: node localhost is $state (SLURM_CONF=$conf)"; return 0 ;;
      drain* | down*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
  done
  die "the node did not become idle within 60 s (state: ${state:-none}); see $dir/log/"
}

stop_pidfile() {
  local name="$1" file="$2" pid i
  if ! alive "$file"; then
    rm -f "$file"
    return 0
  fi
  pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name ($pid) did not stop after 10 s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  stop_pidfile slurmd "$dir/run/slurmd.pid"
  stop_pidfile slurmctld "$dir/run/slurmctld.pid"
  stop_pidfile slurmdbd "$dir/run/slurmdbd.pid"
  stop_pidfile mariadbd "$dir/run/mysqld.pid"
  if [ -e "$dir/run/munged.ours" ]; then
    stop_pidfile munged "$dir/run/munged.pid"
    rm -f "$dir/run/munged.ours"
  fi
  say "down"
}

status() {
  if [ -f "$conf" ] && SLURM_CONF="$conf" sinfo -h >/dev/null 2>&1; then
    echo "up (SLURM_CONF=$conf)"
    SLURM_CONF="$conf" sinfo
  else
    echo "down"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
