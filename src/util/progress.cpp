// SPDX-License-Identifier: Apache-2.0
#include "ptq/util/progress.h"

#include <unistd.h>

#include <cstdio>

#include "ptq/util/log.h"

namespace ptq {

Progress::Progress(std::string label, size_t total, bool enabled, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled && log::enabled(log::Level::Info) && total > 1),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && tty_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(size_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(done, false);
  } else if (done == total_ || now - last_draw_ >= std::chrono::seconds(10)) {
    // Logs (CI): a line every 10 s of work, and one at the end.
    last_draw_ = now;
    draw(done, true);
  }
}

void Progress::draw(size_t done, bool own_line) {
  double t = elapsed_seconds();
  double rate = t > 0 ? static_cast<double>(done) / t : 0.0;
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  const int width = 24;
  int filled = total_ == 0 ? width : static_cast<int>(static_cast<double>(done) / static_cast<double>(total_) * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '.');
  std::fprintf(stderr, "%s%s [%s] %zu/%zu  %.1f %s/s  ETA %.0fs%s", own_line ? "" : "\r", label_.c_str(), bar.c_str(), done,
               total_, rate, unit_.c_str(), eta, own_line ? "\n" : "\x1b[K");
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  if (tty_) std::fputc('\n', stderr);
  double t = elapsed_seconds();
  log::info(label_, ": ", done_, " ", unit_, " in ", static_cast<int>(t * 10) / 10.0, " s (",
            static_cast<int>(t > 0 ? done_ / t * 10 : 0) / 10.0, " ", unit_, "/s)");
}

}  // namespace ptq
