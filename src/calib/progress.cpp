// SPDX-License-Identifier: Apache-2.0
// Progress (see progress.h).
#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "ptq/util/log.h"

namespace ptq::calib {
namespace {
constexpr double kRedrawSeconds = 0.2;
}

Progress::Progress(std::string label, size_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && isatty(fileno(stderr)) && log::enabled(log::Level::Info)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (drawn_) std::fputc('\n', stderr);
}

void Progress::update(size_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && std::chrono::duration<double>(now - last_).count() < kRedrawSeconds) return;
  last_ = now;
  draw(done);
}

void Progress::draw(size_t done) {
  double elapsed = std::chrono::duration<double>(last_ - start_).count();
  double rate = elapsed > 0.0 ? static_cast<double>(done) / elapsed : 0.0;
  long eta = rate > 0.0 ? static_cast<long>(static_cast<double>(total_ - done) / rate + 0.5) : 0;
  std::fprintf(stderr, "\r%s  %zu/%zu  %.1f samples/s  ETA %ld:%02ld ", label_.c_str(), done, total_, rate, eta / 60,
               eta % 60);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace ptq::calib
