#include "memory.h"

#include <algorithm>

#include "../binarize/binarize.h"
#include "../simd.h"

namespace bifsmn::ops {

namespace {

typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));

// Two 8-lane vectors into one 16-lane one needs __builtin_shufflevector (Clang; GCC from 12).
// Older GCC takes the two-accumulator layout at every width (same bits).
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define BIFSMN_HAVE_SHUFFLEVECTOR 1
#else
#define BIFSMN_HAVE_SHUFFLEVECTOR 0
#endif

// The end of one frame's levels: elements c0..dim-1 into the eight partial sums q (element c
// into q[c % 8], in order), s = their fixed combination / dim, then u = b1 + s * b2 for the
// whole frame (b1, b2 recomputed from v). Shared by the one- and two-frame versions below.
[[gnu::always_inline]] inline void finish_levels(const float* __restrict__ v,
                                                 const float* __restrict__ tau0,
                                                 const float* __restrict__ tau1, std::size_t dim,
                                                 std::size_t c0, float* q,
                                                 float* __restrict__ u) {
  for (std::size_t c = c0; c < dim; ++c) {
    const float b1 = v[c] >= tau0[c] ? 1.0f : -1.0f;  // == (v - tau0 >= 0): binarize/quant_x86.cc
    const float r = (v[c] - b1) - tau1[c];
    q[c & 7] = q[c & 7] + (r < 0.0f ? -r : r);
  }
  const float s =
      (((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))) / static_cast<float>(dim);
  for (std::size_t c = 0; c < dim; ++c) {
    const float b1 = v[c] >= tau0[c] ? 1.0f : -1.0f;  // == (v - tau0 >= 0): binarize/quant_x86.cc
    const float r = (v[c] - b1) - tau1[c];
    u[c] = b1 + s * (r >= 0.0f ? 1.0f : -1.0f);
  }
}

// Dual-scale levels of one frame, u = b1 + s * b2 with s = sum8(|r|) / dim: the same float
// operations as dual_split + sum8 + dual_levels, without writing d, r and |r| (b1 and b2 are
// recomputed from v in the second pass). Element c goes into partial sum c % 8, in order.
[[gnu::always_inline]] inline void dual_frame_levels(const float* __restrict__ v,
                                                     const float* __restrict__ tau0,
                                                     const float* __restrict__ tau1,
                                                     std::size_t dim, float* __restrict__ u) {
  v8f p = {};
  std::size_t c = 0;
  for (; c + 8 <= dim; c += 8) {
    v8f x, t0, t1;
    __builtin_memcpy(&x, v + c, sizeof x);
    __builtin_memcpy(&t0, tau0 + c, sizeof t0);
    __builtin_memcpy(&t1, tau1 + c, sizeof t1);
    const v8f b1 = x >= t0 ? v8f{} + 1.0f : v8f{} - 1.0f;
    const v8f r = (x - b1) - t1;
    p = p + (r < 0.0f ? -r : r);
  }
  float q[8];
  __builtin_memcpy(q, &p, sizeof q);
  finish_levels(v, tau0, tau1, dim, c, q, u);
}

// Two frames' levels at once: the same float operations as dual_frame_levels for each. Why: each
// frame's sum is a chain of dependent adds (dim / 8 of them), the memory op's largest cost, and
// two frames' chains overlap. Wide (AVX-512): frame A's eight partial sums in lanes 0-7 of one
// 16-lane vector and frame B's in lanes 8-15, one add for both chains; otherwise two 8-lane
// accumulators (a 16-lane vector split by the compiler into AVX2 / SSE2 registers spills: 3x
// slower at width 8 in `ops_bench 3000 8`). Either way each lane adds the same elements in the
// same order.
template <bool Wide>
[[gnu::always_inline]] inline void dual_frame_levels2(const float* __restrict__ va,
                                                      const float* __restrict__ vb,
                                                      const float* __restrict__ tau0,
                                                      const float* __restrict__ tau1,
                                                      std::size_t dim, float* __restrict__ ua,
                                                      float* __restrict__ ub) {
  [[maybe_unused]] v16f p = {};
  [[maybe_unused]] v8f pa = {}, pb = {};
  std::size_t c = 0;
  for (; c + 8 <= dim; c += 8) {
    v8f xa, xb, t0, t1;
    __builtin_memcpy(&xa, va + c, sizeof xa);
    __builtin_memcpy(&xb, vb + c, sizeof xb);
    __builtin_memcpy(&t0, tau0 + c, sizeof t0);
    __builtin_memcpy(&t1, tau1 + c, sizeof t1);
    if constexpr (Wide) {
#if BIFSMN_HAVE_SHUFFLEVECTOR
      const v16f x = __builtin_shufflevector(xa, xb, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                             13, 14, 15);
      const v16f tt0 = __builtin_shufflevector(t0, t0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5,
                                               6, 7);
      const v16f tt1 = __builtin_shufflevector(t1, t1, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5,
                                               6, 7);
      const v16f b1 = x >= tt0 ? v16f{} + 1.0f : v16f{} - 1.0f;
      const v16f r = (x - b1) - tt1;
      p = p + (r < 0.0f ? -r : r);
#endif
    } else {
      const v8f b1a = xa >= t0 ? v8f{} + 1.0f : v8f{} - 1.0f;
      const v8f b1b = xb >= t0 ? v8f{} + 1.0f : v8f{} - 1.0f;
      const v8f ra = (xa - b1a) - t1, rb = (xb - b1b) - t1;
      pa = pa + (ra < 0.0f ? -ra : ra);
      pb = pb + (rb < 0.0f ? -rb : rb);
    }
  }
  float q[16];
  if constexpr (Wide) {
    __builtin_memcpy(q, &p, sizeof q);
  } else {
    __builtin_memcpy(q, &pa, sizeof pa);
    __builtin_memcpy(q + 8, &pb, sizeof pb);
  }
  finish_levels(va, tau0, tau1, dim, c, q, ua);
  finish_levels(vb, tau0, tau1, dim, c, q + 8, ub);
}

