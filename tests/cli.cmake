ptq_add_test(cli_test e2e/cli_test.cpp e2e/eval_test.cpp e2e/quantize_test.cpp e2e/four_bit_test.cpp
  e2e/adaround_cli_test.cpp e2e/transformer_cli_test.cpp
  e2e/control_flow_cli_test.cpp e2e/weight_only_cli_test.cpp e2e/target_cli_test.cpp)
add_dependencies(cli_test quantize)
ptq_add_test(run_test e2e/run_test.cpp)
add_dependencies(run_test quantize)
