#!/usr/bin/env bash
# eval_cli.sh: `dagr eval` checked against NumPy (eval_cli.py), alone and under mpirun -np 3 and 4.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
S="${DAGR_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
MPIRUN="${MPIRUN:-mpirun}"
prog="$B/dagr"
script="$S/tests/integration/eval_cli.py"
# Debian's python3 carries numpy and h5py (configure's PYTHON3_SYS, exported by the wrapper).
PY=""
for p in "${PYTHON3_SYS:-}" /usr/bin/python3 "$(command -v python3 2>/dev/null || true)"; do
  if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import numpy, h5py' 2>/dev/null; then
    PY="$p"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "FAIL eval_cli: no python3 with numpy and h5py (apt-get install python3-numpy python3-h5py)"
  echo "0 passed, 1 failed"
  exit 1
fi
if [ ! -x "$prog" ]; then
  echo "FAIL eval_cli: $prog is not built"
  echo "0 passed, 1 failed"
  exit 1
fi
# Under the wrapper's own 600 s bound, so that a hang is reported here first.
timeout --kill-after=10 570 "$PY" "$script" --dagr "$prog" --mpirun "$MPIRUN" --np 3 --np 4
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "FAIL eval_cli: timed out after 570 s"
  echo "0 passed, 1 failed"
fi
exit "$rc"
