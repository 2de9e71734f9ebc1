// SPDX-License-Identifier: Apache-2.0
// Kernel factories, grouped by the file that defines them. Each is one row of kernel_table.cpp.
#pragma once

#include "ptq/exec/kernel.h"

namespace ptq::exec {

// eltwise_unary.cpp
Kernel make_relu(const Node& node);

// eltwise_binary.cpp
Kernel make_add(const Node& node);
Kernel make_sub(const Node& node);
Kernel make_mul(const Node& node);
Kernel make_div(const Node& node);

// shape_ops.cpp
Kernel make_identity(const Node& node);
Kernel make_reshape(const Node& node);

}  // namespace ptq::exec