// FSMN memory of one clip: u = quantized padded frames, then per output frame acc = sum of taps
// in order, y = act(scale*acc + bias) + x. One vector V of channels at a time (16 / 8 / 4 by
// ISA, simd.h), the accumulator in a register across the taps (an array of accumulators was
// kept on the stack).
template <class V>
[[gnu::always_inline]] inline void memory_clip_t(
    bool fp, bool dual, const float* xb, std::size_t t, std::size_t dim, std::size_t left,
    std::size_t right, const float* w, const float* tau0, const float* tau1, const float* pad,
    const float* scale, const float* bias, float slope, float* ub, float* yb) {
  const std::size_t taps = left + right + 1, tp = t + left + right;
  constexpr std::size_t L = simd::lanes<V>;
  // The five-tap loop below reads the pad frames' levels from `pad` itself (all its channels
  // run there when dim % L == 0), so they are not copied into u first (a copy per pad frame
  // and block was 1 % of the 8-block network's time).
  const bool pad_direct = taps == 5 && !fp && dim % L == 0;
  for (std::size_t f = 0; f < tp; ++f) {
    float* uf = ub + f * dim;
    if (dual && !fp && f >= left && f + 1 < left + t) {
      constexpr bool wide = BIFSMN_HAVE_SHUFFLEVECTOR && simd::lanes<V> == 16;
      dual_frame_levels2<wide>(xb + (f - left) * dim, xb + (f + 1 - left) * dim, tau0, tau1, dim,
                               uf, uf + dim);
      ++f;
      continue;
    }
    if (f < left || f >= left + t) {
      if (fp) {
        std::fill(uf, uf + dim, 0.0f);
      } else if (!pad_direct) {
        std::copy(pad, pad + dim, uf);
      }
      continue;
    }
    const float* v = xb + (f - left) * dim;
    if (fp) {
      std::copy(v, v + dim, uf);
    } else if (!dual) {
      for (std::size_t c = 0; c < dim; ++c) uf[c] = v[c] >= 0.0f ? 1.0f : -1.0f;
    } else {
      dual_frame_levels(v, tau0, tau1, dim, uf);
    }
  }
  // Taps: acc = 0; acc = acc + w[k]*u[t+k] in tap order, per channel.
  const auto frame = [&](std::size_t f) -> const float* {
    return pad_direct && (f < left || f >= left + t) ? pad : ub + f * dim;
  };
  std::size_t c_done = 0;
  if (taps == 5) {
    // Five taps (every model here: left = right = 2): one vector of channels at a time, its
    // weights, scale and bias in registers for all frames and the five frames a window reads
    // slid along in registers, so each output vector loads one new u and its residual instead
    // of ten weights and levels (the loop below was bound by its loads: `ops_bench` memory
    // 0.66 -> 0.49 us on an AMD Zen 4, docs/results/engine-s50). The same operations per
    // channel, in the same order.
    for (; c_done + L <= dim; c_done += L) {
      const std::size_t c = c_done;
      V w0, w1, w2, w3, w4, bs, sc = {};
      __builtin_memcpy(&w0, w + 0 * dim + c, sizeof w0);
      __builtin_memcpy(&w1, w + 1 * dim + c, sizeof w1);
      __builtin_memcpy(&w2, w + 2 * dim + c, sizeof w2);
      __builtin_memcpy(&w3, w + 3 * dim + c, sizeof w3);
      __builtin_memcpy(&w4, w + 4 * dim + c, sizeof w4);
      __builtin_memcpy(&bs, bias + c, sizeof bs);
      if (!fp) __builtin_memcpy(&sc, scale + c, sizeof sc);
      V u0, u1, u2, u3;
      __builtin_memcpy(&u0, frame(0) + c, sizeof u0);
      __builtin_memcpy(&u1, frame(1) + c, sizeof u1);
      __builtin_memcpy(&u2, frame(2) + c, sizeof u2);
      __builtin_memcpy(&u3, frame(3) + c, sizeof u3);
      for (std::size_t tt = 0; tt < t; ++tt) {
        V u4, xs;
        __builtin_memcpy(&u4, frame(tt + 4) + c, sizeof u4);
        __builtin_memcpy(&xs, xb + tt * dim + c, sizeof xs);
        V acc = {};
        acc = acc + w0 * u0;
        acc = acc + w1 * u1;
        acc = acc + w2 * u2;
        acc = acc + w3 * u3;
        acc = acc + w4 * u4;
        const V z = fp ? acc + bs : sc * acc + bs;
        const V neg = slope * z;
        const V out = (z >= 0.0f ? z : neg) + xs;
        __builtin_memcpy(yb + tt * dim + c, &out, sizeof out);
        u0 = u1;
        u1 = u2;
        u2 = u3;
        u3 = u4;
      }
    }
  }
  for (std::size_t tt = 0; tt < t; ++tt) {
    const float* xr = xb + tt * dim;
    float* yr = yb + tt * dim;
    std::size_t c = c_done;
    // Four vectors of channels at once: each channel's taps are a chain of dependent adds, so
    // four independent chains per tap keep the adder busy (same operations per channel).
    for (; c + 4 * L <= dim; c += 4 * L) {
      V acc[4] = {};
      for (std::size_t kk = 0; kk < taps; ++kk) {
        for (std::size_t j = 0; j < 4; ++j) {
          V wk, uk;
          __builtin_memcpy(&wk, w + kk * dim + c + j * L, sizeof wk);
          __builtin_memcpy(&uk, ub + (tt + kk) * dim + c + j * L, sizeof uk);
          acc[j] = acc[j] + wk * uk;
        }
      }
      for (std::size_t j = 0; j < 4; ++j) {
        V bs, xs, z;
        __builtin_memcpy(&bs, bias + c + j * L, sizeof bs);
        __builtin_memcpy(&xs, xr + c + j * L, sizeof xs);
        if (fp) {
          z = acc[j] + bs;
        } else {
          V sc;
          __builtin_memcpy(&sc, scale + c + j * L, sizeof sc);
          z = sc * acc[j] + bs;
        }
        const V neg = slope * z;
        const V out = (z >= 0.0f ? z : neg) + xs;
        __builtin_memcpy(yr + c + j * L, &out, sizeof out);
      }
    }
    for (; c + L <= dim; c += L) {
      V acc = {};
      for (std::size_t kk = 0; kk < taps; ++kk) {
        V wk, uk;
        __builtin_memcpy(&wk, w + kk * dim + c, sizeof wk);
        __builtin_memcpy(&uk, ub + (tt + kk) * dim + c, sizeof uk);
        acc = acc + wk * uk;
      }
      V bs, xs, z;
      __builtin_memcpy(&bs, bias + c, sizeof bs);
      __builtin_memcpy(&xs, xr + c, sizeof xs);
      if (fp) {
        z = acc + bs;
      } else {
        V sc;
        __builtin_memcpy(&sc, scale + c, sizeof sc);
        z = sc * acc + bs;
      }
      const V neg = slope * z;
      const V out = (z >= 0.0f ? z : neg) + xs;
      __builtin_memcpy(yr + c, &out, sizeof out);
    }
    for (; c < dim; ++c) {
      float acc = 0.0f;
      for (std::size_t kk = 0; kk < taps; ++kk) acc = acc + w[kk * dim + c] * ub[(tt + kk) * dim + c];
      const float z = fp ? acc + bias[c] : scale[c] * acc + bias[c];
      const float neg = slope * z;
      yr[c] = (z >= 0.0f ? z : neg) + xr[c];
    }
  }
}

