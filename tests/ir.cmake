ptq_add_test(ir_test
  unit/ir/onnx_io_test.cpp
  unit/ir/graph_test.cpp
  unit/ir/tensor_test.cpp
  unit/ir/shape_test.cpp
  unit/ir/buffer_pool_test.cpp
  unit/ir/value_info_repair_test.cpp)
