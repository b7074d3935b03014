#include "classifier.h"

#include "../common.h"

namespace bifsmn::ops {

void classifier_reference(const Classifier& p, const float* x, std::size_t B, float* logits) {
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t c = 0; c < p.classes; ++c) {
      double acc[4] = {0, 0, 0, 0};
      for (std::size_t i = 0; i < p.n; ++i) {
        acc[i % 4] = acc[i % 4] + static_cast<double>(p.w[c * p.n + i]) *
                                      static_cast<double>(x[b * p.n + i]);
      }
      logits[b * p.classes + c] = static_cast<float>(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                                                     static_cast<double>(p.b[c]));
    }
  }
}

namespace {

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

// CB classes at once: each class keeps its four double accumulators (lane l: i % 4 == l, in
// index order) in one vector, and the CB chains are independent, so the adds no longer wait on
// each other's latency (one class at a time was latency-bound). W is float (converted per use)
// or double (the weights widened once at load: exact, and the per-element conversion had made
// this loop bound by its conversions: 1.86 -> 1.00 us for 12 x 1024 in ops_bench).
template <int CB, typename W>
[[gnu::always_inline]] inline void classes_block(const W* __restrict__ w,
                                                 const float* __restrict__ xb, std::size_t n,
                                                 const float* __restrict__ bias,
                                                 float* __restrict__ out) {
  v4d acc[CB];
  for (int c = 0; c < CB; ++c) acc[c] = v4d{};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    v4f xf;
    __builtin_memcpy(&xf, xb + i, sizeof xf);
    const v4d xd = __builtin_convertvector(xf, v4d);
    for (int c = 0; c < CB; ++c) {
      if constexpr (sizeof(W) == sizeof(double)) {
        v4d wd;
        __builtin_memcpy(&wd, w + c * n + i, sizeof wd);
        acc[c] = acc[c] + wd * xd;
      } else {
        v4f wf;
        __builtin_memcpy(&wf, w + c * n + i, sizeof wf);
        acc[c] = acc[c] + __builtin_convertvector(wf, v4d) * xd;
      }
    }
  }
  for (int c = 0; c < CB; ++c) {
    double a[4];
    __builtin_memcpy(a, &acc[c], sizeof a);
    for (std::size_t j = i; j < n; ++j) {
      a[j & 3] += static_cast<double>(w[c * n + j]) * static_cast<double>(xb[j]);
    }
    out[c] = static_cast<float>(((a[0] + a[1]) + (a[2] + a[3])) + static_cast<double>(bias[c]));
  }
}

template <typename W>
[[gnu::always_inline]] inline void classes_all(const W* w, const float* b, std::size_t classes,
                                               std::size_t n, const float* xb, float* out) {
  std::size_t c = 0;
  for (; c + 4 <= classes; c += 4) classes_block<4>(w + c * n, xb, n, b + c, out + c);
  for (; c < classes; ++c) classes_block<1>(w + c * n, xb, n, b + c, out + c);
}

BIFSMN_CLONES
void classifier_clip(const float* w, const float* b, std::size_t classes, std::size_t n,
                     const float* xb, float* out) {
  classes_all(w, b, classes, n, xb, out);
}

BIFSMN_CLONES
void classifier_clip(const double* w, const float* b, std::size_t classes, std::size_t n,
                     const float* xb, float* out) {
  classes_all(w, b, classes, n, xb, out);
}

}  // namespace

void classifier_exact(const Classifier& p, const float* x, std::size_t B, float* logits) {
  for (std::size_t b = 0; b < B; ++b) {
    if (p.wd) {
      classifier_clip(p.wd, p.b, p.classes, p.n, x + b * p.n, logits + b * p.classes);
    } else {
      classifier_clip(p.w, p.b, p.classes, p.n, x + b * p.n, logits + b * p.classes);
    }
  }
}

}  // namespace bifsmn::ops
