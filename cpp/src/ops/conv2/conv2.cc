#include "conv2.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../binarize/binarize.h"
#include "../simd.h"
#include "../transpose.h"
#include "pixel.h"
#include "bifsmn/bitpack.h"

namespace bifsmn::ops {

namespace {

// Dual-scale binarization of one clip straight into bit planes: for each input row (c, row) of
// w1 values, d = v - tau0[c], b1 = sign(d), r = (v - b1) - tau1[c]; the sign bits of d and r go
// to pl1/pl2 (column j at bit j + pad) and |r| into the eight partial sums of sum8 in the clip's
// channel-major element order (element e into sum e % 8), so the returned sum8(|r|) is the one
// the reference computes over the whole clip. Nothing but the bits is written: d, r and |r| of a
// row live in `d`/`r` (w1 floats each, L1). Row (c, row) goes to pl[c * stride + row].
[[gnu::always_inline]] inline float conv2_dual_planes_body(const float* __restrict__ v,
                                                           const float* __restrict__ tau0,
                                                           const float* __restrict__ tau1,
                                                           std::size_t c1, std::size_t h1,
                                                           std::size_t w1, int pad,
                                                           std::size_t stride,
                                                           float* __restrict__ d,
                                                           float* __restrict__ r,
                                                           std::uint64_t* __restrict__ pl1,
                                                           std::uint64_t* __restrict__ pl2) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t c = 0; c < c1; ++c) {
    const float t0 = tau0[c], t1 = tau1[c];
    for (std::size_t row = 0; row < h1; ++row) {
      const std::size_t base = (c * h1 + row) * w1;
      const float* vr = v + base;
      for (std::size_t j = 0; j < w1; ++j) {
        const float dj = vr[j] - t0;
        const float b1 = dj >= 0.0f ? 1.0f : -1.0f;
        d[j] = dj;
        r[j] = (vr[j] - b1) - t1;
      }
      if (w1 % 8 == 0) {  // every row starts at sum 0: whole groups of eight, vectorized
        for (std::size_t j = 0; j < w1; j += 8) {
          for (int l = 0; l < 8; ++l) {
            const float rj = r[j + l];
            p[l] = p[l] + (rj < 0.0f ? -rj : rj);
          }
        }
      } else {
        for (std::size_t j = 0; j < w1; ++j) {
          const float rj = r[j];
          p[(base + j) & 7] = p[(base + j) & 7] + (rj < 0.0f ? -rj : rj);
        }
      }
      pl1[c * stride + row] = detail::neg_bits64(d, w1) << pad;
      pl2[c * stride + row] = detail::neg_bits64(r, w1) << pad;
    }
  }
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
BIFSMN_ISA_CLONES(float, conv2_dual_planes,
                  (const float* __restrict__ v, const float* __restrict__ tau0,
                   const float* __restrict__ tau1, std::size_t c1, std::size_t h1, std::size_t w1,
                   int pad, std::size_t stride, float* __restrict__ d, float* __restrict__ r,
                   std::uint64_t* __restrict__ pl1, std::uint64_t* __restrict__ pl2),
                  (v, tau0, tau1, c1, h1, w1, pad, stride, d, r, pl1, pl2))

typedef std::uint64_t u64x8 __attribute__((vector_size(64)));
typedef std::uint64_t u64x4 __attribute__((vector_size(32)));
typedef std::uint64_t u64x2 __attribute__((vector_size(16)));

}  // namespace