#define BIFSMN_MEMORY_ARGS                                                                     \
  bool fp, bool dual, const float *xb, std::size_t t, std::size_t dim, std::size_t left,        \
      std::size_t right, const float *w, const float *tau0, const float *tau1, const float *pad, \
      const float *scale, const float *bias, float slope, float *ub, float *yb
#define BIFSMN_MEMORY_CALL(V)                                                              \
  memory_clip_t<V>(fp, dual, xb, t, dim, left, right, w, tau0, tau1, pad, scale, bias, slope, \
                   ub, yb)
BIFSMN_SIMD_VARIANTS(memory_clip, (BIFSMN_MEMORY_ARGS), BIFSMN_MEMORY_CALL, simd::f32x16,
                     simd::f32x8, simd::f32x4)
#undef BIFSMN_MEMORY_ARGS
#undef BIFSMN_MEMORY_CALL

// Levels of one frame (reference): u[c] = b1 + s * b2 (dual), sign (v1), the value (FP).
void levels_reference(const Memory& p, const float* v, float* u) {
  const std::size_t dim = p.dim;
  if (p.fp) {
    std::copy(v, v + dim, u);
    return;
  }
  if (!p.dual) {
    for (std::size_t c = 0; c < dim; ++c) u[c] = v[c] >= 0.0f ? 1.0f : -1.0f;
    return;
  }
  std::vector<float> b1(dim), b2(dim), absr(dim);
  for (std::size_t c = 0; c < dim; ++c) {
    const float d = v[c] - p.tau0[c];
    b1[c] = d >= 0.0f ? 1.0f : -1.0f;
    const float r = (v[c] - b1[c]) - p.tau1[c];
    b2[c] = r >= 0.0f ? 1.0f : -1.0f;
    absr[c] = r < 0.0f ? -r : r;
  }
  const float s = sum8_reference(absr.data(), dim) / static_cast<float>(dim);
  for (std::size_t c = 0; c < dim; ++c) u[c] = b1[c] + s * b2[c];
}

}  // namespace

