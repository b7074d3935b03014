// Classifier of binary models (full precision, docs/binary-arithmetic.md): float64 dot products
// rounded once to float32: acc_l = sum of w[i] * x[i] (as doubles) over i % 4 == l in index
// order, logit = float(((acc_0 + acc_1) + (acc_2 + acc_3)) + b). (FP models use the kernel's
// float GEMM instead.)
#pragma once

#include <cstddef>

namespace bifsmn::ops {

struct Classifier {
  std::size_t classes = 0, n = 0;
  const float* w = nullptr;  // classes x n
  const float* b = nullptr;  // classes
  // Optional: w widened to double (same values; float -> double is exact). The optimized
  // version then reads it instead of converting every weight on every call.
  const double* wd = nullptr;
};

// Plain reference: one element at a time.
void classifier_reference(const Classifier& p, const float* x, std::size_t batch, float* logits);
// Optimized (bit-identical): four interleaved double accumulators per class; on CPUs with AVX2
// and FMA one fused multiply-add per weight (exact: a float32 product is exact in double).
void classifier_exact(const Classifier& p, const float* x, std::size_t batch, float* logits);

}  // namespace bifsmn::ops
