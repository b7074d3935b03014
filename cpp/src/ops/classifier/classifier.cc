#include "classifier.h"

#include "../common.h"
#include "../simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BIFSMN_CLASSIFIER_FMA 1
#else
#define BIFSMN_CLASSIFIER_FMA 0
#endif

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
      a[j & 3] += w[c * n + j] * static_cast<double>(xb[j]);
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

[[gnu::always_inline]] inline void classifier_clip_body(const float* w, const float* b,
                                                        std::size_t classes, std::size_t n,
                                                        const float* xb, float* out) {
  classes_all(w, b, classes, n, xb, out);
}
BIFSMN_ISA_CLONES(void, classifier_clip,
                  (const float* w, const float* b, std::size_t classes, std::size_t n,
                   const float* xb, float* out),
                  (w, b, classes, n, xb, out))

[[gnu::always_inline]] inline void classifier_clip_body(const double* w, const float* b,
                                                        std::size_t classes, std::size_t n,
                                                        const float* xb, float* out) {
  classes_all(w, b, classes, n, xb, out);
}
BIFSMN_ISA_CLONES(void, classifier_clip,
                  (const double* w, const float* b, std::size_t classes, std::size_t n,
                   const float* xb, float* out),
                  (w, b, classes, n, xb, out))

#if BIFSMN_CLASSIFIER_FMA
// The same sums with one fused multiply-add per element: w and x are float32 values, so their
// product as doubles is exact (24 + 24 significant bits < 53, and no float32 product leaves the
// double range), and fma(w, x, acc) rounds once, to the double nearest acc + w * x, which is
// what acc + w * x rounds to: the same bits (test_ops compares with the reference). Up to 12
// classes per pass: 12 independent accumulator chains keep both FMA ports busy, where blocks
// of 4 classes waited on the adds' latency (and the separate multiply doubled the work). The
// weights come in classifier_interleave's layout, so that a block of classes is read as one
// stream (float weights widened per use: exact); row by row, the 12 rows shared L1 sets.
template <int CB>
__attribute__((target("avx2,fma"), always_inline)) inline void classes_block_fma_i(
    const float* __restrict__ w, const float* __restrict__ xb, std::size_t n,
    const float* __restrict__ bias, float* __restrict__ out) {
  __m256d acc[CB];
  for (int c = 0; c < CB; ++c) acc[c] = _mm256_setzero_pd();
  const std::size_t n4 = n - n % 4;
  for (std::size_t i = 0; i < n4; i += 4) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(xb + i));
    const float* wi = w + i * CB;
    for (int c = 0; c < CB; ++c) {
      acc[c] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(wi + 4 * c)), xd, acc[c]);
    }
  }
  const float* tail = w + n4 * CB;
  for (int c = 0; c < CB; ++c) {
    double a[4];
    _mm256_storeu_pd(a, acc[c]);
    for (std::size_t j = n4; j < n; ++j) {
      a[j & 3] += static_cast<double>(tail[c * (n - n4) + (j - n4)]) * static_cast<double>(xb[j]);
    }
    out[c] = static_cast<float>(((a[0] + a[1]) + (a[2] + a[3])) + static_cast<double>(bias[c]));
  }
}

__attribute__((target("avx2,fma"))) void classifier_clip_fma_i(const float* w, const float* b,
                                                               std::size_t classes,
                                                               std::size_t n, const float* xb,
                                                               float* out) {
  std::size_t c = 0;
  for (; c + 12 <= classes; c += 12) classes_block_fma_i<12>(w + c * n, xb, n, b + c, out + c);
  for (; c + 8 <= classes; c += 8) classes_block_fma_i<8>(w + c * n, xb, n, b + c, out + c);
  for (; c + 4 <= classes; c += 4) classes_block_fma_i<4>(w + c * n, xb, n, b + c, out + c);
  for (; c < classes; ++c) classes_block_fma_i<1>(w + c * n, xb, n, b + c, out + c);
}

// Whether the FMA version runs: the CPU has AVX2 and FMA, and the ops are not held to a
// narrower width (test_ops runs width 4 too, so the plain double version stays tested).
bool use_fma() {
  static const bool cpu = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return cpu && simd::width() >= 8;
}
#endif

}  // namespace

Buffer<float> classifier_interleave(const float* w, std::size_t classes, std::size_t n) {
  Buffer<float> out(classes * n);
  const std::size_t n4 = n - n % 4;
  std::size_t c0 = 0;
  for (const std::size_t cb : {std::size_t{12}, std::size_t{8}, std::size_t{4}, std::size_t{1}}) {
    for (; c0 + cb <= classes; c0 += cb) {
      float* block = out.data() + c0 * n;  // a block of cb classes holds cb * n values
      for (std::size_t c = 0; c < cb; ++c) {
        const float* row = w + (c0 + c) * n;
        for (std::size_t i = 0; i < n4; ++i) block[(i / 4) * cb * 4 + c * 4 + i % 4] = row[i];
        for (std::size_t j = n4; j < n; ++j) block[n4 * cb + c * (n - n4) + (j - n4)] = row[j];
      }
    }
  }
  return out;
}

void classifier_exact(const Classifier& p, const float* x, std::size_t B, float* logits) {
  for (std::size_t b = 0; b < B; ++b) {
#if BIFSMN_CLASSIFIER_FMA
    if (p.wi && use_fma()) {
      classifier_clip_fma_i(p.wi, p.b, p.classes, p.n, x + b * p.n, logits + b * p.classes);
      continue;
    }
#endif
    if (p.wd) {
      classifier_clip(p.wd, p.b, p.classes, p.n, x + b * p.n, logits + b * p.classes);
    } else {
      classifier_clip(p.w, p.b, p.classes, p.n, x + b * p.n, logits + b * p.classes);
    }
  }
}

}  // namespace bifsmn::ops
