// SPDX-License-Identifier: Apache-2.0
#include "ptq/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

namespace ptq {
namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto lg = std::make_shared<spdlog::logger>("ptq", sink);
    lg->set_pattern("%^%l%$: %v");
    lg->set_level(spdlog::level::info);
    return lg;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(log::Level level) {
  switch (level) {
    case log::Level::Debug: return spdlog::level::debug;
    case log::Level::Info: return spdlog::level::info;
    case log::Level::Warn: return spdlog::level::warn;
    case log::Level::Error: return spdlog::level::err;
    case log::Level::Off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

log::Level current_level = log::Level::Info;

}  // namespace

namespace log {
void set_level(Level level) {
  current_level = level;
  logger().set_level(to_spdlog(level));
}
Level level() { return current_level; }
bool enabled(Level lv) { return static_cast<int>(lv) >= static_cast<int>(current_level); }
void write(Level lv, const std::string& message) { logger().log(to_spdlog(lv), message); }

bool write_once(Level lv, const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> written;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!written.insert(message).second) return false;
  }
  write(lv, message);
  return true;
}
}  // namespace log

namespace detail {
void check_failed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "internal error: %s:%d: check failed: %s\n", file, line, cond);
  std::abort();
}
}  // namespace detail

}  // namespace ptq
