#!/usr/bin/env bash
# array_shape.sh: the rechunk/concatenate/stack/reshape checks (tests/integration/array_shape) alone and under mpirun with 1, 3 and 4 ranks.
prog_name=array_shape
# shellcheck source=tests/integration/run_prog.sh
. "$(dirname "$0")/run_prog.sh"
