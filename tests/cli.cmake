ptq_add_test(cli_test e2e/cli_test.cpp e2e/eval_test.cpp)
add_dependencies(cli_test quantize)
