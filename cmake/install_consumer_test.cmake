# ctest script (cmake -P): install this build into a scratch prefix, then configure, build and
# run the separate project cpp/tests/consumer against it through find_package(tapegrad).
# Inputs: TAPEGRAD_BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, CONFIG, GENERATOR, CXX_COMPILER,
# EXPECTED_VERSION (the version find_package must accept exactly); EMULATOR ('|'-joined command
# that runs a cross-built binary, e.g. qemu-aarch64|-L|/usr/aarch64-linux-gnu; empty natively).
foreach(var TAPEGRAD_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER EXPECTED_VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_consumer_test.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
# Start from nothing: a stale prefix could hide a file the install no longer provides.
file(REMOVE_RECURSE ${WORK_DIR})

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${step} failed (${rc}): ${ARGN}")
  endif()
endfunction()

run(install ${CMAKE_COMMAND} --install ${TAPEGRAD_BUILD_DIR} --prefix ${prefix} --config ${CONFIG})
# Only the scratch prefix may satisfy find_package: no package registries, no system copy.
run(configure ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_BUILD_TYPE=${CONFIG}
    -DCMAKE_PREFIX_PATH=${prefix}
    -DTAPEGRAD_EXPECTED_VERSION=${EXPECTED_VERSION}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON
    -DTAPEGRAD_CONSUMER_WERROR=ON)

# The package found must be the one just installed.
file(STRINGS ${build}/CMakeCache.txt found REGEX "^tapegrad_DIR:")
string(REGEX REPLACE "^tapegrad_DIR:[A-Z]+=" "" found "${found}")
get_filename_component(found "${found}" REALPATH)
get_filename_component(real_prefix "${prefix}" REALPATH)
string(FIND "${found}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "install_consumer: tapegrad was found in ${found}, not under ${prefix}")
endif()

run(build ${CMAKE_COMMAND} --build ${build} --config ${CONFIG})
find_program(consumer tapegrad_consumer PATHS ${build} ${build}/${CONFIG} NO_DEFAULT_PATH REQUIRED)
string(REPLACE "|" ";" emulator "${EMULATOR}")
run(run ${emulator} ${consumer})