Buffer<float> memory_pad_levels(std::size_t dim, bool dual, const float* tau0,
                                const float* tau1) {
  Buffer<float> pad(dim, 1.0f);  // sign mode: a zero pad frame quantizes to +1
  if (dual) {
    // Pad frames hold v = 0 and are quantized like real frames (one shared s).
    std::vector<float> zero(dim, 0.0f), d(dim), r(dim), ab(dim);
    detail::dual_split(zero.data(), tau0, tau1, dim, d.data(), r.data(), ab.data());
    const float s = detail::sum8(ab.data(), dim) / static_cast<float>(dim);
    detail::dual_levels(d.data(), r.data(), s, pad.data(), dim);
  }
  return pad;
}

void memory_reference(const Memory& p, const float* x, std::size_t t, float* y) {
  const std::size_t dim = p.dim, tp = t + p.left + p.right;
  std::vector<float> u(tp * dim, 0.0f);
  const std::vector<float> zero(dim, 0.0f);
  for (std::size_t f = 0; f < tp; ++f) {
    const bool inside = f >= p.left && f < p.left + t;
    if (!inside && p.fp) continue;  // FP pads are zeros
    levels_reference(p, inside ? x + (f - p.left) * dim : zero.data(), u.data() + f * dim);
  }
  for (std::size_t tt = 0; tt < t; ++tt) {
    for (std::size_t c = 0; c < dim; ++c) {
      float acc = 0.0f;
      for (std::size_t kk = 0; kk < p.taps(); ++kk) {
        acc = acc + p.w[kk * dim + c] * u[(tt + kk) * dim + c];
      }
      const float z = p.fp ? acc + p.bias[c] : p.scale[c] * acc + p.bias[c];
      y[tt * dim + c] = act(z, p.slope) + x[tt * dim + c];
    }
  }
}

void MemoryWork::reserve(const Memory& p, std::size_t t) {
  grow(u, (t + p.left + p.right) * p.dim);
}

void memory_fwd(const Memory& p, const float* x, std::size_t B, std::size_t t, MemoryWork& work,
                float* y, const BinaryLinear* next, LinearWork* next_work) {
  work.reserve(p, t);
  if (next) begin_rows(*next, B * t, *next_work);
  const auto memory_clip = simd::pick(memory_clip16, memory_clip8, memory_clip4);
  for (std::size_t b = 0; b < B; ++b) {
    memory_clip(p.fp, p.dual, x + b * t * p.dim, t, p.dim, p.left, p.right, p.w, p.tau0, p.tau1,
                p.pad, p.scale, p.bias, p.slope, work.u.data(), y + b * t * p.dim);
    if (next) {
      const float* yb = y + b * t * p.dim;
      std::size_t tt = 0;
      for (; tt + 2 <= t; tt += 2) {
        binarize_row2(*next, yb + tt * p.dim, yb + (tt + 1) * p.dim, b * t + tt, *next_work);
      }
      if (tt < t) binarize_row(*next, yb + tt * p.dim, b * t + tt, *next_work);
    }
  }
}

}  // namespace bifsmn::ops
