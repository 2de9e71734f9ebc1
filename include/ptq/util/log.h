// SPDX-License-Identifier: Apache-2.0
// Logging on stderr. spdlog stays behind this header; messages are built by concatenating arguments.
#pragma once

#include <string>

#include "ptq/util/error.h"

namespace ptq::log {

enum class Level { Debug, Info, Warn, Error, Off };

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, const std::string& message);
// Writes the message unless this process has written the same one before (true when written): for
// warnings that every attempt of a search would repeat word for word.
bool write_once(Level level, const std::string& message);

template <class... Args>
void debug(Args&&... args) {
  if (enabled(Level::Debug)) write(Level::Debug, str_cat(std::forward<Args>(args)...));
}
template <class... Args>
void info(Args&&... args) {
  if (enabled(Level::Info)) write(Level::Info, str_cat(std::forward<Args>(args)...));
}
template <class... Args>
void warn(Args&&... args) {
  if (enabled(Level::Warn)) write(Level::Warn, str_cat(std::forward<Args>(args)...));
}
template <class... Args>
void warn_once(Args&&... args) {
  if (enabled(Level::Warn)) write_once(Level::Warn, str_cat(std::forward<Args>(args)...));
}
template <class... Args>
void error(Args&&... args) {
  if (enabled(Level::Error)) write(Level::Error, str_cat(std::forward<Args>(args)...));
}

}  // namespace ptq::log
