# Cross-compiling tapegrad for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu.
#   cmake -S . -B build-aarch64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DTAPEGRAD_BUILD_TESTS=ON
# The binaries run under qemu-user: `qemu-aarch64 -L /usr/aarch64-linux-gnu ./test_kernels`
# (CMAKE_CROSSCOMPILING_EMULATOR below lets ctest do that by itself).
# CMAKE_SYSTEM_PROCESSOR is what CMakeLists.txt tests to decide whether the x86 SIMD
# translation units are compiled: here it is not x86, so only the reference kernels are built.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TAPEGRAD_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the cross toolchain")
set(CMAKE_C_COMPILER ${TAPEGRAD_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${TAPEGRAD_CROSS_TRIPLE}-g++)

# Debian installs the target's headers and libraries under /usr/<triple>.
set(TAPEGRAD_CROSS_SYSROOT /usr/${TAPEGRAD_CROSS_TRIPLE} CACHE PATH "target libraries (for qemu -L)")
set(CMAKE_FIND_ROOT_PATH ${TAPEGRAD_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(TAPEGRAD_QEMU_AARCH64 qemu-aarch64 qemu-aarch64-static)
if(TAPEGRAD_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${TAPEGRAD_QEMU_AARCH64};-L;${TAPEGRAD_CROSS_SYSROOT})
endif()
