#!/usr/bin/env bash
# array_compute.sh: the matmul, map_blocks and map_overlap checks (tests/integration/array_compute) alone and under mpirun with 1, 3 and 4 ranks.
prog_name=array_compute
# shellcheck source=tests/integration/run_prog.sh
. "$(dirname "$0")/run_prog.sh"
