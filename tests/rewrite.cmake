# SPDX-License-Identifier: Apache-2.0
ptq_add_test(rewrite_test
  unit/rewrite/rewrite_helpers.cpp
  unit/rewrite/rules_test.cpp
  unit/rewrite/rewrite_test.cpp)
