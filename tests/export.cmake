# SPDX-License-Identifier: Apache-2.0
ptq_add_test(export_test
  unit/export/table_export_test.cpp)
