#!/usr/bin/env bash
# slurm.sh: the slurm/ batch templates on a real Slurm (munged, slurmctld and slurmd started here on 127.0.0.1), scaled down, checked against known answers; one job stopped by --signal=TERM before its time limit.
#
# Run by `make check` through tests/wrapper.sh (DAGR_TOP_BUILDDIR, DAGR_TOP_SRCDIR, Open MPI's
# variables, a 600 s bound). By hand, as root, from the build tree:
#   DAGR_TOP_BUILDDIR=$PWD DAGR_TOP_SRCDIR=/path/to/src /path/to/src/tests/integration/slurm.sh
#
# What it does:
# - installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing (root and
#   apt-get needed; a temporary policy-rc.d keeps their maintainer scripts from starting the
#   machine's own services). Where they cannot be installed it exits 77 (SKIP) and says why.
# - starts munged, slurmctld and slurmd as root, in the foreground of background jobs (so their
#   PIDs are known), without systemd, everything in a temporary directory: their own munge key
#   and socket, a slurm.conf given by SLURM_CONF (one node, the real CPU count, 127.0.0.1 only,
#   with free ports for SlurmctldPort and SlurmdPort chosen here). The machine's /etc/slurm,
#   /etc/munge and its services are never read or touched (PlugStackConfig is ours too).
# - submits every template with sbatch, scaled to one node by sbatch options that override the
#   #SBATCH lines and by environment variables, polls `scontrol show job` until each ends, and
#   checks exit codes, `dagr info` lines and results against known answers (closed forms, or a
#   single-process run of the same computation).
# - submits one job with --time=1 (the minimum, 60 s) and --signal=TERM@20 and checks that dagr
#   stops cleanly before the limit: "received SIGTERM; stopping" from every rank, state FAILED
#   (not TIMEOUT), exit code 143, spill files written before the signal and none left after.
# - stops every process it started by PID (daemons, then any job process still carrying its
#   SLURM_CONF), also on failure, timeout or interruption (trap), and removes its directory.
#
# Report and trace files (DAGR_REPORT / DAGR_TRACE in the templates, "%j" expanded) are checked
# too (CHECK_OBS=0 skips them). Prints "ok LABEL" or "FAIL LABEL: reason" per check and "N passed, N failed" last.
set -u

B="${DAGR_TOP_BUILDDIR:-.}"
S="${DAGR_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
B=$(cd "$B" && pwd)
dagr="$B/dagr"
tpl="$S/slurm"
PY="${PYTHON3_SYS:-/usr/bin/python3}"
[ -x "$PY" ] || PY=python3
CHECK_OBS="${CHECK_OBS:-1}"
passed=0
failed=0
t_start=$SECONDS

