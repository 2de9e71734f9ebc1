# SPDX-License-Identifier: Apache-2.0
# Every dependency comes from a Debian 12 package; a missing one fails configure naming the package.

macro(ptq_require found_var package)
  if(NOT ${found_var})
    message(FATAL_ERROR "ptq: ${package} not found. Install it with: apt-get install -y ${package}")
  endif()
endmacro()

# Protobuf must be found before ONNX: ONNX's config refers to protobuf::libprotobuf.
if(NOT TARGET protobuf::libprotobuf)
  find_package(Protobuf QUIET)
  ptq_require(Protobuf_FOUND "libprotobuf-dev protobuf-compiler")
endif()

if(NOT TARGET onnx_proto)
  find_package(ONNX QUIET CONFIG)
  ptq_require(ONNX_FOUND libonnx-dev)
endif()

if(NOT TARGET Eigen3::Eigen)
  find_package(Eigen3 3.3 QUIET NO_MODULE)
  ptq_require(Eigen3_FOUND libeigen3-dev)
endif()

if(NOT TARGET spdlog::spdlog)
  find_package(spdlog QUIET CONFIG)
  ptq_require(spdlog_FOUND libspdlog-dev)
endif()

if(NOT TARGET CLI11::CLI11)
  find_package(CLI11 QUIET CONFIG)
  ptq_require(CLI11_FOUND libcli11-dev)
endif()

if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3 QUIET CONFIG)
  ptq_require(nlohmann_json_FOUND nlohmann-json3-dev)
endif()

find_package(Threads REQUIRED)

if(PTQ_BUILD_TESTS AND NOT TARGET GTest::gtest_main)
  find_package(GTest QUIET)
  ptq_require(GTest_FOUND libgtest-dev)
endif()

# Data readers: .npz through libzip, images through stb_image / stb_image_resize.
find_package(PkgConfig QUIET)
ptq_require(PKG_CONFIG_FOUND pkg-config)
if(NOT TARGET PkgConfig::libzip)
  pkg_check_modules(libzip QUIET IMPORTED_TARGET libzip)
  ptq_require(libzip_FOUND libzip-dev)
endif()
find_path(PTQ_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
find_library(PTQ_STB_LIBRARY stb)
if(NOT PTQ_STB_INCLUDE_DIR OR NOT PTQ_STB_LIBRARY)
  ptq_require(FALSE libstb-dev)
endif()

# oneDNN (libdnnl-dev): blocked-layout convolution kernels (src/exec/kernels/dnnl_conv.cpp). The Eigen and
# direct kernels remain the portable path: -DPTQ_WITH_DNNL=OFF builds without it.
option(PTQ_WITH_DNNL "Run 2-D convolutions through oneDNN (libdnnl-dev)" ON)
if(PTQ_WITH_DNNL)
  find_path(PTQ_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(PTQ_DNNL_LIBRARY dnnl)
  if(NOT PTQ_DNNL_INCLUDE_DIR OR NOT PTQ_DNNL_LIBRARY)
    ptq_require(FALSE libdnnl-dev)
  endif()
endif()
