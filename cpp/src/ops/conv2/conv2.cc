#include "conv2.h"

#include <algorithm>
#include <vector>

#include "../binarize/binarize.h"
#include "bifsmn/bitpack.h"

namespace bifsmn::ops {

namespace {

// Dual-scale stage 1 for one clip: per input channel c the p1 values of that channel,
// thresholds tau0[c], tau1[c]; returns sum8 of |r| over the whole clip (channel-major order).
BIFSMN_CLONES
float conv2_dual_split(const float* v, const float* tau0, const float* tau1, std::size_t c1,
                       std::size_t p1, float* d, float* r, float* absr) {
  for (std::size_t c = 0; c < c1; ++c) {
    detail::dual_split_scalar(v + c * p1, tau0[c], tau1[c], p1, d + c * p1, r + c * p1,
                              absr + c * p1);
  }
  return detail::sum8(absr, c1 * p1);
}

}  // namespace

Conv2Tables conv2_tables(const Conv2Shape& s, const std::uint64_t* w, std::size_t words,
                         const float* scale, const float* bias, const float* tau2) {
  // For output position (i2, j2) and channel o: C = sum of sign(W[o, tap]) over the taps that
  // fall outside the input (their activation bits are 0, i.e. +1, in the full-window popcount),
  // and T2 = sum over the taps inside of sign(W[o, tap]) * tau2[channel], in float64 in
  // (c, u, v) order; bias_pos = float32(bias - scale * T2).
  const int k = s.k, pad = s.pad(), t = s.t();
  const std::size_t npos = s.positions();
  Conv2Tables out;
  out.corr.assign(npos * s.c2, 0.0f);
  out.bias_pos.assign(npos * s.c2, 0.0f);
  for (int i2 = 0; i2 < s.h2(); ++i2) {
    for (int j2 = 0; j2 < t; ++j2) {
      const std::size_t pos = static_cast<std::size_t>(i2) * t + j2;
      for (int o = 0; o < s.c2; ++o) {
        const std::uint64_t* row = w + o * words;
        long corr = 0;
        double t2 = 0;
        for (int c = 0; c < s.c1; ++c) {
          for (int u = 0; u < k; ++u) {
            for (int v = 0; v < k; ++v) {
              const int ii = 2 * i2 - pad + u, jj = 2 * j2 - pad + v;
              const double sg = packed_bit(row, (c * k + u) * k + v) ? -1.0 : 1.0;
              if (ii < 0 || ii >= s.h1 || jj < 0 || jj >= s.w1) {
                corr += static_cast<long>(sg);
              } else if (tau2) {
                t2 += sg * tau2[c];
              }
            }
          }
        }
        out.corr[pos * s.c2 + o] = static_cast<float>(corr);
        out.bias_pos[pos * s.c2 + o] =
            static_cast<float>(bias[o] - static_cast<double>(scale[o]) * t2);
      }
    }
  }
  return out;
}

void conv2_binary_reference(const Conv2Binary& p, const float* v, float* tok) {
  const Conv2Shape& s = p.s;
  const std::size_t n = s.in_size();
  std::vector<float> b1(n), b2(n, 0.0f), absr(n);
  float sc = 0.0f;
  for (std::size_t e = 0; e < n; ++e) {
    const std::size_t c = e / (static_cast<std::size_t>(s.h1) * s.w1);
    if (p.dual) {
      const float d = v[e] - p.tau0[c];
      b1[e] = d >= 0.0f ? 1.0f : -1.0f;
      const float r = (v[e] - b1[e]) - p.tau1[c];
      b2[e] = r >= 0.0f ? 1.0f : -1.0f;
      absr[e] = r < 0.0f ? -r : r;
    } else {
      b1[e] = v[e] >= 0.0f ? 1.0f : -1.0f;
    }
  }
  if (p.dual) sc = sum8_reference(absr.data(), n) / static_cast<float>(n);
  const int k = s.k, pad = s.pad(), t = s.t(), h2 = s.h2();
  for (int i2 = 0; i2 < h2; ++i2) {
    for (int j2 = 0; j2 < t; ++j2) {
      const std::size_t pos = static_cast<std::size_t>(i2) * t + j2;
      for (int o = 0; o < s.c2; ++o) {
        const std::uint64_t* row = p.w + o * p.words;
        long d1 = 0, d2 = 0;
        for (int c = 0; c < s.c1; ++c) {
          for (int u = 0; u < k; ++u) {
            for (int vv = 0; vv < k; ++vv) {
              const int ii = 2 * i2 - pad + u, jj = 2 * j2 - pad + vv;
              if (ii < 0 || ii >= s.h1 || jj < 0 || jj >= s.w1) continue;
              const long sg = packed_bit(row, (c * k + u) * k + vv) ? -1 : 1;
              const std::size_t e = (static_cast<std::size_t>(c) * s.h1 + ii) * s.w1 + jj;
              d1 += sg * static_cast<long>(b1[e]);
              d2 += sg * static_cast<long>(b2[e]);
            }
          }
        }
        float d = static_cast<float>(d1);
        if (p.dual) d = d + sc * static_cast<float>(d2);
        const float z = p.scale[o] * d + p.bias_pos[pos * s.c2 + o];
        tok[static_cast<std::size_t>(j2) * s.features() + static_cast<std::size_t>(o) * h2 + i2] =
            act(z, p.slope);
      }
    }
  }
}

void Conv2Work::reserve(const Conv2Binary& p, std::size_t batch) {
  const Conv2Shape& sh = p.s;
  const std::size_t n = sh.in_size(), rows = batch * sh.positions();
  grow(d, n);
  grow(r, n);
  grow(absr, n);
  grow(s, batch);
  grow(planes, 2 * batch * sh.c1 * sh.h1);
  grow(abits, 2 * rows * p.words);
  grow(dots, 2 * rows * sh.c2);
}

void conv2_binary(const Conv2Binary& p, const Kernel& kern, const float* x, std::size_t B,
                  Conv2Work& work, float* tok, GemmStats* stats) {
  work.reserve(p, B);
  const Conv2Shape& sh = p.s;
  // Binarize conv1's output (channel-major) into bit planes: plane[(b, c, row)] holds the sign
  // bits of one input row, column j at bit j + pad (so the padding bits are 0, i.e. +1, and the
  // border correction accounts for them).
  const int k = sh.k, pad = sh.pad(), h1 = sh.h1, w1 = sh.w1, h2 = sh.h2(), t = sh.t();
  const std::size_t c1 = sh.c1, plane_n = B * c1 * h1;
  const std::size_t p1 = static_cast<std::size_t>(h1) * w1, per_clip = p1 * c1;
  std::uint64_t* pl1 = work.planes.data();
  std::uint64_t* pl2 = work.planes.data() + plane_n;
  float* sv = work.s.data();
  for (std::size_t b = 0; b < B; ++b) {
    const float* v = x + b * per_clip;
    const float* src1 = v;
    if (p.dual) {
      sv[b] = conv2_dual_split(v, p.tau0, p.tau1, c1, p1, work.d.data(), work.r.data(),
                               work.absr.data()) /
              static_cast<float>(per_clip);
      src1 = work.d.data();
    }
    for (std::size_t row = 0; row < c1 * h1; ++row) {
      pl1[b * c1 * h1 + row] = detail::neg_bits64(src1 + row * w1, w1) << pad;
      if (p.dual) pl2[b * c1 * h1 + row] = detail::neg_bits64(work.r.data() + row * w1, w1) << pad;
    }
  }
  // Bit im2col: window row (c, u) of output column j2 is the k-bit chunk of plane row
  // 2*i2 - pad + u starting at padded column 2*j2.
  const std::size_t words = p.words, npos = sh.positions();
  const std::size_t rows = B * npos;
  const int planes_used = p.dual ? 2 : 1;
  const std::uint64_t kmask = (std::uint64_t{1} << k) - 1;
  for (int pl = 0; pl < planes_used; ++pl) {
    const std::uint64_t* plane = work.planes.data() + pl * plane_n;
    std::uint64_t* A = work.abits.data() + pl * rows * words;
    std::fill(A, A + rows * words, 0);
    for (std::size_t b = 0; b < B; ++b) {
      for (int i2 = 0; i2 < h2; ++i2) {
        std::uint64_t* base = A + (b * h2 + i2) * t * words;  // rows (b, i2, 0..t-1)
        for (std::size_t c = 0; c < c1; ++c) {
          for (int uu = 0; uu < k; ++uu) {
            const int ii = 2 * i2 - pad + uu;
            if (ii < 0 || ii >= h1) continue;
            const std::uint64_t src = plane[(b * c1 + c) * h1 + ii];
            if (!src) continue;
            // The window row (c, uu) lands at the same bit offset in every
            // output column's row: hoist the word/shift/straddle decision.
            const std::size_t at = (c * k + uu) * k, wi = at / 64, shift = at % 64;
            std::uint64_t* dst = base + wi;
            if (shift + k <= 64) {
              for (int j2 = 0; j2 < t; ++j2) dst[j2 * words] |= ((src >> (2 * j2)) & kmask) << shift;
            } else {
              for (int j2 = 0; j2 < t; ++j2) {
                const std::uint64_t chunk = (src >> (2 * j2)) & kmask;
                dst[j2 * words] |= chunk << shift;
                dst[j2 * words + 1] |= chunk >> (64 - shift);
              }
            }
          }
        }
      }
    }
  }
  timed_binary_gemm(kern, work.abits.data(), p.w, work.dots.data(), planes_used * rows,
                    static_cast<std::size_t>(sh.c2), sh.k2(), stats);
  // Epilogue: z = scale*((D1 - C) + s*(D2 - C)) + bias_pos -> act -> tokens
  // (token = output column j2, feature = o * H2 + i2).
  const std::size_t c2 = sh.c2, f1 = sh.features();
  const std::int32_t* d1 = work.dots.data();
  const std::int32_t* d2 = work.dots.data() + rows * c2;
  for (std::size_t b = 0; b < B; ++b) {
    const float sb = p.dual ? sv[b] : 0.0f;
    for (std::size_t pos = 0; pos < npos; ++pos) {
      const std::size_t rr = b * npos + pos;
      const std::size_t i2 = pos / t, j2 = pos % t;
      float* dst = tok + (b * t + j2) * f1 + i2;
      const float* corr = p.corr + pos * c2;
      const float* bp = p.bias_pos + pos * c2;
      for (std::size_t oc = 0; oc < c2; ++oc) {
        float d = static_cast<float>(d1[rr * c2 + oc]) - corr[oc];
        if (p.dual) d += sb * (static_cast<float>(d2[rr * c2 + oc]) - corr[oc]);
        dst[oc * h2] = act(p.scale[oc] * d + bp[oc], p.slope);
      }
    }
  }
}

void conv2_fp(const Conv2Shape& s, const Kernel& kern, const float* w, const float* b,
              float slope, const float* x, std::size_t B, float* col, float* out, float* tok) {
  const int k = s.k, pad = s.pad(), h1 = s.h1, w1 = s.w1, h2 = s.h2(), t = s.t();
  const std::size_t c1 = s.c1, c2 = s.c2, k2 = s.k2(), f1 = s.features();
  const std::size_t npos = s.positions(), rows = B * npos;
  float* c = col;
  for (std::size_t bb = 0; bb < B; ++bb) {
    const float* v = x + bb * s.in_size();
    for (int i2 = 0; i2 < h2; ++i2) {
      for (int j2 = 0; j2 < t; ++j2) {
        for (std::size_t ch = 0; ch < c1; ++ch) {
          for (int uu = 0; uu < k; ++uu) {
            const int ii = 2 * i2 - pad + uu;
            for (int vv = 0; vv < k; ++vv) {
              const int jj = 2 * j2 - pad + vv;
              *c++ = (ii >= 0 && ii < h1 && jj >= 0 && jj < w1)
                         ? v[(ch * h1 + ii) * static_cast<std::size_t>(w1) + jj]
                         : 0.0f;
            }
          }
        }
      }
    }
  }
  // The conv output (positions x C2) is reordered into tokens afterwards.
  kern.float_gemm(col, w, b, out, rows, c2, k2);
  for (std::size_t bb = 0; bb < B; ++bb) {
    for (std::size_t pos = 0; pos < npos; ++pos) {
      const std::size_t i2 = pos / t, j2 = pos % t;
      float* dst = tok + (bb * t + j2) * f1 + i2;
      const float* src = out + (bb * npos + pos) * c2;
      for (std::size_t oc = 0; oc < c2; ++oc) dst[oc * h2] = act(src[oc], slope);
    }
  }
}

}  // namespace bifsmn::ops
