#include "memory.h"

#include <algorithm>

#include "../binarize/binarize.h"

namespace bifsmn::ops {

namespace {

// FSMN memory of one clip: u = quantized padded frames, then per output frame acc = sum of taps
// in order, y = act(scale*acc + bias) + x.
BIFSMN_CLONES
void memory_clip(bool fp, bool dual, const float* xb, std::size_t t, std::size_t dim,
                 std::size_t left, std::size_t right, const float* w, const float* tau0,
                 const float* tau1, const float* pad, const float* scale, const float* bias,
                 float slope, float* ub, float* qd, float* qr, float* qa, float* yb) {
  const std::size_t taps = left + right + 1, tp = t + left + right;
  for (std::size_t f = 0; f < tp; ++f) {
    float* uf = ub + f * dim;
    if (f < left || f >= left + t) {
      if (fp) {
        std::fill(uf, uf + dim, 0.0f);
      } else {
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
      detail::dual_split(v, tau0, tau1, dim, qd, qr, qa);
      const float sf = detail::sum8(qa, dim) / static_cast<float>(dim);
      detail::dual_levels(qd, qr, sf, uf, dim);
    }
  }
  // Taps: acc = 0; acc = acc + w[k]*u[t+k] in tap order, per channel; channels in chunks whose
  // accumulators stay in registers across the taps.
  constexpr std::size_t kChunk = 64;
  for (std::size_t tt = 0; tt < t; ++tt) {
    for (std::size_t c0 = 0; c0 < dim; c0 += kChunk) {
      const std::size_t n = dim - c0 < kChunk ? dim - c0 : kChunk;
      float acc[kChunk];
      for (std::size_t c = 0; c < n; ++c) acc[c] = 0.0f;
      for (std::size_t kk = 0; kk < taps; ++kk) {
        const float* wk = w + kk * dim + c0;
        const float* uk = ub + (tt + kk) * dim + c0;
        for (std::size_t c = 0; c < n; ++c) acc[c] = acc[c] + wk[c] * uk[c];
      }
      detail::affine_act_res(acc, fp ? nullptr : scale + c0, bias + c0, slope,
                             xb + tt * dim + c0, yb + tt * dim + c0, n);
    }
  }
}

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

std::vector<float> memory_pad_levels(std::size_t dim, bool dual, const float* tau0,
                                     const float* tau1) {
  std::vector<float> pad(dim, 1.0f);  // sign mode: a zero pad frame quantizes to +1
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
  grow(d, p.dim);
  grow(r, p.dim);
  grow(a, p.dim);
}

void memory_fwd(const Memory& p, const float* x, std::size_t B, std::size_t t, MemoryWork& work,
                float* y, const BinaryLinear* next, LinearWork* next_work) {
  work.reserve(p, t);
  if (next) begin_rows(*next, B * t, *next_work);
  for (std::size_t b = 0; b < B; ++b) {
    memory_clip(p.fp, p.dual, x + b * t * p.dim, t, p.dim, p.left, p.right, p.w, p.tau0, p.tau1,
                p.pad, p.scale, p.bias, p.slope, work.u.data(), work.d.data(), work.r.data(),
                work.a.data(), y + b * t * p.dim);
    if (next) {
      for (std::size_t tt = 0; tt < t; ++tt) {
        binarize_row(*next, y + (b * t + tt) * p.dim, b * t + tt, *next_work);
      }
    }
  }
}

}  // namespace bifsmn::ops
