#!/usr/bin/env bash
# faults.sh: crashes, killed ranks, SIGTERM/SIGINT and task timeouts end the job within bounds, with clear messages and no partial output file.
#
# Run by `make check` through tests/wrapper.sh, which exports MPIRUN, DAGR_TOP_SRCDIR,
# DAGR_TOP_BUILDDIR and Open MPI's root/oversubscribe variables. By hand, from the build tree:
#   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
#   DAGR_TOP_BUILDDIR=. MPIRUN=mpirun $SRCDIR/tests/integration/faults.sh
#
# Each job runs tests/integration/faults_mpi (see its header) in a session of its own, under
# `mpirun -np 3` and alone; the script signals or kills the job, or a single rank, once every
# worker runs its kernel (each announces its pid in a file), and measures how long the job and
# every process of it take to end. Every case prints "ok NAME (S s)" or "FAIL NAME: why", and the
# last line is "N passed, N failed". Whatever happens, every process a case started is killed
# before the next case and at exit.
set -u

builddir="${DAGR_TOP_BUILDDIR:-.}"
mpirun="${MPIRUN:-mpirun}"
prog="$builddir/tests/integration/faults_mpi"
dagr="$builddir/dagr"
np=3

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_faults.XXXXXX") || exit 1
tmp=$(cd "$tmp" && pwd -P)
job=""      # pid of the running case (mpirun, or the program alone)
seen=""     # every pid seen in its process tree
export DAGR_FAULTS_DIR="$tmp/run"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Is the first number below the second?
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# A pid that exists and is not a zombie (ranks whose mpirun died may wait to be reaped).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Adds the job's current process tree to $seen.
snapshot() {
  local queue="$job" p c
  while [ -n "$queue" ]; do
    set -- $queue
    p=$1
    shift
    queue="$*"
    case " $seen " in *" $p "*) ;; *) seen="$seen $p" ;; esac
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do queue="$queue $c"; done
  done
}

# Pids of $seen still alive and still running our programs (a pid is never signalled after it
# was reused by an unrelated process).
survivors() {
  local p out=""
  for p in $seen; do
    alive "$p" || continue
    grep -qsE 'faults_mpi|mpirun|orted|dagr' "/proc/$p/cmdline" && out="$out $p"
  done
  echo "$out"
}

kill_all() {
  [ -n "$job" ] || return 0
  snapshot
  local s
  s=$(survivors)
  [ -n "$s" ] && kill -KILL $s 2>/dev/null
  wait "$job" 2>/dev/null
  job=""
  seen=""
}

