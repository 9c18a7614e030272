#!/usr/bin/env bash
# mpi_core.sh: runs core_mpi alone, under mpirun -np 1/2/3/5 and over TCP, and sums its results.
#
# Run by `make check` through tests/wrapper.sh, which exports MPIRUN, DAGR_TOP_SRCDIR,
# DAGR_TOP_BUILDDIR and Open MPI's root/oversubscribe variables. By hand, from the build tree:
#   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
#   DAGR_TOP_BUILDDIR=. MPIRUN=mpirun $SRCDIR/tests/integration/mpi_core.sh
#
# Each run of core_mpi prints "ok NAME" / "FAIL NAME: ..." per case and ends with
# "N passed, N failed"; this script shows them as "ok NAME (RUN)" / "FAIL NAME (RUN): ...", its
# other lines indented, and prints the sum over all runs as its own last line. A run that times out, ends without its summary line, or
# whose exit status disagrees with its summary counts as one more failure, named by the run.
# A last short run forces one failing case and checks that every rank exits non-zero.
# DAGR_TEST_SKIP_1G=1 in the environment skips the 1 GiB case everywhere; it is always skipped
# in the TCP runs and the 5-rank run.
set -u

builddir="${DAGR_TOP_BUILDDIR:-.}"
mpirun="${MPIRUN:-mpirun}"
prog="$builddir/tests/integration/core_mpi"
limit="${DAGR_MPI_CORE_TIMEOUT:-300}" # seconds per run

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_mpi_core.XXXXXX") || exit 1
marker="$tmp/marker"
: >"$marker"
# Shared-memory segments present before any run are never touched.
: >"$tmp/shm_before"
for f in /dev/shm/vader_segment*; do
  [ -e "$f" ] && basename "$f" >>"$tmp/shm_before"
done

cleanup() {
  # Remove the vader segments our runs left behind: new since the start, and mapped by no live
  # process (a concurrent test's segments are in use, ours are orphans once our runs ended).
  local f removed=0
  [ -d "$tmp" ] || return 0
  for f in /dev/shm/vader_segment*; do
    [ -e "$f" ] || continue
    [ "$f" -nt "$marker" ] || continue
    grep -qxF "$(basename "$f")" "$tmp/shm_before" && continue
    grep -qsF "$f" /proc/[0-9]*/maps 2>/dev/null && continue
    rm -f "$f" && removed=$((removed + 1))
  done
  [ $removed -gt 0 ] && echo "# removed $removed leftover /dev/shm/vader_segment file(s)"
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -x "$prog" ]; then
  echo "FAIL setup: $prog is not an executable (build it first: make tests/integration/core_mpi)"
  echo "0 passed, 1 failed"
  exit 1
fi

# run LABEL COMMAND...: runs one core_mpi job, shows its lines, adds its counts.
run() {
  local label="$1"
  shift
  echo "== $label"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  awk -v run="$label" '
    /^[0-9]+ passed, [0-9]+ failed$/ { next }
    /^ok / { print $0 " (" run ")"; next }
    /^FAIL [^:]*:/ { i = index($0, ":"); print substr($0, 1, i - 1) " (" run ")" substr($0, i); next }
    { print "  " $0 }' "$tmp/out"
  local summary p=0 f=0 extra=""
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/out" | tail -n 1)
  if [ -n "$summary" ]; then
    p=${summary%% passed*}
    f=${summary#*passed, }
    f=${f%% failed}
  fi
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    extra="timed out after ${limit}s (exit $rc)"
  elif [ -z "$summary" ]; then
    extra="ended without a summary line (exit status $rc)"
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    extra="exit status $rc although no case failed"
  elif [ $rc -eq 0 ] && [ "$f" -ne 0 ]; then
    extra="exit status 0 although $f case(s) failed"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ -n "$extra" ]; then
    echo "FAIL $label: $extra"
    failed=$((failed + 1))
  fi
  if [ -n "$extra" ] || [ "$f" -ne 0 ]; then
    if [ -s "$tmp/err" ]; then
      echo "  stderr:"
      head -c 4000 "$tmp/err" | sed 's/^/    /'
    fi
  fi
  echo "-- $label: exit $rc, $p passed, $f failed, ${secs} s"
}

skip_all="${DAGR_TEST_SKIP_1G:-0}"

run "alone, no mpirun" env DAGR_TEST_SKIP_1G="$skip_all" "$prog"
for n in 1 2 3 5; do
  skip=$skip_all
  [ "$n" -eq 5 ] && skip=1
  run "$mpirun -np $n" "$mpirun" -np "$n" -x DAGR_TEST_SKIP_1G="$skip" "$prog"
done
# The network path: messages over TCP, and one-sided pulls over TCP too (osc/pt2pt; with only
# the TCP BTL Open MPI's osc/sm would still move pulls through shared memory on one node).
for n in 2 3 5; do
  run "$mpirun -np $n --mca btl self,tcp --mca osc pt2pt" "$mpirun" -np "$n" --mca btl self,tcp \
    --mca osc pt2pt -x DAGR_TEST_SKIP_1G=1 "$prog"
done

# Stores too small for an input: the task fails cleanly, retries included, and the context
# stays usable.
run "store_full, $mpirun -np 3, 16 MiB stores" "$mpirun" -np 3 -x DAGR_STORE_BYTES=16M \
  "$(dirname "$prog")/store_full"

# A failure must reach every rank's exit status: one case that fails on purpose, 3 ranks.
label="exit status propagation ($mpirun -np 3, one forced failure)"
echo "== $label"
timeout --kill-after=10 60 "$mpirun" -np 3 -x DAGR_TEST_CASES=diamond -x DAGR_TEST_FORCE_FAIL=1 \
  "$prog" </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
echo "  (the FAIL forced-failure line below is expected here and not counted)"
sed 's/^/  /' "$tmp/out"
why=""
if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
  why="exit status $rc, expected a plain failure exit"
elif ! grep -qx '1 passed, 1 failed' "$tmp/out"; then
  why="summary is not '1 passed, 1 failed'"
else
  for r in 1 2; do
    if ! grep -q "worker rank $r exits with status 1" "$tmp/err"; then
      why="worker rank $r did not report exit status 1"
      break
    fi
  done
fi
if [ -n "$why" ]; then
  echo "FAIL $label: $why"
  echo "  stderr:"
  head -c 4000 "$tmp/err" | sed 's/^/    /'
  failed=$((failed + 1))
else
  echo "ok $label"
  passed=$((passed + 1))
fi

cleanup
trap - EXIT
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