// Where each window row's bits go in a GEMM row (see assemble_rows): for word w, the chunks
// that start in it (plane-row offset c*hp + u, left shift) and the one that starts in the word
// before and ends in it, if any (its offset, right shift). Depends only on (c1, k, hp, words).
void Conv2Work::chunk_tables(int c1, int k, int hp, std::size_t words) {
  if (key_c1 == c1 && key_k == k && key_hp == hp && key_words == words) return;
  key_c1 = c1;
  key_k = k;
  key_hp = hp;
  key_words = words;
  off.clear();
  sft.clear();
  begin.assign(words + 1, 0);
  in_off.assign(words, -1);
  in_sft.assign(words, 0);
  for (std::size_t w = 0; w < words; ++w) {
    const int lo64 = static_cast<int>(64 * w), hi64 = lo64 + 64;
    begin[w] = static_cast<std::int32_t>(off.size());
    for (int q = 0; q < c1 * k; ++q) {
      const int at = q * k, c = q / k, u = q % k;
      if (at >= lo64 && at < hi64) {
        off.push_back(c * hp + u);
        sft.push_back(at - lo64);
      } else if (at < lo64 && at + k > lo64) {
        in_off[w] = c * hp + u;
        in_sft[w] = lo64 - at;
      }
    }
  }
  begin[words] = static_cast<std::int32_t>(off.size());
}

