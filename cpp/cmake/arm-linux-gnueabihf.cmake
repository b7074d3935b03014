# Cross toolchain for 32-bit ARM Linux, hard float (armhf: Raspberry Pi OS 32-bit, the Pi 2/3/4's
# default until 2023; Debian g++-arm-linux-gnueabihf); binaries run under qemu-user (Debian
# qemu-user-static). ARMv7-A with VFPv3-D16 is Debian armhf's baseline: the build is not for NEON
# as a whole; GCC compiles the NEON binary kernel for NEON per function, and dispatch offers it
# where the CPU reports NEON (the other ops run their scalar forms).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /usr/arm-linux-gnueabihf)
