#!/bin/sh
# Installs the Debian packages the build (or the tests, or make fuzz) need, only when missing.
# As root: apt-get update once, then one non-interactive install. Otherwise: print the
# exact command and fail.
set -e
build_pkgs="gcc make pkg-config libc6-dev libsdl2-dev libglew-dev libegl-dev libgl-dev \
libgl1-mesa-dri libegl-mesa0 libopenblas-dev libdnnl-dev libcglm-dev libstb-dev fonts-dejavu-core"
test_pkgs="python3-numpy python3-torch xvfb xauth"
fuzz_pkgs="clang libclang-rt-dev"
# Optional: MPI (data-parallel train, gen and bench across ranks). Installed with the
# rest as root; otherwise a note, and the build is a single-process one.
mpi_pkgs="libopenmpi-dev openmpi-bin"

case "${1:-build}" in
  build) want="$build_pkgs" ;;
  test) want="$build_pkgs $test_pkgs" ;;
  fuzz) want="$build_pkgs $fuzz_pkgs" ;;
  *) echo "usage: deps.sh build|test|fuzz" >&2; exit 2 ;;
esac

absent() { # packages of $@ not installed
  out=""
  for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
      *"install ok installed"*) ;;
      *) out="$out $p" ;;
    esac
  done
  echo "$out"
}
# shellcheck disable=SC2086
missing=$(absent $want)
# shellcheck disable=SC2086
missing_mpi=$(absent $mpi_pkgs)
if [ -n "$missing_mpi" ] && [ "$(id -u)" != 0 ]; then
  echo "seqjepa: note: without$missing_mpi the build has no MPI (one process per run); as root: apt-get install -y$missing_mpi" >&2
  missing_mpi=""
fi
missing="$missing$missing_mpi"
[ -z "$(echo $missing)" ] && exit 0

line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "seqjepa: missing Debian packages:$missing" >&2
  echo "install them as root with:  apt-get update && $line" >&2
  exit 1
fi
echo "seqjepa: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
