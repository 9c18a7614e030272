#!/usr/bin/env bash
# arrays.sh: the array-collection checks (tests/integration/array_ops) alone and under mpirun with 1, 3 and 4 ranks.
prog_name=array_ops
# shellcheck source=tests/integration/run_prog.sh
. "$(dirname "$0")/run_prog.sh"
