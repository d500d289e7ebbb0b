# Sourced by tools/device_*.sh on the lent GPU machine: builds facert into a temporary folder on PYTHONPATH.
# The image's default compiler links libstdc++ statically, and such a _core crashes once numpy loads the shared
# one (../shared/DESIGN.md): build with the system gcc.
PKG=$(mktemp -d)
CC=/usr/bin/gcc CXX=/usr/bin/g++ CMAKE_BUILD_PARALLEL_LEVEL=16 \
  python3 -m pip install -q --no-build-isolation --no-deps --target "$PKG" . 2>&1 | tail -5
export PYTHONPATH="$PKG"
