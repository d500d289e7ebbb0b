# Cross-compiling to 64-bit Arm Linux on an x86-64 Debian host with Debian's g++-aarch64-linux-gnu
# (tools/build_wheels.sh). The compiler brings its own target glibc and libstdc++ (/usr/aarch64-linux-gnu);
# target-only packages (the Python headers) come from Debian arm64 .debs unpacked with dpkg -x into
# FACERT_TARGET_SYSROOT, never installed on the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# try_compile() re-reads this file in a fresh project: pass the sysroot on through the environment.
if(FACERT_TARGET_SYSROOT)
  set(ENV{FACERT_TARGET_SYSROOT} "${FACERT_TARGET_SYSROOT}")
else()
  set(FACERT_TARGET_SYSROOT "$ENV{FACERT_TARGET_SYSROOT}")
endif()

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu ${FACERT_TARGET_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # build tools (and the host Python) run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)    # pybind11's CMake config sits in the host's site-packages

# Debian keeps each architecture's pyconfig.h in usr/include/<triplet>/python3.X, included from usr/include.
if(FACERT_TARGET_SYSROOT)
  set(CMAKE_C_FLAGS_INIT "-isystem ${FACERT_TARGET_SYSROOT}/usr/include")
  set(CMAKE_CXX_FLAGS_INIT "-isystem ${FACERT_TARGET_SYSROOT}/usr/include")
endif()
