# SPDX-License-Identifier: Apache-2.0
add_library(ptq_warnings INTERFACE)
target_compile_options(ptq_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
