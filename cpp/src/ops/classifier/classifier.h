// Classifier of binary models (full precision, docs/binary-arithmetic.md): float64 dot products
// rounded once to float32: acc_l = sum of w[i] * x[i] (as doubles) over i % 4 == l in index
// order, logit = float(((acc_0 + acc_1) + (acc_2 + acc_3)) + b). (FP models use the kernel's
// float GEMM instead.)
#pragma once

#include <cstddef>
#include <vector>

#include "../common.h"

namespace bifsmn::ops {

struct Classifier {
  std::size_t classes = 0, n = 0;
  const float* w = nullptr;  // classes x n
  const float* b = nullptr;  // classes
  // Optional: w widened to double (same values; float -> double is exact). The optimized
  // version then reads it instead of converting every weight on every call.
  const double* wd = nullptr;
  // Optional: w in the FMA version's order (classifier_interleave; same values). Its blocks of
  // up to 12 classes read their weights as one sequential stream: read row by row, the 12 rows
  // of a 12 x 1024 classifier lie 8 KiB apart (4 KiB as floats), the same L1 sets, and evicted
  // each other (`ops_bench` 1.92 -> 0.53 us on an AMD Zen 4; docs/results/engine-s50).
  const float* wi = nullptr;
};

// w (classes x n) reordered for classifier_exact's FMA version: class blocks of 12, 8, 4 and
// 1 (in that order, as many of each as fit), each block stored as [n / 4][block][4] (four
// consecutive elements of each class in turn), then each class's last n % 4 elements.
Buffer<float> classifier_interleave(const float* w, std::size_t classes, std::size_t n);

// Plain reference: one element at a time.
void classifier_reference(const Classifier& p, const float* x, std::size_t batch, float* logits);
// Optimized (bit-identical): four interleaved double accumulators per class; on CPUs with AVX2
// and FMA, given wi, one fused multiply-add per weight (exact: a float32 product is exact in
// double); else the double version on wd (or w).
void classifier_exact(const Classifier& p, const float* x, std::size_t batch, float* logits);

}  // namespace bifsmn::ops
