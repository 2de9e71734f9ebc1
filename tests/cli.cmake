ptq_add_test(cli_test e2e/cli_test.cpp e2e/eval_test.cpp e2e/quantize_test.cpp e2e/four_bit_test.cpp
  e2e/adaround_cli_test.cpp e2e/transformer_cli_test.cpp e2e/equalize_cli_test.cpp
  e2e/control_flow_cli_test.cpp e2e/weight_only_cli_test.cpp e2e/reports_cli_test.cpp e2e/target_cli_test.cpp
  e2e/shapes_cli_test.cpp e2e/external_data_cli_test.cpp)
add_dependencies(cli_test quantize)
ptq_add_test(run_test e2e/run_test.cpp)
add_dependencies(run_test quantize)
# --html in a real browser: headless Chromium (Debian's chromium, installed by tools/run_tests.sh; the
# browser checks skip when it is absent); the screenshot is decoded with stb_image (libstb-dev).
ptq_add_test(html_report_test e2e/html_report_test.cpp)
target_include_directories(html_report_test PRIVATE ${PTQ_STB_INCLUDE_DIR})
target_link_libraries(html_report_test PRIVATE ${PTQ_STB_LIBRARY})
add_dependencies(html_report_test quantize)
