# Cross toolchain for 32-bit ARM Linux, hard float, with clang++ (Debian clang, using the headers
# and libraries of Debian's g++-arm-linux-gnueabihf); binaries run under qemu-user. The same
# baseline as the GCC build (ARMv7-A, VFPv3-D16, Debian armhf's): clang compiles NEON intrinsics
# only in a file built for NEON, so CMakeLists.txt compiles the NEON kernel's file alone with
# -mfpu=neon, and dispatch offers it where the CPU reports NEON.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_CXX_COMPILER_TARGET arm-linux-gnueabihf)
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard")
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /usr/arm-linux-gnueabihf)
