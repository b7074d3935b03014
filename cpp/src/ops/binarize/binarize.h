// Binarizing activations: the dual-scale binarizer of bifsmnv2 and the sign of bifsmn_v1.
// The optimized versions are in quant.h (generic, with an AVX2 row version in quant_x86.cc);
// the references below are plain per-element loops of the definition in
// docs/binary-arithmetic.md ("Constants shared by Python and C++"):
//   d = v - tau0, b1 = d >= 0 ? +1 : -1, r = (v - b1) - tau1, b2 = r >= 0 ? +1 : -1,
//   s = sum8(|r|) / n.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant.h"

namespace bifsmn::ops {

// sum8, one element at a time: element i into partial sum i % 8, combined
// ((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)).
inline float sum8_reference(const float* x, std::size_t n) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t i = 0; i < n; ++i) p[i % 8] = p[i % 8] + x[i];
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// One row of k values: b1 bits -> a1, b2 bits -> a2 (bit set <=> -1, all `words` written),
// returns sum8(|r|) (not divided by k). tau0/tau1: per element.
inline float binarize_dual_reference(const float* v, const float* tau0, const float* tau1,
                                     std::size_t k, std::uint64_t* a1, std::uint64_t* a2,
                                     std::size_t words) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t w = 0; w < words; ++w) a1[w] = a2[w] = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const float d = v[i] - tau0[i];
    const float b1 = d >= 0.0f ? 1.0f : -1.0f;
    const float r = (v[i] - b1) - tau1[i];
    if (!(d >= 0.0f)) a1[i / 64] |= std::uint64_t{1} << (i % 64);
    if (!(r >= 0.0f)) a2[i / 64] |= std::uint64_t{1} << (i % 64);
    p[i % 8] = p[i % 8] + (r < 0.0f ? -r : r);
  }
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// Sign row (bifsmn_v1): bit set <=> !(v >= 0).
inline void binarize_sign_reference(const float* v, std::size_t k, std::uint64_t* a,
                                    std::size_t words) {
  for (std::size_t w = 0; w < words; ++w) a[w] = 0;
  for (std::size_t i = 0; i < k; ++i) {
    if (!(v[i] >= 0.0f)) a[i / 64] |= std::uint64_t{1} << (i % 64);
  }
}

}  // namespace bifsmn::ops
