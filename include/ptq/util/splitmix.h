// SPDX-License-Identifier: Apache-2.0
// splitmix64: a small generator whose output is fixed by its seed on every platform (what the seeded
// draws of AdaRound, the column sampling and the search's dither use, so that results do not depend on
// the standard library or the thread count).
#pragma once

#include <cstdint>

namespace ptq {

// The next number of the stream whose state is `state` (advanced).
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace ptq