namespace {

// The GEMM rows of output row i2 (t columns): row j2, window row q = (c, u) (q = c*k + u) ->
// bits [q*k, q*k + k) = bits [2*j2, 2*j2 + k) of plane row (c, 2*i2 - pad + u), which is row
// 2*i2 + u of channel c in the padded planes (pad zero rows above and below: 0 outside).
// One output column per 64-bit lane (8 / 4 / 2 per vector by ISA, simd.h); each 64-bit word of
// the rows is OR-ed together in one register from the chunks the tables place in it (no
// branches, no read-modify-write of a tile in memory, whose store-to-load round trips made this
// loop the largest cost of conv2).
// planes: this clip's padded plane rows. tile: words * 8 scratch words. out: t rows of `words`
// words (padding words written 0).
template <class V>
[[gnu::always_inline]] inline void assemble_rows_t(
    const std::uint64_t* planes, int k, int i2, int t, std::size_t words,
    const std::int32_t* __restrict__ begin, const std::int32_t* __restrict__ off,
    const std::int32_t* __restrict__ sft, const std::int32_t* __restrict__ in_off,
    const std::int32_t* __restrict__ in_sft, std::uint64_t* tile, std::uint64_t* out) {
  typedef V V_unaligned __attribute__((aligned(8)));  // for the scratch tile
  constexpr int L = static_cast<int>(sizeof(V) / sizeof(std::uint64_t));
  const std::uint64_t kmask = (std::uint64_t{1} << k) - 1;
  const std::uint64_t* P = planes + 2 * i2;
  V_unaligned* T = reinterpret_cast<V_unaligned*>(tile);
  for (int g = 0; g < t; g += L) {
    V shifts;
    for (int l = 0; l < L; ++l) shifts[l] = static_cast<std::uint64_t>(2 * std::min(g + l, t - 1));
    for (std::size_t w = 0; w < words; ++w) {
      V acc = {};
      if (in_off[w] >= 0) acc = (((V{} + P[in_off[w]]) >> shifts) & kmask) >> in_sft[w];
      for (std::int32_t e = begin[w]; e < begin[w + 1]; ++e) {
        acc |= (((V{} + P[off[e]]) >> shifts) & kmask) << sft[e];
      }
      T[w] = acc;
    }
    const int n = std::min(L, t - g);
    for (int l = 0; l < n; ++l) {
      std::uint64_t* row = out + static_cast<std::size_t>(g + l) * words;
      for (std::size_t w = 0; w < words; ++w) row[w] = T[w][l];
    }
  }
}


#define BIFSMN_ASSEMBLE_ARGS                                                                \
  const std::uint64_t *planes, int k, int i2, int t, std::size_t words,                      \
      const std::int32_t *__restrict__ begin, const std::int32_t *__restrict__ off,          \
      const std::int32_t *__restrict__ sft, const std::int32_t *__restrict__ in_off,         \
      const std::int32_t *__restrict__ in_sft, std::uint64_t *tile, std::uint64_t *out
#define BIFSMN_ASSEMBLE_CALL(V) \
  assemble_rows_t<V>(planes, k, i2, t, words, begin, off, sft, in_off, in_sft, tile, out)
BIFSMN_SIMD_VARIANTS(assemble_rows, (BIFSMN_ASSEMBLE_ARGS), BIFSMN_ASSEMBLE_CALL, u64x8, u64x4,
                     u64x2)
#undef BIFSMN_ASSEMBLE_ARGS
#undef BIFSMN_ASSEMBLE_CALL

// 8 x 8 bit transpose: bit 8i + j (byte i, bit j) -> bit 8j + i (block swaps of 2 x 2, 4 x 4
// and 8 x 8 bits).
inline std::uint64_t transpose8x8(std::uint64_t x) {
  std::uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
  x = x ^ t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
  x = x ^ t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
  return x ^ t ^ (t << 28);
}

// pixel.h's grid rows r0 .. r1 - 1 in portable code (any CPU): for each row and group of eight
// channels, the channels' column bytes q (columns 8q .. 8q + 7, q < 4) as an 8 x 8 bit matrix,
// transposed, give pixel 8q + j's byte g in byte j.
void pixel_grid16_portable(const std::uint64_t* __restrict__ planes, int hp, int r0, int r1,
                           std::uint8_t* __restrict__ grid) {
  for (int R = r0; R < r1; ++R) {
    std::uint8_t* row = grid + static_cast<std::size_t>(R) * 64;
    for (int g = 0; g < 2; ++g) {
      std::uint64_t w[8];
      for (int x = 0; x < 8; ++x) w[x] = planes[static_cast<std::size_t>(8 * g + x) * hp + R];
      for (int q = 0; q < 4; ++q) {
        std::uint64_t m = 0;
        for (int x = 0; x < 8; ++x) m |= ((w[x] >> (8 * q)) & 0xFFu) << (8 * x);
        m = transpose8x8(m);
        for (int j = 0; j < 8; ++j) row[2 * (8 * q + j) + g] = static_cast<std::uint8_t>(m >> (8 * j));
      }
    }
  }
}

// The GEMM rows of output row i2 from a pixel grid (pixel.h's layout) with plain 16-byte moves,
// for CPUs without VBMI: window row u's 2k bytes go to bytes [2k*u, 2k*u + 2k) of the row, each
// move writing 16 (the next move, or the zeroing of the tail, overwrites the excess; needs
// 2k*(k-1) + 16 <= 8 * words, true for k <= 5). The grid is read up to 4 bytes past its rows.
void pixel_rows_moves(const std::uint8_t* __restrict__ grid, int k, int i2, int t,
                      std::size_t words, std::uint64_t* __restrict__ out) {
  const std::size_t run = 2 * static_cast<std::size_t>(k), used = run * k, bytes = 8 * words;
  const std::uint64_t zero = 0;
  for (int j2 = 0; j2 < t; ++j2) {
    std::uint8_t* row = reinterpret_cast<std::uint8_t*>(out + static_cast<std::size_t>(j2) * words);
    for (int u = 0; u < k; ++u) {
      std::memcpy(row + u * run, grid + static_cast<std::size_t>(2 * i2 + u) * 64 + 4 * j2, 16);
    }
    for (std::size_t z = used; z < bytes; z += 8) std::memcpy(row + std::min(z, bytes - 8), &zero, 8);
  }
}

// conv2 epilogue of one token (output column j2): for each output row i2 (position
// pos = i2*t + j2) and channel o, z = act(scale*((D1 - C) + s*(D2 - C)) + bp) (sign mode:
// d2 absent, z = act(scale*(D1 - C) + bp)), computed channel-vectorized into zb (h2 x c2), then
// stored as the token row, feature o*h2 + i2: by 8 x 8 transposes for each group of eight
// rows i2 (session 51: not only h2 == 8; fbank40's h2 = 10 had stored all 320 values one by one),
// the rest element by element. One call per token instead of one per position, and no
// strided scalar stores (the two had cost as much as conv2's GEMM).
[[gnu::always_inline]] inline void conv2_token_body(const std::int32_t* __restrict__ dots,
                                                    std::size_t tile_rows, int t, int h2,
                                                    std::size_t c2, bool dual, float s,
                                                    const float* __restrict__ corr,
                                                    const float* __restrict__ bias_pos,
                                                    const float* __restrict__ scale, float slope,
                                                    int j2, float* __restrict__ zb,
                                                    float* __restrict__ row) {
  for (int i2 = 0; i2 < h2; ++i2) {
    const std::size_t pos = static_cast<std::size_t>(i2) * t + j2;
    const std::int32_t* d1 = dots + (i2 * tile_rows + j2) * c2;
    const float* cr = corr + pos * c2;
    const float* bp = bias_pos + pos * c2;
    float* z = zb + static_cast<std::size_t>(i2) * c2;
    if (dual) {
      const std::int32_t* d2 = d1 + static_cast<std::size_t>(t) * c2;
      for (std::size_t oc = 0; oc < c2; ++oc) {
        float d = static_cast<float>(d1[oc]) - cr[oc];
        d += s * (static_cast<float>(d2[oc]) - cr[oc]);
        z[oc] = act(scale[oc] * d + bp[oc], slope);
      }
    } else {
      for (std::size_t oc = 0; oc < c2; ++oc) {
        const float d = static_cast<float>(d1[oc]) - cr[oc];
        z[oc] = act(scale[oc] * d + bp[oc], slope);
      }
    }
  }
  // row[oc * h2 + i2] = z[i2][oc]: 8 x 8 blocks by register transposes (rows i2 in groups of
  // eight: all of them for the paper's 8 mel rows, 8 of 10 for fbank40's), the rest one by one.
  const std::size_t oc_blocks = c2 / 8 * 8;
  int i0 = 0;
  for (; i0 + 8 <= h2; i0 += 8) {
    for (std::size_t oc0 = 0; oc0 < oc_blocks; oc0 += 8) {
      detail::v8f r[8], c[8];
      for (int i = 0; i < 8; ++i)
        __builtin_memcpy(&r[i], zb + static_cast<std::size_t>(i0 + i) * c2 + oc0, sizeof r[i]);
      detail::transpose8(r, c);
      for (int l = 0; l < 8; ++l)
        __builtin_memcpy(row + (oc0 + l) * h2 + i0, &c[l], sizeof c[l]);
    }
  }
  for (std::size_t oc = 0; oc < c2; ++oc) {
    const int from = oc < oc_blocks ? i0 : 0;
    for (int i2 = from; i2 < h2; ++i2)
      row[oc * h2 + i2] = zb[static_cast<std::size_t>(i2) * c2 + oc];
  }
}
BIFSMN_ISA_CLONES(void, conv2_token,
                  (const std::int32_t* __restrict__ dots, std::size_t tile_rows, int t, int h2,
                   std::size_t c2, bool dual, float s, const float* __restrict__ corr,
                   const float* __restrict__ bias_pos, const float* __restrict__ scale, float slope,
                   int j2, float* __restrict__ zb, float* __restrict__ row),
                  (dots, tile_rows, t, h2, c2, dual, s, corr, bias_pos, scale, slope, j2, zb, row))

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

bool conv2_pixel_layout(const Conv2Shape& s) {
  return s.c1 == 16 && s.k <= 5 && s.w1 + 2 * s.pad() <= 32;
}

Buffer<std::uint64_t> conv2_pixel_weights(const Conv2Shape& s, const std::uint64_t* w,
                                          std::size_t words) {
  Buffer<std::uint64_t> out(static_cast<std::size_t>(s.c2) * words, 0);
  const int k = s.k;
  for (int o = 0; o < s.c2; ++o) {
    const std::uint64_t* row = w + static_cast<std::size_t>(o) * words;
    std::uint64_t* dst = out.data() + static_cast<std::size_t>(o) * words;
    for (int c = 0; c < s.c1; ++c) {
      for (int u = 0; u < k; ++u) {
        for (int v = 0; v < k; ++v) {
          if (!packed_bit(row, static_cast<std::size_t>((c * k + u) * k + v))) continue;
          const std::size_t at = static_cast<std::size_t>(u * k + v) * s.c1 + c;
          dst[at / 64] |= std::uint64_t{1} << (at % 64);
        }
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
  const std::size_t rows = batch * sh.positions();
  grow(d, static_cast<std::size_t>(sh.w1));
  grow(r, static_cast<std::size_t>(sh.w1));
  grow(s, batch);
  // (+ 8: the pixel path's grid reads up to 7 words past the last channel's rows)
  // (it grows only for more clips or rows, i.e. a new planes_key: conv2_binary zeroes it then)
  grow(planes, 2 * batch * sh.c1 * static_cast<std::size_t>(sh.h1 + 2 * sh.pad()) + 8);
  // one clip's GEMM rows (+ 8: conv2_pixel_rows16 stores whole 64-byte rows, pixel.h)
  grow(abits, 2 * sh.positions() * p.words + 8);
  grow(dots, 2 * rows * sh.c2);
  grow(tile, p.words * 8 + 8);
  // the pixel path's grid: two planes of (h1 + 2 pad) rows of 64 bytes (detail::conv2_pixel_grid16)
  // (+ 64: pixel_rows_moves reads up to 4 bytes past the last row)
  if (p.wpix && grid.size() < 2 * static_cast<std::size_t>(sh.h1 + 2 * sh.pad()) * 64 + 64) {
    grow(grid, 2 * static_cast<std::size_t>(sh.h1 + 2 * sh.pad()) * 64 + 64);
    grid_key = -1;  // (re)allocated: zero it before use
  }
  grow(z, sh.features());  // one token's h2 x c2 epilogue values
  grow(row, 2 * sh.features());  // two token rows (binarized together when fused)
}

void conv2_binary(const Conv2Binary& p, const Kernel& kern, const float* x, std::size_t B,
                  Conv2Work& work, float* tok, GemmStats* stats, const BinaryLinear* next,
                  LinearWork* next_work) {
  work.reserve(p, B);
  const Conv2Shape& sh = p.s;
  // Binarize conv1's output (channel-major) into bit planes: plane[(b, c, pad + row)] holds the
  // sign bits of one input row, column j at bit j + pad (so the padding bits are 0, i.e. +1, and
  // the border correction accounts for them); each channel has pad zero rows above and below.
  const int k = sh.k, pad = sh.pad(), h1 = sh.h1, w1 = sh.w1, h2 = sh.h2(), t = sh.t();
  const int hp = h1 + 2 * pad;
  const std::size_t c1 = sh.c1, per_plane = c1 * static_cast<std::size_t>(hp);
  const std::size_t plane_n = B * per_plane;
  const std::size_t p1 = static_cast<std::size_t>(h1) * w1, per_clip = p1 * c1;
  std::uint64_t* pl1 = work.planes.data();
  std::uint64_t* pl2 = work.planes.data() + plane_n;
  const int planes_used = p.dual ? 2 : 1;
  // The padding rows are never written below: zero them when the layout changes, not per call
  // (64 small fills per clip were 0.5 % of the 8-block network).
  const std::size_t key[3] = {B * c1, static_cast<std::size_t>(hp), static_cast<std::size_t>(pad)};
  if (!std::equal(key, key + 3, work.planes_key)) {
    std::fill(work.planes.begin(), work.planes.end(), std::uint64_t{0});
    std::copy(key, key + 3, work.planes_key);
  }
  float* sv = work.s.data();
  for (std::size_t b = 0; b < B; ++b) {
    const float* v = x + b * per_clip;
    std::uint64_t* out1 = pl1 + b * per_plane + pad;
    std::uint64_t* out2 = pl2 + b * per_plane + pad;
    if (p.dual) {
#if defined(__x86_64__)
      // AVX-512 where the ops run at width 16 (tests force narrower widths: the AVX2 version)
      if (w1 % 16 == 0 && simd::width() == 16 && detail::have_avx512()) {
        sv[b] = detail::planes_dual_avx512(v, p.tau0, p.tau1, c1, h1, w1, pad, hp, out1, out2) /
                static_cast<float>(per_clip);
        continue;
      }
      if (w1 % 8 == 0 && detail::have_avx2()) {
        sv[b] = detail::planes_dual_avx2(v, p.tau0, p.tau1, c1, h1, w1, pad, hp, out1, out2) /
                static_cast<float>(per_clip);
        continue;
      }
#endif
      sv[b] = conv2_dual_planes(v, p.tau0, p.tau1, c1, h1, w1, pad, hp, work.d.data(),
                                work.r.data(), out1, out2) /
              static_cast<float>(per_clip);
    } else {
      for (std::size_t c = 0; c < c1; ++c) {
        for (int row = 0; row < h1; ++row) {
          out1[c * hp + row] = detail::neg_bits64(v + (c * h1 + row) * w1, w1) << pad;
        }
      }
    }
  }
  // Rows of the popcount GEMM, one per output position: window row (c, u) of output column j2
  // is the k-bit chunk of plane row 2*i2 - pad + u starting at padded column 2*j2, at bit
  // (c*k + u)*k of the row. No bit im2col of the input is materialized: assemble_rows builds
  // each output row's t GEMM rows of each plane from the plane rows (one output column per
  // 64-bit lane) into the clip's row block (rows ordered i2, plane, j2; h2 * 2t rows of
  // `words` words, L1-sized), and one popcount GEMM per clip consumes it, writing for each
  // output row the b1 dots of its t columns, then the b2 dots.
  const std::size_t words = p.words;
  const std::size_t tile_rows = static_cast<std::size_t>(planes_used) * t;
  const std::size_t c2 = sh.c2, f1 = sh.features();
  std::uint64_t* A = work.abits.data();
  const bool vbmi = simd::width() == 16 && detail::have_conv2_pixel();
#if defined(__x86_64__)
  const bool avx2 = !vbmi && simd::width() >= 8 && detail::have_avx2();
#else
  const bool avx2 = false;
#endif
  if (p.wpix && conv2_pixel_layout(sh)) {
    // Pixel-major rows (session 52; pixel.h): each plane transposed once into a grid of 16-bit
    // pixels (AVX-512 VBMI + GFNI, AVX2, or portable 8 x 8 bit transposes), so that a window
    // row of k pixels is one contiguous run of bytes and a GEMM row is k byte permutes of grid
    // rows in registers (VBMI) or k 16-byte moves; the GEMM takes the weights in the same
    // (u, v, c) bit order (the same dots as the (c, u, v) rows below: the bits of a row are
    // only permuted).
    const std::size_t grid_n = static_cast<std::size_t>(hp) * 64;
    std::uint8_t* grid = work.grid.data();
    if (work.grid_key != hp * 64 + pad) {  // rows of padding only are never written: zero once
      std::fill(work.grid.begin(), work.grid.end(), std::uint8_t{0});
      work.grid_key = hp * 64 + pad;
    }
    for (std::size_t b = 0; b < B; ++b) {
      for (int pl = 0; pl < planes_used; ++pl) {
        (vbmi ? detail::conv2_pixel_grid16
              : avx2 ? detail::conv2_pixel_grid16_avx2 : pixel_grid16_portable)(
            work.planes.data() + pl * plane_n + b * per_plane, hp, pad, pad + h1,
            grid + pl * grid_n);
      }
      for (int i2 = 0; i2 < h2; ++i2) {
        for (int pl = 0; pl < planes_used; ++pl) {
          (vbmi ? detail::conv2_pixel_rows16 : pixel_rows_moves)(
              grid + pl * grid_n, k, i2, t, words,
              A + (i2 * tile_rows + static_cast<std::size_t>(pl) * t) * words);
        }
      }
      timed_binary_gemm(kern, A, p.wpix, p.wpix_p, work.dots.data() + b * h2 * tile_rows * c2,
                        h2 * tile_rows, c2, sh.k2(), stats);
    }
  } else {
    work.chunk_tables(sh.c1, k, hp, words);
    const auto assemble_rows = simd::pick(assemble_rows16, assemble_rows8, assemble_rows4);
    for (std::size_t b = 0; b < B; ++b) {
      for (int i2 = 0; i2 < h2; ++i2) {
        for (int pl = 0; pl < planes_used; ++pl) {
          assemble_rows(work.planes.data() + pl * plane_n + b * per_plane, k, i2, t, words,
                        work.begin.data(), work.off.data(), work.sft.data(), work.in_off.data(),
                        work.in_sft.data(), work.tile.data(),
                        A + (i2 * tile_rows + static_cast<std::size_t>(pl) * t) * words);
        }
      }
      timed_binary_gemm(kern, A, p.w, p.wp, work.dots.data() + b * h2 * tile_rows * c2,
                        h2 * tile_rows, c2, sh.k2(), stats);
    }
  }
  // Epilogue: z = scale*((D1 - C) + s*(D2 - C)) + bias_pos -> act -> tokens
  // (token = output column j2, feature = o * H2 + i2), one token row at a time: positions
  // (i2, j2) for all i2, each a contiguous run of C2 dots; the row is then stored, or binarized
  // for the next layer (fused).
  if (next) begin_rows(*next, B * t, *next_work);
  for (std::size_t b = 0; b < B; ++b) {
    const float sb = p.dual ? sv[b] : 0.0f;
    for (int j2 = 0; j2 < t; ++j2) {
      // Fused: token rows j2 - 1, j2 alternate in work.row and are binarized in pairs.
      float* row = next ? work.row.data() + (j2 % 2) * f1 : tok + (b * t + j2) * f1;
      conv2_token(work.dots.data() + b * h2 * tile_rows * c2, tile_rows, t, h2, c2, p.dual, sb,
                  p.corr, p.bias_pos, p.scale, p.slope, j2, work.z.data(), row);
      if (!next) continue;
      if (j2 % 2 == 1) {
        binarize_row2(*next, row - f1, row, b * t + j2 - 1, *next_work);
      } else if (j2 + 1 == t) {
        binarize_row(*next, row, b * t + j2, *next_work);
      }
    }
  }
}

void conv2_fp(const Conv2Shape& s, const Kernel& kern, const float* wp, const float* b,
              float slope, const float* x, std::size_t B, float* col, float* out, float* tok) {
  const int k = s.k, pad = s.pad(), h1 = s.h1, w1 = s.w1, h2 = s.h2(), t = s.t();
  const std::size_t c1 = s.c1, c2 = s.c2, k2 = s.k2(), f1 = s.features();
  const std::size_t npos = s.positions(), rows = B * npos;
  // Each clip's input zero-padded once, then every (channel, tap row) of a window is k
  // contiguous floats.
  const std::size_t hp = static_cast<std::size_t>(h1 + 2 * pad), wpad = static_cast<std::size_t>(w1 + 2 * pad);
  float* padded = col + rows * k2;
  float* c = col;
  for (std::size_t bb = 0; bb < B; ++bb) {
    zero_pad_planes(x + bb * s.in_size(), c1, h1, w1, pad, padded);
    for (int i2 = 0; i2 < h2; ++i2) {
      for (int j2 = 0; j2 < t; ++j2) {
        for (std::size_t ch = 0; ch < c1; ++ch) {
          const float* src = padded + (ch * hp + 2 * i2) * wpad + 2 * j2;
          if (k == 5) {  // the models' kernel: fixed-size copies the compiler inlines
            for (int uu = 0; uu < 5; ++uu, src += wpad, c += 5) std::memcpy(c, src, 5 * sizeof(float));
          } else {
            for (int uu = 0; uu < k; ++uu, src += wpad) {
              for (int vv = 0; vv < k; ++vv) *c++ = src[vv];
            }
          }
        }
      }
    }
  }
  kern.float_gemm_kn(col, wp, b, out, rows, c2, k2);
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
