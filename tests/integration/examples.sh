#!/usr/bin/env bash
# examples.sh: runs the example programs and the built-in demo alone and under mpirun; each must succeed.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
MPIRUN="${MPIRUN:-mpirun}"
pass=0
fail=0
# Examples and the demo write under TMPDIR: keep that inside this test and remove it at the end.
TMPDIR=$(mktemp -d)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
run() {
  local name="$1"
  shift
  local out
  out=$(timeout 120 "$@" 2>&1)
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "ok $name"
    pass=$((pass + 1))
  else
    echo "FAIL $name (exit $rc)"
    echo "$out" | tail -n 5 | sed 's/^/    /'
    fail=$((fail + 1))
  fi
}
run "graph_demo alone" "$B/examples/graph_demo"
run "graph_demo -np 3" "$MPIRUN" -np 3 "$B/examples/graph_demo"
run "h5_stats alone" "$B/examples/h5_stats"
run "h5_stats -np 3" "$MPIRUN" -np 3 "$B/examples/h5_stats"
run "normalize alone" "$B/examples/normalize"
run "normalize -np 4" "$MPIRUN" -np 4 "$B/examples/normalize"
run "heat2d alone" "$B/examples/heat2d"
run "heat2d -np 3" "$MPIRUN" -np 3 "$B/examples/heat2d"
run "matmul alone" "$B/examples/matmul"
run "matmul -np 4" "$MPIRUN" -np 4 "$B/examples/matmul"
run "dagr demo graph alone" "$B/dagr" demo graph
run "dagr demo graph -np 3" "$MPIRUN" -np 3 "$B/dagr" demo graph
# The HDF5 demo at a test-sized field (the default is 256 MiB).
export DAGR_DEMO_ROWS=300 DAGR_DEMO_COLS=500
run "dagr demo alone" "$B/dagr" demo
run "dagr demo -np 3" "$MPIRUN" -np 3 -x DAGR_DEMO_ROWS -x DAGR_DEMO_COLS "$B/dagr" demo
run "dagr info -np 2" "$MPIRUN" -np 2 "$B/dagr" info
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
