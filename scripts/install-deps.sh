#!/usr/bin/env bash
# install-deps.sh: install dagr's build and test dependencies from Debian 12 packages (idempotent, as root).
set -euo pipefail

PKGS=(
  build-essential autoconf automake libtool pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libhwloc-dev hwloc
  libcunit1-dev libjansson-dev libopenblas-dev
  python3-dask python3-distributed python3-h5py python3-numpy
  # make fuzz: clang with libFuzzer (the runtime is only a Recommends of clang, hence listed)
  clang libclang-rt-14-dev
  # tests/integration/obs_report.sh renders the HTML report with headless Chromium
  chromium
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