ok() { echo "ok $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
note() { echo "  # $*"; }
skip() {
  echo "SKIP slurm.sh: $*"
  echo "0 passed, 0 failed"
  exit 77
}

if [ ! -x "$dagr" ]; then
  echo "FAIL setup: $dagr is not built"
  echo "0 passed, 1 failed"
  exit 1
fi

# --- Slurm and munge from Debian, when missing ---------------------------------------------------
have_slurm() {
  local c
  for c in munged slurmctld slurmd sbatch srun scontrol sinfo scancel; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || return 1
  done
}
have_h5py() { "$PY" -c 'import h5py, numpy' >/dev/null 2>&1; }
export PATH="$PATH:/usr/sbin:/sbin"

pkgs=""
have_slurm || pkgs="slurmctld slurmd slurm-client munge"
have_h5py || pkgs="$pkgs python3-h5py python3-numpy"
pkgs="${pkgs# }"
if [ -n "$pkgs" ]; then
  [ "$(id -u)" -eq 0 ] ||
    skip "Slurm (or python3-h5py) is missing and installing it needs root: apt-get install $pkgs"
  command -v apt-get >/dev/null 2>&1 ||
    skip "Slurm is not installed and there is no apt-get to install it"
  echo "  # installing from Debian: $pkgs"
  # The packages' maintainer scripts would start munge (and try slurmd/slurmctld) as system
  # services: a policy-rc.d that refuses every start, only while installing and only if the
  # machine has none, keeps them off.
  policy=/usr/sbin/policy-rc.d
  ours_policy=0
  if [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    trap 'exit 143' TERM INT HUP
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_install() {
    apt-get install -y -q -o DPkg::Lock::Timeout=120 --no-install-recommends $pkgs >/dev/null 2>&1
  }
  apt_install || { apt-get update -q >/dev/null 2>&1 && apt_install; }
  apt_rc=$?
  [ "$ours_policy" -eq 1 ] && rm -f "$policy" && trap - EXIT
  [ "$apt_rc" -eq 0 ] || skip "apt-get install $pkgs failed (exit $apt_rc): no package registry?"
  have_slurm || skip "Slurm commands still missing after installing $pkgs"
  have_h5py || skip "python3 h5py still missing after installing $pkgs"
fi
[ "$(id -u)" -eq 0 ] || skip "starting slurmctld and slurmd (SlurmUser=root) needs root"

# --- a private Slurm ---------------------------------------------------------------------------
# Nothing from an enclosing allocation or the caller's Slurm settings may leak into ours.
for v in $(compgen -e | grep -E '^(SLURM|SBATCH|SRUN|SALLOC)_'); do unset "$v"; done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_slurm.XXXXXX") || exit 1
tmp=$(cd "$tmp" && pwd -P)
chmod 755 "$tmp" # the munge socket's directories must be searchable by everyone
conf="$tmp/etc/slurm.conf"
daemons="" # "name:pid" of every daemon started

# A pid that exists and is not a zombie (no fork: this runs in a polling loop).
alive() {
  local st=""
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  st=${st%% *}
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Kills PIDS with TERM, waits up to $2 seconds, then KILL.
stop_pids() {
  local pids="$1" wait_s="$2" p i left
  [ -n "${pids// /}" ] || return 0
  kill -TERM $pids 2>/dev/null
  for ((i = 0; i < wait_s * 10; i++)); do
    left=""
    for p in $pids; do alive "$p" && left="$left $p"; done
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  kill -KILL $left 2>/dev/null
  return 0
}

# Processes still carrying our SLURM_CONF in their environment: slurmstepd (forked by our slurmd)
# and the job processes (sbatch exports our environment).
# (The pipeline runs without SLURM_CONF, so that it does not find itself.)
our_procs() {
  (
    unset SLURM_CONF
    grep -lsaF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null |
      sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' | tr '\n' ' '
  )
}

cleanup() {
  trap - EXIT TERM INT HUP
  local pids="" d
  for d in $daemons; do pids="$pids ${d#*:}"; done
  # Daemons and job processes together (no scancel: it needs the controller and takes seconds);
  # the wrapper allows 10 s after its TERM.
  stop_pids "$pids $(our_procs)" 4
  [ -n "$pids" ] && wait $pids 2>/dev/null
  stop_pids "$(our_procs)" 1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "slurm.sh: interrupted; stopping the daemons" >&2; exit 143' TERM INT HUP

mkdir -p "$tmp"/{etc,munge,log,state,spool,tmpfs} && chmod 700 "$tmp/etc" "$tmp/log"
# Two free TCP ports on 127.0.0.1, outside the usual ephemeral range.
ports=$("$PY" - <<'EOF'
import random, socket
got = []
for _ in range(2000):
    p = random.randint(20000, 30999)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
    if len(got) == 2:
        break
print(*got)
EOF
)
set -- $ports
if [ $# -ne 2 ]; then
  echo "FAIL setup: no free ports on 127.0.0.1"
  echo "0 passed, 1 failed"
  exit 1
fi
ctld_port=$1
slurmd_port=$2
host=$(hostname -s)
ncpu=$(nproc)
# task/affinity makes --cpu-bind real; it needs the declared CPUs to exist.
if [ "$ncpu" -ge 2 ]; then task_plugin=task/affinity; else ncpu=2; task_plugin=task/none; fi

dd if=/dev/urandom of="$tmp/etc/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$tmp/etc/munge.key"
: >"$tmp/etc/plugstack.conf"
cat >"$conf" <<EOF
# slurm.conf of tests/integration/slurm.sh: one node, 127.0.0.1 only, everything under $tmp.
ClusterName=dagrtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Listen on the given addresses (127.0.0.1: SlurmctldHost, NodeAddr) rather than every interface.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$tmp/tmpfs
PlugStackConfig=$tmp/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=$task_plugin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
KillWait=5
SlurmdParameters=config_overrides
# The node's name need not resolve: slurmd is started as it (-N) and reached at NodeAddr.
NodeName=dagrnode NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$ncpu State=UNKNOWN
# Jobs share CPUs (up to 4 per CPU) so that the templates run side by side on a small machine.
PartitionName=dagr Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF="$conf"

t0=$SECONDS
munged -F --key-file="$tmp/etc/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/log/munged.log" \
  --seed-file="$tmp/munge/munged.seed" >"$tmp/log/munged.out" 2>&1 &
daemons="munged:$!"
for ((i = 0; i < 100; i++)); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -i >"$tmp/log/slurmctld.out" 2>&1 &
daemons="$daemons slurmctld:$!"
slurmd -D -N dagrnode >"$tmp/log/slurmd.out" 2>&1 &
daemons="$daemons slurmd:$!"
state=""
for ((i = 0; i < 150; i++)); do
  state=$(timeout 10 sinfo -h -o %T 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.2
done
if [ "$state" != idle ]; then
  bad "Slurm starts (munged, slurmctld, slurmd)" "node state '$state' after 30 s; logs:
$(tail -n 5 "$tmp"/log/*.log "$tmp"/log/*.out 2>/dev/null)"
  echo "$passed passed, $failed failed"
  exit 1
fi
ok "Slurm starts (munged, slurmctld on 127.0.0.1:$ctld_port, slurmd on 127.0.0.1:$slurmd_port," \
  "$ncpu CPUs, $task_plugin) in $((SECONDS - t0)) s"

# --- inputs and known answers --------------------------------------------------------------------
R=256
C=64
"$PY" - "$tmp/in.h5" $R $C <<'EOF'
import sys, h5py, numpy as np
r, c = int(sys.argv[2]), int(sys.argv[3])
with h5py.File(sys.argv[1], "w") as f:
    f["x"] = np.arange(r * c, dtype="f8").reshape(r, c)
EOF
# A graph that runs until it is stopped and spills meanwhile: a 600 s sleep, and 16 buffers of
# 4 MiB each read by a task that also waits for the sleep, so they all stay alive (64 MiB) in a
# 16 MiB store.
"$PY" - "$tmp/hold.json" <<'EOF'
import json, sys
g = {"long": {"kernel": "sleep", "params": {"ms": 600000}}}
for k in range(16):
    g[f"fill{k}"] = {"kernel": "fill", "params": {"bytes": 4 << 20, "seed": k}}
    g[f"sum{k}"] = {"kernel": "checksum", "args": [f"fill{k}", "long"]}
json.dump({"graph": g, "outputs": [f"sum{k}" for k in range(16)]}, open(sys.argv[1], "w"))
EOF
demo_rows=512
demo_cols=512
# The demo's column statistics do not depend on the rank count: a single-process run is the answer.
# demo_stats FILE: the demo's column statistics line ("column 0 mean ... std ...").
demo_stats() { sed -n 's/^ *2\. per-column mean and std of .* in [0-9.]* s: //p' "$1"; }
(cd "$tmp" && TMPDIR="$tmp" DAGR_MPI=0 DAGR_DEMO_ROWS=$demo_rows DAGR_DEMO_COLS=$demo_cols \
  timeout 120 "$dagr" demo >"$tmp/demo-ref.out" 2>&1)
demo_ref=$(demo_stats "$tmp/demo-ref.out")
rm -rf "$tmp"/dagr-demo-*
[ -n "$demo_ref" ] || bad "single-process demo (reference)" "no statistics line"

# --- jobs ----------------------------------------------------------------------------------------
# submit NAME TEMPLATE [VAR=VALUE...] -- [SBATCH OPTIONS...]: submits from $tmp/NAME (the job's
# SLURM_SUBMIT_DIR, where its output and report files land); sets jid.
submit() {
  local name="$1" file="$2"
  shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  mkdir -p "$tmp/$name"
  jid=$(cd "$tmp/$name" &&
    env DAGR="$dagr" "${envs[@]}" timeout 30 sbatch --parsable "$@" "$tpl/$file" \
      2>"$tmp/$name/sbatch.err")
  jid=${jid%%;*}
  if [ -z "$jid" ]; then
    bad "$name: sbatch $file" "$(head -c 400 "$tmp/$name/sbatch.err")"
    return 1
  fi
  eval "jid_$name=$jid"
}

# job_field ID FIELD: one field of `scontrol show job`.
# Every Slurm command runs under a timeout: without a controller they retry for ever, and the
# traps run only between commands.
job_field() {
  timeout 10 scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
finished() {
  case "$1" in
    PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | RESIZING | "") return 1 ;;
  esac
  return 0
}
# wait_job ID LIMIT_S: polls until the job has ended; sets st (JobState) and ec (ExitCode).
wait_job() {
  local id="$1" limit="$2" t=$SECONDS
  while :; do
    st=$(job_field "$id" JobState)
    finished "$st" && break
    if [ $((SECONDS - t)) -ge "$limit" ]; then
      st="STILL-$st ($(job_field "$id" Reason))"
      timeout 10 scancel "$id" 2>/dev/null
      break
    fi
    sleep 0.25
  done
  ec=$(job_field "$id" ExitCode)
}
# out NAME: the job's output file.
outfile() { ls "$tmp/$1"/*.out 2>/dev/null | head -1; }

# check_info NAME JOBID NRANKS THREADS SPILL_DIR: the `dagr info` lines of the job's first step.
check_info() {
  local name="$1" id="$2" n="$3" thr="$4" spill="$5" f r line why=""
  f=$(outfile "$name")
  for ((r = 0; r < n; r++)); do
    line=$(grep -E "^rank $r: " "$f" | head -1)
    if [ -z "$line" ]; then why="$why; no line for rank $r"; continue; fi
    if [ "$r" -eq 0 ]; then
      case "$line" in *" role=scheduler "*) ;; *) why="$why; rank 0 is not role=scheduler" ;; esac
    else
      case "$line" in *" role=worker "*) ;; *) why="$why; rank $r is not role=worker" ;; esac
      [ "$(echo "$line" | grep -o ' threads=[0-9]*' | head -1)" = " threads=$thr" ] ||
        why="$why; rank $r: threads is not $thr (SLURM_CPUS_PER_TASK)"
      echo "$line" | grep -qE " spill_dir=$spill(/| |\$)" ||
        why="$why; rank $r: no spill_dir=$spill..."
    fi
    echo "$line" | grep -q " slurm_job=$id " || why="$why; rank $r: no slurm_job=$id"
    echo "$line" | grep -qE " slurm_step=[0-9]+( |\$)" || why="$why; rank $r: no slurm_step=N"
    echo "$line" | grep -qE " slurm_procid=$r( |\$)" || why="$why; rank $r: no slurm_procid=$r"
    echo "$line" | grep -qE " slurm_cpus_per_task=$thr( |\$)" ||
      why="$why; rank $r: no slurm_cpus_per_task=$thr"
  done
  [ "$(grep -cE '^rank [0-9]+: ' "$f")" -eq "$n" ] || why="$why; not exactly $n rank lines"
  note "$name: $(grep -E '^rank 1: ' "$f" | head -1)"
  if [ -z "$why" ]; then
    ok "$name: dagr info: $n ranks, rank 0 scheduler, workers with $thr threads," \
      "slurm_job/step/procid/cpus_per_task, spill_dir"
  else
    bad "$name: dagr info" "${why#; }: $(grep -E '^rank ' "$f" | head -3 | tr '\n' '|')"
  fi
}

# check_done NAME JOBID: COMPLETED with exit code 0, by the common deadline.
check_done() {
  local name="$1" id="$2" limit=$((deadline - SECONDS))
  [ "$limit" -ge 5 ] || limit=5
  wait_job "$id" "$limit"
  if [ "$st" = COMPLETED ] && [ "$ec" = "0:0" ]; then
    ok "$name: job $id COMPLETED, exit code 0 ($(job_field "$id" RunTime))"
    return 0
  fi
  bad "$name: job $id ends COMPLETED with exit code 0" "state $st, exit code $ec; output:
$(tail -n 15 "$(outfile "$name")" 2>/dev/null)"
  return 1
}

# check_obs NAME FILE...: report (.html) and trace (.json) files written by rank 0.
check_obs() {
  local name="$1" f why=""
  shift
  if [ "$CHECK_OBS" != 1 ]; then
    note "$name: report/trace files not checked (CHECK_OBS=0): $*"
    return 0
  fi
  for f in "$@"; do
    if [ ! -s "$tmp/$name/$f" ]; then
      why="$why; $f missing or empty"
    elif [[ "$f" == *.html ]]; then
      grep -qi '<html' "$tmp/$name/$f" || why="$why; $f is not HTML"
    else
      "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"] if isinstance(d, dict) else d
sys.exit(0 if isinstance(ev, list) and ev else 1)' "$tmp/$name/$f" 2>/dev/null ||
        why="$why; $f is not a Chrome trace with events"
    fi
  done
  compgen -G "$tmp/$name/*%j*" >/dev/null && why="$why; a file name still holds %j"
  if [ -z "$why" ]; then
    ok "$name: report and trace files $*"
  else
    bad "$name: report and trace files" "${why#; }"
  fi
}

# The time-limit job goes first, so that the others run while it waits for its signal.
#
# Slurm sends --signal=SIG@N at the first of slurmctld's time-limit checks (every 30 s,
# PERIODIC_TIMEOUT, counted from slurmctld's start, not the job's) that finds at most N + 30 s
# left: so between N and N + 30 s before the end. Measured with --time=1 (the minimum, 60 s) and
# jobs started at one moment: TERM@10 came 42 s after the start, TERM@20 to TERM@59 all 12 s
# after it (the first check). A signal that comes before the job's srun step exists reaches no
# rank, so N must leave the step time to start: with N = 20 no check before 10 s into the job
# (60 - 20 - 30) signals it, and one of the next two checks does, 10 to 40 s after the start,
# well before the limit. Here the job starts about 3 s after slurmctld, so the check 30 s after
# slurmctld's start signals it, about 27 s into the job (RunTime 27-28 s in every run so far).
# A larger N could signal a job still starting; a smaller one can wait another 30 s.
tl_signal=20
mkdir -p "$tmp/spill-tl"
# node-workers.sbatch with 2 workers of 1 thread (as on 2 nodes), 16 MiB stores, running hold.json:
# the worker that runs the sleep has no thread left, the other makes the buffers and spills them
# (a single worker would hold them for its waiting consumers and pause instead).
submit timelimit node-workers.sbatch GRAPH="$tmp/hold.json" DAGR_SPILL_DIR="$tmp/spill-tl" \
  DAGR_STORE_BYTES=16M -- --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=1 \
  --signal=TERM@$tl_signal
tl_submitted=$(date +%s.%N)

# (1) one worker per NUMA domain: one node, 2 "domains" of 1 CPU, the demo at 512 x 512.
mkdir -p "$tmp/spill-numa"
submit numa numa-workers.sbatch DAGR_SPILL_DIR="$tmp/spill-numa" OUTDIR="$tmp/numa/out" \
  DAGR_DEMO_ROWS=$demo_rows DAGR_DEMO_COLS=$demo_cols -- \
  --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=5
# (2) one worker per node with 2 threads: the task-graph demo.
mkdir -p "$tmp/spill-node"
submit node node-workers.sbatch DAGR_SPILL_DIR="$tmp/spill-node" -- \
  --nodes=1 --ntasks-per-node=1 --cpus-per-task=2 --time=5
# (3) the HDF5 workflow on a known input (x = arange(R*C).reshape(R, C)), 64 x 64 chunks; spill
# directory from TMPDIR, the usual node-local default.
mkdir -p "$tmp/tmp-hdf5"
submit hdf5 hdf5-eval.sbatch TMPDIR="$tmp/tmp-hdf5" EVAL_INPUT="$tmp/in.h5:/x" EVAL_CHUNKS=64,64 \
  OUTDIR="$tmp/hdf5/out" -- --nodes=1 --ntasks-per-node=1 --cpus-per-task=2 --time=5
# (3') the same without an input: the template makes its sample with `dagr demo`.
submit hdf5sample hdf5-eval.sbatch DAGR_SPILL_DIR="$tmp/spill-node" OUTDIR="$tmp/hdf5sample/out" \
  DAGR_DEMO_ROWS=256 DAGR_DEMO_COLS=256 EVAL_CHUNKS=64,64 -- \
  --nodes=1 --ntasks-per-node=1 --cpus-per-task=2 --time=5
# The one-node quick start: 2 tasks of 1 CPU (rank 0 and one worker).
submit demo dagr-demo.sbatch DAGR_SPILL_DIR="$tmp/spill-node" TMPDIR="$tmp/demo" \
  DAGR_DEMO_ROWS=$demo_rows DAGR_DEMO_COLS=$demo_cols -- --ntasks=2 --cpus-per-task=1 --time=5

# Every job must be over 240 s after the submissions (they take 5-30 s here), well within the
# wrapper's 600 s.
deadline=$((SECONDS + 240))

# --- the time-limit job, while the others run ----------------------------------------------------
clk() { date +%s.%N; }
# since T: seconds from the time-limit job's submission to T (or "never").
# secs A B: B - A, to 0.1 s.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# before A B: is A <= B?
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
since() { if [ -n "$1" ]; then echo "$(secs "$tl_submitted" "$1") s"; else echo never; fi; }
if [ -n "${jid_timelimit:-}" ]; then
  id=$jid_timelimit
  f="$tmp/timelimit/dagr-node-$id.out"
  t_run=""
  t_spill=""
  t_sig=""
  t_end=""  # the batch script has ended: COMPLETING (Slurm cleaning up) or a final state
  while :; do
    st=$(job_field "$id" JobState)
    now=$(clk)
    [ -z "$t_run" ] && [ "$st" = RUNNING ] && t_run=$now
    if [ -z "$t_spill" ] && [ -n "$(find "$tmp/spill-tl" -type f 2>/dev/null | head -1)" ]; then
      t_spill=$now
    fi
    [ -z "$t_sig" ] && grep -qs "received SIGTERM; stopping" "$f" && t_sig=$now
    [ -z "$t_end" ] && [ "$st" = COMPLETING ] && t_end=$now
    if finished "$st"; then
      [ -z "$t_end" ] && t_end=$now
      break
    fi
    if ! before "$(secs "$tl_submitted" "$now")" 150; then
      st="STILL-$st"
      break
    fi
    sleep 0.2
  done
  ec=$(job_field "$id" ExitCode)
  runtime=$(job_field "$id" RunTime)
  note "time-limit job $id, from its submission: running at $(since "$t_run"), spill files at" \
    "$(since "$t_spill"), first SIGTERM line at $(since "$t_sig"), ended at $(since "$t_end");" \
    "RunTime $runtime, state $st, exit code $ec"
  label="time limit: --signal=TERM@$tl_signal with --time=1 stops the job before its limit"
  if [ "$st" = FAILED ] && [ "$ec" = "143:0" ]; then
    ok "$label (state FAILED, not TIMEOUT; exit code 143; RunTime $runtime)"
  else
    bad "$label" "state $st, exit code $ec (expected FAILED, 143:0); output:
$(tail -n 12 "$f" 2>/dev/null)"
  fi
  # Every rank (the scheduler and both workers) announces the signal.
  nsig=$(grep -cE '^dagr: rank [0-9]+ received SIGTERM; stopping' "$f" 2>/dev/null)
  if grep -qE '^dagr: rank 0 received SIGTERM; stopping' "$f" &&
    grep -qE '^dagr: rank 1 received SIGTERM; stopping' "$f" &&
    grep -qE '^dagr: rank 2 received SIGTERM; stopping' "$f"; then
    ok "time limit: every rank prints \"dagr: rank N received SIGTERM; stopping\""
  else
    bad "time limit: every rank prints \"dagr: rank N received SIGTERM; stopping\"" \
      "$nsig such lines; output: $(tail -n 8 "$f" 2>/dev/null)"
  fi
  if [ -n "$t_sig" ] && [ -n "$t_end" ] && before "$(secs "$t_sig" "$t_end")" 5; then
    ok "time limit: the job ends within 5 s of the signal" \
      "($(secs "$t_sig" "$t_end") s, polled every 0.2 s)"
  else
    bad "time limit: the job ends within 5 s of the signal" \
      "SIGTERM line seen at $(since "$t_sig"), end at $(since "$t_end")"
  fi
  if [ -n "$t_spill" ] && { [ -z "$t_sig" ] || before "$t_spill" "$t_sig"; }; then
    ok "time limit: the job spilled before the signal"
  else
    bad "time limit: the job spilled before the signal" "no spill file seen under $tmp/spill-tl"
  fi
  left=$(find "$tmp/spill-tl" -mindepth 1 2>/dev/null | head -5)
  if [ -z "$left" ]; then
    ok "time limit: the spill directory is empty afterwards"
  else
    bad "time limit: the spill directory is empty afterwards" "$left"
  fi
fi

# --- (1) numa-workers.sbatch ---------------------------------------------------------------------
if [ -n "${jid_numa:-}" ] && check_done numa "$jid_numa"; then
  f=$(outfile numa)
  check_info numa "$jid_numa" 3 1 "$tmp/spill-numa"
  got=$(demo_stats "$f")
  if grep -q '^ *result: OK' "$f" && [ -n "$got" ] && [ "$got" = "$demo_ref" ]; then
    ok "numa: dagr demo on 1 scheduler + 2 workers: result OK, statistics as one process ($got)"
  else
    bad "numa: dagr demo result" \
      "got '$got', expected '$demo_ref'; $(grep -E 'result|check' "$f" | tr '\n' '|')"
  fi
  res=$(sed -n 's/.*outputs: \([^ ]*results\.h5\) .*/\1/p' "$f")
  case "$res" in
    "$tmp/numa/out/"*) [ -s "$res" ] && ok "numa: the demo's HDF5 output is under OUTDIR ($res)" ||
      bad "numa: the demo's HDF5 output is under OUTDIR" "$res missing" ;;
    *) bad "numa: the demo's HDF5 output is under OUTDIR" "outputs at '$res'" ;;
  esac
  check_obs numa "dagr-report-$jid_numa-demo.html" "dagr-trace-$jid_numa-demo.json"
fi

# --- (2) node-workers.sbatch ---------------------------------------------------------------------
if [ -n "${jid_node:-}" ] && check_done node "$jid_node"; then
  f=$(outfile node)
  check_info node "$jid_node" 2 2 "$tmp/spill-node"
  sumsq=$((1000 * 1001 * 2001 / 6)) # the demo graph sums the squares of 1..1000
  if grep -q "^ *sumsq = $sumsq (expected $sumsq)" "$f" && grep -q '^ *result: OK' "$f" &&
    grep -qE '^ *checksum of checksums = (0x[0-9a-f]+) \(expected \1\)' "$f"; then
    ok "node: dagr demo graph: sumsq = $sumsq, checksums as expected, result OK"
  else
    bad "node: dagr demo graph" "$(grep -E 'sumsq|checksum|result' "$f" | tr '\n' '|')"
  fi
  check_obs node "dagr-report-$jid_node-run.html" "dagr-trace-$jid_node-run.json"
fi

# --- (3) hdf5-eval.sbatch, known input -----------------------------------------------------------
# check_normalized FILE: y = (x - mean) / std column-wise; for x = arange(R*C).reshape(R, C) every
# column is (i - (R-1)/2) / sqrt((R^2-1)/12) whatever C; for another x, compare with NumPy.
check_normalized() {
  "$PY" - "$@" <<'EOF'
import sys, h5py, numpy as np
out, inp = sys.argv[1], sys.argv[2]
with h5py.File(out, "r") as f:
    y = f["/normalized"][...]
if inp == "arange":
    r, c = int(sys.argv[3]), int(sys.argv[4])
    i = np.arange(r, dtype="f8")[:, None]
    want = np.broadcast_to((i - (r - 1) / 2) / np.sqrt((r * r - 1) / 12), (r, c))
else:
    path, dset = inp.rsplit(":", 1)
    with h5py.File(path, "r") as f:
        x = f[dset][...]
    want = (x - x.mean(axis=0)) / x.std(axis=0)
err = float(np.max(np.abs(y - want)))
print(f"shape {y.shape}, largest error {err:.3g}")
sys.exit(0 if y.shape == want.shape and err < 1e-9 else 1)
EOF
}
# small VALUE: |VALUE| < 1e-9
small() { awk -v v="$1" 'BEGIN { exit !(v != "" && v + 0 == v && (v < 0 ? -v : v) < 1e-9) }'; }

if [ -n "${jid_hdf5:-}" ] && check_done hdf5 "$jid_hdf5"; then
  f=$(outfile hdf5)
  n=$((R * C))
  want=$((n * (n - 1) / 2))
  got=$(sed -n 's/^sum: //p' "$f")
  if awk -v a="$got" -v b="$want" 'BEGIN { exit !(a != "" && a == b) }'; then
    ok "hdf5: x.sum() over arange($n) = $got (n(n-1)/2 = $want)"
  else
    bad "hdf5: x.sum() over arange($n)" "got '$got', expected $want"
  fi
  if msg=$(check_normalized "$tmp/hdf5/out/normalized.h5" arange $R $C 2>&1); then
    ok "hdf5: normalized.h5:/normalized matches the closed form ($msg)"
  else
    bad "hdf5: normalized.h5:/normalized matches the closed form" "$msg"
  fi
  line=$(grep '^check: ' "$f")
  m=$(echo "$line" | sed -n 's/.*column mean| of the output \([^,]*\),.*/\1/p')
  s=$(echo "$line" | sed -n 's/.*column std - 1| \(.*\)$/\1/p')
  if small "$m" && small "$s"; then
    ok "hdf5: the output read back by dagr eval: column means $m, stds - 1 $s"
  else
    bad "hdf5: the output read back by dagr eval" "'$line'"
  fi
  check_info_spill=$(find "$tmp/tmp-hdf5" -mindepth 1 2>/dev/null | head -3)
  [ -z "$check_info_spill" ] && ok "hdf5: nothing left in TMPDIR (the spill directory)" ||
    bad "hdf5: nothing left in TMPDIR (the spill directory)" "$check_info_spill"
  check_obs hdf5 dagr-report-$jid_hdf5-{sum,normalize,check,check-std}.html \
    dagr-trace-$jid_hdf5-{sum,normalize,check,check-std}.json
fi

if [ -n "${jid_hdf5sample:-}" ] && check_done hdf5sample "$jid_hdf5sample"; then
  f=$(outfile hdf5sample)
  x=$(sed -n 's/^x = //p' "$f")
  got=$(sed -n 's/^sum: //p' "$f")
  case "$x" in
    "$tmp/hdf5sample/out/"*:/field)
      want=$("$PY" -c 'import sys, h5py
p, d = sys.argv[1].rsplit(":", 1)
print(repr(float(h5py.File(p, "r")[d][...].sum())))' "$x" 2>&1)
      if awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b
          exit !(a != "" && d <= 1e-9 * m + 1e-9) }'; then
        ok "hdf5sample: the sample made by dagr demo under OUTDIR, its sum $got (NumPy: $want)"
      else
        bad "hdf5sample: sum of the sample" "dagr $got, NumPy $want"
      fi
      if msg=$(check_normalized "$tmp/hdf5sample/out/normalized.h5" "$x" 2>&1); then
        ok "hdf5sample: normalized.h5:/normalized matches NumPy ($msg)"
      else
        bad "hdf5sample: normalized.h5:/normalized matches NumPy" "$msg"
      fi
      ;;
    *) bad "hdf5sample: the sample is made under OUTDIR" "x = '$x'" ;;
  esac
  check_obs hdf5sample dagr-report-$jid_hdf5sample-{sample,sum,normalize}.html \
    dagr-trace-$jid_hdf5sample-{sample,sum,normalize}.json
fi

# --- dagr-demo.sbatch ----------------------------------------------------------------------------
if [ -n "${jid_demo:-}" ] && check_done demo "$jid_demo"; then
  f=$(outfile demo)
  check_info demo "$jid_demo" 2 1 "$tmp/spill-node"
  got=$(demo_stats "$f")
  if [ "$(grep -c '^ *result: OK' "$f")" -eq 2 ] &&
    grep -q "^ *sumsq = 333833500 (expected 333833500)" "$f" &&
    [ "$got" = "$demo_ref" ]; then
    ok "demo: dagr demo graph and dagr demo on 2 ranks: results OK, statistics as a single process"
  else
    bad "demo: dagr demo graph and dagr demo" \
      "$(grep -E 'sumsq|result|per-column' "$f" | tr '\n' '|')"
  fi
  check_obs demo "dagr-report-$jid_demo-demo.html" "dagr-trace-$jid_demo-demo.json"
  # task/affinity binds each of the 2 tasks to its own CPU: dagr keeps the launcher's binding.
  if [ "$task_plugin" = task/affinity ]; then
    c0=$(grep -E '^rank 0: ' "$f" | grep -o ' cpuset=[^ ]*')
    c1=$(grep -E '^rank 1: ' "$f" | grep -o ' cpuset=[^ ]*')
    if grep -E '^rank 0: ' "$f" | grep -q 'launcher_bound=1' && [ -n "$c0" ] && [ -n "$c1" ] &&
      [ "$c0" != "$c1" ]; then
      ok "demo: ranks bound by srun keep their binding (rank 0$c0, rank 1$c1)"
    else
      bad "demo: ranks bound by srun keep their binding" "$(grep -E '^rank ' "$f" | tr '\n' '|')"
    fi
  fi
fi

# Every job is over: no spill files anywhere.
left=$(find "$tmp"/spill-* "$tmp/tmp-hdf5" -type f 2>/dev/null | head -5)
if [ -z "$left" ]; then
  ok "no spill files left by any job"
else
  bad "no spill files left by any job" "$left"
fi

note "slurm.sh took $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
