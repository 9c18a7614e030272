#!/usr/bin/env bash
# placement.sh: hwloc placement on the real machine (DAGR_BIND) and on synthetic/XML NUMA topologies.
#
# Run by `make check` through tests/wrapper.sh (MPIRUN, DAGR_TOP_BUILDDIR, DAGR_TOP_SRCDIR and
# Open MPI's root/oversubscribe variables). Each run of placement_mpi prints ok/FAIL lines and
# "N passed, N failed"; `dagr info` outputs are checked here with grep. Prints the sum last.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
S="${DAGR_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
MPIRUN="${MPIRUN:-mpirun}"
prog="$B/tests/integration/placement_mpi"
dagr="$B/dagr"
limit=120
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_placement.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# run LABEL ENV... -- COMMAND...: a placement_mpi run; its counts are added.
run() {
  local label="$1" out="$tmp/out"
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" timeout --kill-after=10 "$limit" "$@" >"$out" 2>"$tmp/err"
  local rc=$?
  sed "s/\$/ ($label)/" "$out" | grep -E '^(ok|FAIL) '
  local p f
  p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -1)
  f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -1)
  if [ -z "$p" ]; then
    bad "$label" "no summary (exit $rc): $(head -c 400 "$tmp/err")"
    return
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then bad "$label" "exit status $rc"; fi
}

# info LABEL WHICH PATTERN ENV... -- COMMAND...: runs dagr info; WHICH=workers: every worker's
# line (ranks 1..) matches PATTERN (or rank 0's in a single process); WHICH=rank0: rank 0's does.
info() {
  local label="$1" which="$2" pat="$3"
  shift 3
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  if ! env "${envs[@]}" timeout --kill-after=10 "$limit" "$@" >"$tmp/info" 2>"$tmp/err"; then
    bad "$label" "dagr info failed: $(head -c 400 "$tmp/err")"
    return
  fi
  local lines
  if [ "$which" = rank0 ]; then
    lines=$(grep -E '^rank 0: ' "$tmp/info")
  else
    lines=$(grep -E '^rank [1-9][0-9]*: ' "$tmp/info")
  fi
  if [ -z "$lines" ]; then
    bad "$label" "no $which lines in: $(head -c 400 "$tmp/info")"
  elif echo "$lines" | grep -vqE "$pat"; then
    bad "$label" "a line does not match /$pat/: $(cat "$tmp/info")"
  else
    ok "$label"
  fi
}

for f in "$prog" "$dagr"; do
  if [ ! -x "$f" ]; then
    echo "FAIL setup: $f is not built"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# The real machine: threads bound to single cores, tasks run there; none leaves them free.
run "core, alone" DAGR_BIND=core -- "$prog" cores single
run "core, -np 3" DAGR_BIND=core -- $MPIRUN -np 3 "$prog" cores single
run "none, -np 3" DAGR_BIND=none -- $MPIRUN -np 3 "$prog" cores unbound
run "numa (default), -np 3" DAGR_BIND=numa -- $MPIRUN -np 3 "$prog" cores any
info "info core: cpuset, numa, thread bindings, store per domain" workers \
  'role=worker .*groups=1 store_parts=0:[0-9]+ .*cpuset=[0-9,-]+ numa=[0-9,]+ threads=0:pu[0-9]+ .*bind=core' \
  DAGR_BIND=core -- $MPIRUN -np 3 "$dagr" info
info "info scheduler rank bound to one core" rank0 '^rank 0: .*role=scheduler .*cpuset=[0-9]+ bind=numa' \
  DAGR_BIND=numa -- $MPIRUN -np 3 "$dagr" info

# Two NUMA domains (synthetic: binding does nothing, the plan and the groups are real): one
# worker keeps 2 executor groups and 2 store parts; the scheduler places by domain.
syn="numa:2 core:1 pu:1"
run "2 domains, alone" HWLOC_SYNTHETIC="$syn" -- "$prog" graph
run "2 domains, -np 2" HWLOC_SYNTHETIC="$syn" -- $MPIRUN -np 2 "$prog" graph
run "2 domains, -np 3" HWLOC_SYNTHETIC="$syn" -- $MPIRUN -np 3 "$prog" graph
info "info 2 domains, 1 worker: 2 groups, 2 store parts" workers \
  'groups=2 store_parts=0:[0-9]+,1:[0-9]+ .*numa=0[-,]1 ' \
  HWLOC_SYNTHETIC="$syn" -- $MPIRUN -np 2 "$dagr" info
# A real multi-socket machine's XML (8 NUMA domains): 2 workers take 4 domains each.
xml="$S/tests/topologies/8numa-64core-smt2.xml"
run "8-domain XML, -np 3" HWLOC_XMLFILE="$xml" DAGR_WORKER_THREADS=4 -- $MPIRUN -np 3 "$prog" graph
info "info 8-domain XML: 4 groups per worker" workers 'groups=4 store_parts=0:[0-9]+,1:[0-9]+,2:[0-9]+,3:[0-9]+ ' \
  HWLOC_XMLFILE="$xml" DAGR_WORKER_THREADS=4 -- $MPIRUN -np 3 "$dagr" info
info "DAGR_NUMA_DOMAINS restricts the domains" workers 'groups=1 .*numa=[0-9]+ ' \
  HWLOC_XMLFILE="$xml" DAGR_NUMA_DOMAINS=2,5 DAGR_WORKER_THREADS=2 -- $MPIRUN -np 3 "$dagr" info

# Bad settings: a clear error naming the variable, every rank stops.
for v in "DAGR_BIND=sockets" "DAGR_NUMA_DOMAINS=0-x"; do
  name="${v%%=*}"
  env "$v" timeout --kill-after=10 "$limit" $MPIRUN -np 3 "$dagr" info >"$tmp/o" 2>"$tmp/e"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "$name" "$tmp/e"; then
    ok "bad $name is an error naming it"
  else
    bad "bad $name is an error naming it" "exit $rc, stderr: $(head -c 300 "$tmp/e")"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
