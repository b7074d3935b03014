#include "conv1.h"

#include <algorithm>

#include "../common.h"

namespace bifsmn::ops {

namespace {

// CB output channels in the deployed order: for every position i, acc = w[0]*col[0][i],
// acc = acc + w[t]*col[t][i] for t = 1..k1-1, then act(acc + bias). Only the positions are
// vectorized, so every ISA clone computes the same floats (-ffp-contract=off). Several channels
// per pass load each im2col value once for all of them (one channel per pass was load-bound).
// Always inlined into the ISA clones below, so each clone compiles it for its own ISA.
template <int CB>
[[gnu::always_inline]] inline void conv1_block(const float* __restrict__ w,
                                               const float* __restrict__ col, std::size_t k1,
                                               std::size_t p1, const float* __restrict__ bias,
                                               float slope, float* __restrict__ y) {
  constexpr std::size_t kChunk = 32;  // CB x 32 accumulators stay in registers
  for (std::size_t i0 = 0; i0 < p1; i0 += kChunk) {
    const std::size_t n = p1 - i0 < kChunk ? p1 - i0 : kChunk;
    float acc[CB][kChunk];
    for (int c = 0; c < CB; ++c) {
      const float w0 = w[c * k1];
      for (std::size_t i = 0; i < n; ++i) acc[c][i] = w0 * col[i0 + i];
    }
    for (std::size_t t = 1; t < k1; ++t) {
      const float* ct = col + t * p1 + i0;
      float wt[CB];
      for (int c = 0; c < CB; ++c) wt[c] = w[c * k1 + t];
      for (std::size_t i = 0; i < n; ++i) {
        const float x = ct[i];
        for (int c = 0; c < CB; ++c) acc[c][i] = acc[c][i] + wt[c] * x;
      }
    }
    for (int c = 0; c < CB; ++c) {
      for (std::size_t i = 0; i < n; ++i) {
        const float z = acc[c][i] + bias[c];
        const float neg = slope * z;
        y[c * p1 + i0 + i] = z >= 0.0f ? z : neg;
      }
    }
  }
}

constexpr int kCB = 4;

// All c1 output channels: blocks of kCB, then one at a time.
BIFSMN_CLONES
void conv1_channels(const float* __restrict__ w, const float* __restrict__ col, std::size_t k1,
                    std::size_t p1, int c1, const float* __restrict__ bias, float slope,
                    float* __restrict__ y) {
  int ch = 0;
  for (; ch + kCB <= c1; ch += kCB) {
    conv1_block<kCB>(w + ch * k1, col, k1, p1, bias + ch, slope, y + ch * p1);
  }
  for (; ch < c1; ++ch) conv1_block<1>(w + ch * k1, col, k1, p1, bias + ch, slope, y + ch * p1);
}

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

void conv1_deployed(const Conv1& p, const float* img, float* col, float* y) {
  // Taps-major im2col: row (u, v) holds, for every output position (i, j), the input pixel
  // (2i - pad + u, 2j - pad + v) or 0 outside. Per row of positions the valid columns form one
  // range, copied with stride 2 (no per-element bounds test).
  const int k = p.k, pad = p.pad(), h1 = p.h1(), w1 = p.w1();
  const std::size_t p1 = p.positions(), k1 = p.taps();
  for (int uu = 0; uu < k; ++uu) {
    for (int vv = 0; vv < k; ++vv) {
      float* c = col + static_cast<std::size_t>(uu * k + vv) * p1;
      // jj = 2j - pad + vv in [0, W)  <=>  j in [j_lo, j_hi)
      const int off = vv - pad;
      const int j_lo = std::min(w1, off >= 0 ? 0 : (-off + 1) / 2);
      const int j_hi = std::max(j_lo, std::min(w1, (p.W - off + 1) / 2));
      for (int i = 0; i < h1; ++i, c += w1) {
        const int ii = 2 * i - pad + uu;
        if (ii < 0 || ii >= p.H) {
          std::fill(c, c + w1, 0.0f);
          continue;
        }
        const float* row = img + static_cast<std::size_t>(ii) * p.W;
        for (int j = 0; j < j_lo; ++j) c[j] = 0.0f;
        for (int j = j_lo; j < j_hi; ++j) c[j] = row[2 * j + off];
        for (int j = j_hi; j < w1; ++j) c[j] = 0.0f;
      }
    }
  }
  conv1_channels(p.w, col, k1, p1, p.c1, p.b, p.slope, y);
}

void conv1_fp(const Conv1& p, const Kernel& kern, const float* img, float* col, float* y) {
  const int k = p.k, pad = p.pad();
  const std::size_t p1 = p.positions(), k1 = p.taps();
  float* c = col;
  for (int i = 0; i < p.h1(); ++i) {
    for (int j = 0; j < p.w1(); ++j) {
      for (int uu = 0; uu < k; ++uu) {
        for (int vv = 0; vv < k; ++vv) *c++ = pixel(p, img, 2 * i - pad + uu, 2 * j - pad + vv);
      }
    }
  }
  // weights as rows: the output comes out channel-major
  kern.float_gemm(p.w, col, nullptr, y, static_cast<std::size_t>(p.c1), p1, k1);
  for (int ch = 0; ch < p.c1; ++ch) {
    float* yc = y + ch * p1;
    for (std::size_t i = 0; i < p1; ++i) yc[i] = act(yc[i] + p.b[ch], p.slope);
  }
}

}  // namespace bifsmn::ops