cleanup() {
  kill_all
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() {
  echo "ok $1"
  passed=$((passed + 1))
}

fail() {
  echo "FAIL $1: $2"
  for f in out err; do
    if [ -s "$tmp/$f" ]; then
      echo "  std$f:"
      head -c 3000 "$tmp/$f" | sed 's/^/    /'
    fi
  done
  failed=$((failed + 1))
}

if [ ! -x "$prog" ]; then
  echo "FAIL setup: $prog is not an executable (build it first)"
  echo "0 passed, 1 failed"
  exit 1
fi
# Background jobs of a non-interactive shell ignore SIGINT, and dagr keeps an ignored SIGINT
# ignored: start every job with the default action (coreutils env, 8.31 and later).
envsig="env"
env --default-signal=INT true 2>/dev/null && envsig="env --default-signal=INT,TERM"

# start ARGS...: starts a job in its own session; stdout and stderr go to $tmp/out, $tmp/err.
start() {
  kill_all
  rm -rf "$DAGR_FAULTS_DIR"
  mkdir -p "$DAGR_FAULTS_DIR"
  : >"$tmp/out"
  : >"$tmp/err"
  setsid $envsig "$@" </dev/null >"$tmp/out" 2>"$tmp/err" &
  job=$!
  seen=""
  kernels=1
  mpi=0
  t_start=$(now)
}

# alone_start ARGS...: faults_mpi ARGS alone, under sh: a crash then shows as sh's exit status
# 128 + signal, without bash's "Segmentation fault" notice for a background job.
alone_start() {
  start sh -c '"$@"' sh "$prog" "$@"
}

# mpi_start MODE [mpirun options...]: faults_mpi MODE under mpirun -np $np.
mpi_start() {
  local mode=$1
  shift
  start "$mpirun" -np $np -x DAGR_FAULTS_DIR "$@" "$prog" "$mode" "$tmp"
  kernels=$((np - 1))
  mpi=1
}

# wait_running N BOUND: waits until N ranks announced their kernel (files running.R).
wait_running() {
  local n=$1 bound=$2 t0 c
  t0=$(now)
  while :; do
    snapshot
    c=$(ls "$DAGR_FAULTS_DIR" 2>/dev/null | grep -c '^running\.[0-9]*$')
    [ "$c" -ge "$n" ] && return 0
    alive "$job" || return 1
    below "$(secs "$t0" "$(now)")" "$bound" || return 1
    sleep 0.05
  done
}

# pid_of_rank R: the pid rank R wrote.
pid_of_rank() { cat "$DAGR_FAULTS_DIR/running.$1" 2>/dev/null; }

# finish BOUND: waits until the job and every process seen in it have ended, at most BOUND
# seconds after the last signal ($t_sig, or the start). Sets rc, t_job (seconds from t_sig to
# the job's end), t_all (to the last process's end) and timed_out.
finish() {
  local bound=$1 from=${t_sig:-$t_start} s
  timed_out=0
  t_job=""
  while :; do
    snapshot 2>/dev/null
    if [ -z "$t_job" ] && ! alive "$job"; then t_job=$(secs "$from" "$(now)"); fi
    s=$(survivors)
    [ -z "$s" ] && break
    if ! below "$(secs "$from" "$(now)")" "$bound"; then
      timed_out=1
      break
    fi
    sleep 0.05
  done
  t_all=$(secs "$from" "$(now)")
  [ -z "$t_job" ] && t_job=$t_all
  if [ $timed_out -eq 1 ]; then
    kill_all
    rc=137
  else
    # (No "Segmentation fault" notice from bash: the crash is the point.)
    wait "$job" 2>/dev/null
    rc=$?
    job=""
    seen=""
  fi
  t_sig=""
}

# expect_end NAME BOUND CODE TEXT...: checks the job ended in time with a non-zero status
# (exactly CODE unless CODE is "any") and that its stderr holds every TEXT.
expect_end() {
  local name=$1 bound=$2 code=$3 why="" t
  shift 3
  if [ $timed_out -eq 1 ]; then
    why="still running ${bound} s after the fault (processes:$(survivors))"
  elif [ "$rc" -eq 0 ]; then
    why="exit status 0, expected a failure"
  elif [ "$code" != any ] && [ "$rc" -ne "$code" ]; then
    why="exit status $rc, expected $code"
  fi
  for t in "$@"; do
    [ -n "$why" ] && break
    grep -qF -- "$t" "$tmp/err" || why="stderr does not contain '$t'"
  done
  echo "# $name: job ended after $t_job s, all its processes after $t_all s, exit status $rc"
  if [ -n "$why" ]; then
    fail "$name" "$why"
  else
    ok "$name ($t_all s)"
  fi
}

host=$(hostname)
# In a --enable-sanitizers build AddressSanitizer takes a crash over after dagr's line (it
# reports and exits 1): the exit status of a crash is then only non-zero.
segv_code=139
grep -qE '^SAN_CFLAGS = .*-fsanitize' "$builddir/Makefile" 2>/dev/null && segv_code=any

# ---- (1) SIGSEGV in a kernel ----------------------------------------------------------------
mpi_start segv
t_sig=""
finish 10
expect_end "SIGSEGV in a kernel on worker rank 2 ($mpirun -np $np)" 10 any \
  "dagr: worker rank 2 on $host crashed with signal SIGSEGV while running task 'boom-2' (kernel fault_segv)"

alone_start segv "$tmp"
finish 10
expect_end "SIGSEGV in a kernel (alone)" 10 $segv_code \
  "dagr: rank 0 on $host crashed with signal SIGSEGV while running task 'boom-1' (kernel fault_segv)"

# ---- (2) SIGKILL of a worker rank mid-run -----------------------------------------------------
mpi_start hang
if wait_running 2 30; then
  t_sig=$(now)
  kill -KILL "$(pid_of_rank 1)"
  finish 10
  expect_end "SIGKILL of worker rank 1 mid-run ($mpirun -np $np)" 10 any "rank 1"
else
  finish 1
  fail "SIGKILL of worker rank 1 mid-run ($mpirun -np $np)" "the kernels did not start"
fi

# ---- (3) SIGTERM and SIGINT ---------------------------------------------------------------------
# stop_case NAME SIGNAL TARGET CODE TEXT...: TARGET is "job" (mpirun or the program alone) or a
# rank number.
stop_case() {
  local name=$1 sig=$2 target=$3 code=$4
  shift 4
  if ! wait_running "$kernels" 30; then
    finish 1
    fail "$name" "the kernels did not start"
    return
  fi
  t_sig=$(now)
  if [ "$target" = job ] && [ $mpi -eq 1 ]; then
    kill "-$sig" "$job"
  elif [ "$target" = 0 ] || [ "$target" = job ]; then
    kill "-$sig" "$(cat "$DAGR_FAULTS_DIR/driver")"
  else
    kill "-$sig" "$(pid_of_rank "$target")"
  fi
  finish 5
  expect_end "$name" 5 "$code" "$@"
}

# mpirun sends the ranks SIGTERM 1 s after its own and stops relaying their output as soon as
# one has ended: the first rank's line always shows, the others' may not.
mpi_start hang
stop_case "SIGTERM to mpirun mid-run: every rank stops ($mpirun -np $np)" TERM job any \
  " received SIGTERM; stopping"

mpi_start hang
stop_case "SIGTERM to worker rank 2 only ($mpirun -np $np)" TERM 2 any \
  "dagr: rank 2 received SIGTERM; stopping" "rank 2"

mpi_start hang
stop_case "SIGTERM to rank 0 only ($mpirun -np $np)" TERM 0 any \
  "dagr: rank 0 received SIGTERM; stopping" \
  "faults_mpi: dagr_get returned DAGR_EINTERRUPTED"

# mpirun turns SIGINT into SIGTERM for the ranks.
mpi_start hang
stop_case "SIGINT to mpirun mid-run ($mpirun -np $np)" INT job any " received SIGTERM; stopping"

mpi_start hang
stop_case "SIGINT to worker rank 1 only ($mpirun -np $np)" INT 1 any \
  "dagr: rank 1 received SIGINT; stopping"

alone_start hang "$tmp"
stop_case "SIGTERM (alone): exit status 143" TERM job 143 \
  "dagr: rank 0 received SIGTERM; stopping" "faults_mpi: dagr_get returned DAGR_EINTERRUPTED"

alone_start hang "$tmp"
stop_case "SIGINT (alone): exit status 130" INT job 130 \
  "dagr: rank 0 received SIGINT; stopping" "faults_mpi: dagr_get returned DAGR_EINTERRUPTED"

# ---- (4) task timeouts ------------------------------------------------------------------------
# timeout_case NAME BOUND COMMAND...: the program checks the error itself and must exit 0.
timeout_case() {
  local name=$1 bound=$2
  shift 2
  start "$@"
  finish "$bound"
  sed -n 's/^# /  # /p' "$tmp/out"
  local why=""
  if [ $timed_out -eq 1 ]; then
    why="still running after ${bound} s"
  elif [ "$rc" -ne 0 ]; then
    why="exit status $rc"
  elif ! grep -qE '^[0-9]+ passed, 0 failed$' "$tmp/out"; then
    why="a check failed"
  fi
  echo "# $name: job ended after $t_job s"
  grep -E '^(ok|FAIL) ' "$tmp/out" | sed 's/^/  /'
  if [ -n "$why" ]; then fail "$name" "$why"; else ok "$name ($t_job s)"; fi
}

timeout_case "timeout_s = 1 on a kernel that never returns ($mpirun -np $np)" 20 \
  "$mpirun" -np $np "$prog" timeout "$tmp"
timeout_case "timeout_s = 1 on a kernel that never returns (alone)" 20 sh -c '"$@"' sh \
  "$prog" timeout "$tmp"
timeout_case "DAGR_TASK_TIMEOUT=1, retries = 3, a kernel returning late ($mpirun -np $np)" 25 \
  "$mpirun" -np $np -x DAGR_TASK_TIMEOUT=1 "$prog" timeout_env "$tmp"
timeout_case "DAGR_TASK_TIMEOUT=1, retries = 3, a kernel returning late (alone)" 25 \
  env DAGR_TASK_TIMEOUT=1 "$prog" timeout_env "$tmp"

# A bad value stops every rank before anything runs, naming the variable.
if [ -x "$dagr" ]; then
  echo '{"graph": {"a": {"kernel": "const", "params": {"value": 1}}}, "outputs": ["a"]}' \
    >"$tmp/one.json"
  start "$mpirun" -np $np -x DAGR_TASK_TIMEOUT=soon "$dagr" run "$tmp/one.json"
  finish 20
  expect_end "DAGR_TASK_TIMEOUT=soon is refused ($mpirun -np $np)" 20 any \
    "DAGR_TASK_TIMEOUT='soon' is invalid"
fi

# ---- (5) a store cut short by a crash ---------------------------------------------------------
store_case() {
  local label=$1
  shift
  rm -rf "$tmp"/good.h5* "$tmp"/bad.h5*
  start "$@" store "$tmp"
  finish 20
  # map_blocks runs the registered kernel inside its own task kernel: the line names the former.
  expect_end "store crashed by a kernel ($label)" 20 any \
    "crashed with signal SIGSEGV while running task '('map_blocks-" "(kernel fault_block)"
  local name="store crashed by a kernel leaves no file under its final name ($label)"
  local left
  left=$(cd "$tmp" && ls -d bad.h5* 2>/dev/null | grep -v '^bad\.h5\.parts$')
  if [ ! -s "$tmp/good.h5" ]; then
    fail "$name" "the earlier output good.h5 is missing"
  elif [ -n "$left" ]; then
    fail "$name" "left: $left"
  else
    ok "$name"
  fi
  name="the earlier output is intact after the crash ($label)"
  if command -v h5dump >/dev/null 2>&1 &&
    ! h5dump -H "$tmp/good.h5" >"$tmp/h5dump.out" 2>&1; then
    fail "$name" "h5dump -H good.h5 failed: $(head -c 500 "$tmp/h5dump.out")"
    return
  fi
  alone_start store_check "$tmp"
  finish 30
  if [ "$rc" -eq 0 ] && grep -qx '2 passed, 0 failed' "$tmp/out"; then
    ok "$name"
  else
    fail "$name" "faults_mpi store_check: exit status $rc"
  fi
}
store_case "$mpirun -np $np" "$mpirun" -np $np "$prog"
store_case "alone" sh -c '"$@"' sh "$prog"

kill_all
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
