# SPDX-License-Identifier: Apache-2.0
# Sanitizer and fuzzing builds (tools/run_sanitizers.sh, tools/fuzz.sh), each in its own build directory.
#   PTQ_SANITIZE=address,undefined  every target (library, CLI, tests) built with these sanitizers; any
#                                   UBSan report aborts the test that caused it (-fno-sanitize-recover)
#   PTQ_FUZZ=ON                     clang only: the library built with libFuzzer coverage plus ASan+UBSan,
#                                   and the fuzz targets of tests/fuzz
set(PTQ_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list for every target (e.g. address,undefined)")
option(PTQ_FUZZ "Build the libFuzzer targets (clang; implies ASan+UBSan)" OFF)

if(PTQ_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ptq: PTQ_FUZZ needs clang (apt-get install -y clang); configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(PTQ_SANITIZE STREQUAL "")
    set(PTQ_SANITIZE "address,undefined")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(NOT PTQ_SANITIZE STREQUAL "")
  add_compile_options(-fsanitize=${PTQ_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${PTQ_SANITIZE})
endif()
