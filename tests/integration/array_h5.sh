#!/usr/bin/env bash
# array_h5.sh: the HDF5 array checks (tests/integration/array_h5) alone and under mpirun with 1, 3 and 4 ranks.
prog_name=array_h5
# shellcheck source=tests/integration/run_prog.sh
. "$(dirname "$0")/run_prog.sh"
