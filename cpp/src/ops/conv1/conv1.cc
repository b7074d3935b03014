#include "conv1.h"

#include <algorithm>

#include "../common.h"
#include "../simd.h"

namespace bifsmn::ops {

namespace {

// CB output channels of output row i in the deployed order: for every position j,
// acc = w[0]*x(0, j), acc = acc + w[t]*x(t, j) for taps t = (u, v) in row-major order, then
// act(acc + bias), where x(t, j) = padded image (2i + u, 2j + v) = split row 2i + u, parity
// v % 2, entry j + v / 2 (contiguous in j). Only the positions are vectorized, so every ISA
// width computes the same floats (-ffp-contract=off); CB channels per pass load each input
// value once for all of them. V: one vector of positions (16 / 8 / 4 floats by ISA, simd.h).
// Always inlined into the ISA versions below.
template <int CB, class V>
[[gnu::always_inline]] inline void conv1_row(const float* __restrict__ w,
                                             const float* __restrict__ split, std::size_t half,
                                             int k, int i, int w1, const float* __restrict__ bias,
                                             float slope, std::size_t p1,
                                             float* __restrict__ y) {
  const std::size_t k1 = static_cast<std::size_t>(k) * k, stride = 2 * half;
  const float* row0 = split + static_cast<std::size_t>(2 * i) * stride;
  constexpr int L = static_cast<int>(simd::lanes<V>);
  int j0 = 0;
  for (; j0 + L <= w1; j0 += L) {  // L positions per vector, CB accumulators in registers
    V acc[CB];
    {
      V x;
      __builtin_memcpy(&x, row0 + j0, sizeof x);
      for (int c = 0; c < CB; ++c) acc[c] = w[c * k1] * x;
    }
    std::size_t t = 0;
    for (int u = 0; u < k; ++u) {
      const float* srow = row0 + static_cast<std::size_t>(u) * stride + j0;
      for (int v = 0; v < k; ++v, ++t) {
        if (t == 0) continue;
        V x;
        __builtin_memcpy(&x, srow + (v % 2) * half + v / 2, sizeof x);
        for (int c = 0; c < CB; ++c) acc[c] = acc[c] + w[c * k1 + t] * x;
      }
    }
    for (int c = 0; c < CB; ++c) {
      const V z = acc[c] + bias[c];
      const V neg = slope * z;
      const V out = z >= 0.0f ? z : neg;
      __builtin_memcpy(y + c * p1 + static_cast<std::size_t>(i) * w1 + j0, &out, sizeof out);
    }
  }
  for (; j0 < w1; ++j0) {  // the rest one position at a time, same operations
    for (int c = 0; c < CB; ++c) {
      float acc = w[c * k1] * row0[j0];
      std::size_t t = 0;
      for (int u = 0; u < k; ++u) {
        const float* srow = row0 + static_cast<std::size_t>(u) * stride + j0;
        for (int v = 0; v < k; ++v, ++t) {
          if (t == 0) continue;
          acc = acc + w[c * k1 + t] * srow[(v % 2) * half + v / 2];
        }
      }
      const float z = acc + bias[c];
      const float neg = slope * z;
      y[c * p1 + static_cast<std::size_t>(i) * w1 + j0] = z >= 0.0f ? z : neg;
    }
  }
}

constexpr int kCB = 8;

// All c1 output channels of every output row: blocks of kCB, then one at a time.
template <class V>
[[gnu::always_inline]] inline void conv1_channels_t(const float* __restrict__ w,
                                                    const float* __restrict__ split,
                                                    std::size_t half, int k, int h1, int w1,
                                                    int c1, const float* __restrict__ bias,
                                                    float slope, float* __restrict__ y) {
  const std::size_t k1 = static_cast<std::size_t>(k) * k;
  const std::size_t p1 = static_cast<std::size_t>(h1) * w1;
  for (int i = 0; i < h1; ++i) {
    int ch = 0;
    for (; ch + kCB <= c1; ch += kCB) {
      conv1_row<kCB, V>(w + ch * k1, split, half, k, i, w1, bias + ch, slope, p1, y + ch * p1);
    }
    for (; ch < c1; ++ch) {
      conv1_row<1, V>(w + ch * k1, split, half, k, i, w1, bias + ch, slope, p1, y + ch * p1);
    }
  }
}

#define BIFSMN_CONV1_ARGS                                                                    \
  const float *__restrict__ w, const float *__restrict__ split, std::size_t half, int k, int h1, \
      int w1, int c1, const float *__restrict__ bias, float slope, float *__restrict__ y
#define BIFSMN_CONV1_CALL(V) conv1_channels_t<V>(w, split, half, k, h1, w1, c1, bias, slope, y)
BIFSMN_SIMD_VARIANTS(conv1_channels, (BIFSMN_CONV1_ARGS), BIFSMN_CONV1_CALL, simd::f32x16,
                     simd::f32x8, simd::f32x4)
#undef BIFSMN_CONV1_ARGS
#undef BIFSMN_CONV1_CALL

inline float pixel(const Conv1& p, const float* img, int ii, int jj) {
  return (ii >= 0 && ii < p.H && jj >= 0 && jj < p.W) ? img[ii * p.W + jj] : 0.0f;
}

}  // namespace

void conv1_reference(const Conv1& p, const float* img, float* y) {
  const int k = p.k, pad = p.pad();
  for (int ch = 0; ch < p.c1; ++ch) {
    const float* w = p.w + static_cast<std::size_t>(ch) * k * k;
    for (int i = 0; i < p.h1(); ++i) {
      for (int j = 0; j < p.w1(); ++j) {
        float acc = 0.0f;
        for (int u = 0; u < k; ++u) {
          for (int v = 0; v < k; ++v) {
            const float prod = w[u * k + v] * pixel(p, img, 2 * i - pad + u, 2 * j - pad + v);
            acc = (u == 0 && v == 0) ? prod : acc + prod;
          }
        }
        y[(static_cast<std::size_t>(ch) * p.h1() + i) * p.w1() + j] = act(acc + p.b[ch], p.slope);
      }
    }
  }
}

namespace {
// out[s] = row[2 s + parity - pad] for the s whose column lies in 0..w-1 (the others untouched).
void split_parity(const float* __restrict__ row, int w, int pad, int parity, std::size_t half,
                  float* __restrict__ out) {
  const std::ptrdiff_t first = pad - parity;  // entry s reads column 2 s - first
  const std::ptrdiff_t top = w - 1 + first;     // the last column, w - 1, is entry top / 2
  const std::size_t lo = first > 0 ? static_cast<std::size_t>((first + 1) / 2) : 0;
  std::size_t hi = top < 0 ? 0 : static_cast<std::size_t>(top / 2 + 1);
  if (hi > half) hi = half;
  for (std::size_t s = lo; s < hi; ++s) out[s] = row[static_cast<std::ptrdiff_t>(2 * s) - first];
}
}  // namespace

void conv1_deployed(const Conv1& p, const float* img, float* col, float* y, bool col_kept) {
  // The zero-padded image (padded pixel (r, c) = image (r - pad, c - pad), 0 outside), each row
  // stored as its even columns then its odd columns (`half` entries each): output (i, j)'s tap
  // (u, v) reads padded (2i + u, 2j + v) = split row 2i + u, parity v % 2, entry j + v / 2.
  const int k = p.k, pad = p.pad(), h1 = p.h1(), w1 = p.w1();
  const std::size_t rows = p.padded_rows(), half = p.half_cols();
  for (std::size_t r = 0; r < rows; ++r) {
    float* even = col + r * 2 * half;
    float* odd = even + half;
    const int ii = static_cast<int>(r) - pad;
    if (ii < 0 || ii >= p.H) {
      if (!col_kept) std::fill(even, even + 2 * half, 0.0f);
      continue;
    }
    const float* row = img + static_cast<std::size_t>(ii) * p.W;
    // Entries whose column falls outside the image are zero; the others are plain strided
    // copies, without a range test per entry (session 51, same bits: docs/engine.md).
    if (!col_kept) std::fill(even, even + 2 * half, 0.0f);
    split_parity(row, p.W, pad, 0, half, even);
    split_parity(row, p.W, pad, 1, half, odd);
  }
  simd::pick(conv1_channels16, conv1_channels8, conv1_channels4)(p.w, col, half, k, h1, w1, p.c1,
                                                                  p.b, p.slope, y);
}

void conv1_fp(const Conv1& p, const Kernel& kern, const float* img, float* col, float* y) {
  const int k = p.k, pad = p.pad();
  const std::size_t p1 = p.positions(), k1 = p.taps(), wp = static_cast<std::size_t>(p.W + 2 * pad);
  float* padded = col + kn_packed_floats(p1, k1);
  zero_pad_planes(img, 1, p.H, p.W, pad, padded);
  // im2col as float_gemm_kn's K x N operand (K = taps, N = positions, in panels of kKnPanel
  // positions): with the weights (C1 x taps) as the GEMM's rows the output comes out
  // channel-major, as conv2 reads it.
  std::size_t pos = 0;
  for (int i = 0; i < p.h1(); ++i) {
    for (int j = 0; j < p.w1(); ++j, ++pos) {
      float* c = col + (pos / kKnPanel) * k1 * kKnPanel + pos % kKnPanel;
      const float* src = padded + static_cast<std::size_t>(2 * i) * wp + 2 * j;
      for (int uu = 0; uu < k; ++uu, src += wp) {
        for (int vv = 0; vv < k; ++vv, c += kKnPanel) *c = src[vv];
      }
    }
  }
  for (; pos % kKnPanel != 0; ++pos) {  // the last panel's missing positions: zero
    float* c = col + (pos / kKnPanel) * k1 * kKnPanel + pos % kKnPanel;
    for (std::size_t t = 0; t < k1; ++t) c[t * kKnPanel] = 0.0f;
  }
  kern.float_gemm_kn(p.w, col, nullptr, y, static_cast<std::size_t>(p.c1), p1, k1);
  for (int ch = 0; ch < p.c1; ++ch) {
    float* yc = y + ch * p1;
    for (std::size_t i = 0; i < p1; ++i) yc[i] = act(yc[i] + p.b[ch], p.slope);
  }
}

}  // namespace bifsmn::ops
