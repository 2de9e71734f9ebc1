# SPDX-License-Identifier: Apache-2.0
add_library(ptq_warnings INTERFACE)
# Aggregates are brace-initialized with their leading members; the rest keep their defaults.
target_compile_options(ptq_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
