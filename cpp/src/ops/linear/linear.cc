#include "linear.h"

#include "../binarize/binarize.h"
#include "bifsmn/bitpack.h"

namespace bifsmn::ops {

namespace {

// Epilogue of `rows` rows (detail::epilogue per row).
[[gnu::always_inline]] inline void epilogue_rows_body(const std::int32_t* d1,
                                                      const std::int32_t* d2, const float* s,
                                                      const float* scale, const float* bias,
                                                      float slope, const float* res, float* y,
                                                      std::size_t rows, std::size_t n) {
  for (std::size_t r = 0; r < rows; ++r) {
    detail::epilogue(d1 + r * n, d2 ? d2 + r * n : nullptr, d2 ? s[r] : 0.0f, scale, bias,
                     slope, res ? res + r * n : nullptr, y + r * n, n);
  }
}
BIFSMN_ISA_CLONES(void, epilogue_rows,
                  (const std::int32_t* d1, const std::int32_t* d2, const float* s,
                   const float* scale, const float* bias, float slope, const float* res, float* y,
                   std::size_t rows, std::size_t n),
                  (d1, d2, s, scale, bias, slope, res, y, rows, n))

}  // namespace

void linear_binary_reference(const BinaryLinear& L, const Epilogue& e, const float* x,
                             std::size_t rows, float* y) {
  std::vector<float> b1(L.in), b2(L.in), absr(L.in);
  for (std::size_t t = 0; t < rows; ++t) {
    const float* v = x + t * L.in;
    float s = 0.0f;
    for (std::size_t i = 0; i < L.in; ++i) {
      if (L.dual) {
        const float d = v[i] - L.tau0[i];
        b1[i] = d >= 0.0f ? 1.0f : -1.0f;
        const float r = (v[i] - b1[i]) - L.tau1[i];
        b2[i] = r >= 0.0f ? 1.0f : -1.0f;
        absr[i] = r < 0.0f ? -r : r;
      } else {
        b1[i] = v[i] >= 0.0f ? 1.0f : -1.0f;
      }
    }
    if (L.dual) s = sum8_reference(absr.data(), L.in) / static_cast<float>(L.in);
    for (std::size_t o = 0; o < L.out; ++o) {
      const std::uint64_t* row = L.w + o * L.words;
      long d1 = 0, d2 = 0;
      for (std::size_t i = 0; i < L.in; ++i) {
        const long sg = packed_bit(row, i) ? -1 : 1;
        d1 += sg * static_cast<long>(b1[i]);
        if (L.dual) d2 += sg * static_cast<long>(b2[i]);
      }
      float d = static_cast<float>(d1);
      if (L.dual) d = d + s * static_cast<float>(d2);
      float out = act(e.scale[o] * d + e.bias[o], e.slope);
      if (e.res) out = out + e.res[t * L.out + o];
      y[t * L.out + o] = out;
    }
  }
}

void LinearWork::reserve(std::size_t rows, std::size_t in, std::size_t out) {
  grow(abits, 2 * rows * packed_row_words(in));
  grow(dots, 2 * rows * out);
  grow(s, rows);
  grow(d, in);
  grow(r, in);
  grow(absr, in);
  grow(row, 2 * out);
}

void begin_rows(const BinaryLinear& L, std::size_t rows, LinearWork& work) {
  work.reserve(rows, L.in, L.out);
  work.rows = rows;
}

void binarize_row(const BinaryLinear& L, const float* v, std::size_t r, LinearWork& work) {
  // Row r -> packed row r of A1 (b1 = sign(v - tau0)) and, in dual mode, row rows + r of A2
  // (b2 = sign(r), r = v - b1 - tau1) and s[r] = mean |r|.
  const std::size_t k = L.in, words = L.words;
  std::uint64_t* a1 = work.abits.data() + r * words;
  if (L.dual) {
    std::uint64_t* a2 = work.abits.data() + (work.rows + r) * words;
    work.s[r] = detail::quant_row_dual(v, L.tau0, L.tau1, k, a1, a2, words, work.d.data(),
                                       work.r.data(), work.absr.data()) /
                static_cast<float>(k);
  } else {
    detail::pack_neg(v, k, a1, words);
  }
}

void binarize_row2(const BinaryLinear& L, const float* v0, const float* v1, std::size_t r,
                   LinearWork& work) {
  if (!L.dual) {
    binarize_row(L, v0, r, work);
    binarize_row(L, v1, r + 1, work);
    return;
  }
  const std::size_t k = L.in, words = L.words;
  std::uint64_t* a1 = work.abits.data() + r * words;
  std::uint64_t* a2 = work.abits.data() + (work.rows + r) * words;
  float sums[2];
  detail::quant_rows2_dual(v0, v1, L.tau0, L.tau1, k, a1, a2, a1 + words, a2 + words, words,
                           sums, work.d.data(), work.r.data(), work.absr.data());
  work.s[r] = sums[0] / static_cast<float>(k);
  work.s[r + 1] = sums[1] / static_cast<float>(k);
}

void binarize_rows(const BinaryLinear& L, const float* x, std::size_t rows, LinearWork& work) {
  begin_rows(L, rows, work);
  std::size_t r = 0;
  for (; r + 2 <= rows; r += 2) binarize_row2(L, x + r * L.in, x + (r + 1) * L.in, r, work);
  if (r < rows) binarize_row(L, x + r * L.in, r, work);
}

void linear_binary_packed(const BinaryLinear& L, const Epilogue& e, const Kernel& kern,
                          LinearWork& work, float* y, GemmStats* stats) {
  const std::size_t rows = work.rows, mrows = (L.dual ? 2 : 1) * rows;
  timed_binary_gemm(kern, work.abits.data(), L.w, L.wp, work.dots.data(), mrows, L.out, L.in, stats);
  const std::int32_t* d1 = work.dots.data();
  const std::int32_t* d2 = work.dots.data() + rows * L.out;
  epilogue_rows(d1, L.dual ? d2 : nullptr, work.s.data(), e.scale, e.bias, e.slope, e.res, y,
                rows, L.out);
}

void linear_binary_to_bits(const BinaryLinear& L, const Epilogue& e, const Kernel& kern,
                           LinearWork& work, const BinaryLinear& next, LinearWork& next_work,
                           GemmStats* stats) {
  const std::size_t rows = work.rows, n = L.out, mrows = (L.dual ? 2 : 1) * rows;
  timed_binary_gemm(kern, work.abits.data(), L.w, L.wp, work.dots.data(), mrows, n, L.in, stats);
  const std::int32_t* d1 = work.dots.data();
  const std::int32_t* d2 = work.dots.data() + rows * n;
  begin_rows(next, rows, next_work);
  float* row = work.row.data();  // two rows: binarized together (binarize_row2)
  std::size_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    epilogue_rows(d1 + r * n, L.dual ? d2 + r * n : nullptr, work.s.data() + r, e.scale, e.bias,
                  e.slope, e.res ? e.res + r * n : nullptr, row, 2, n);
    binarize_row2(next, row, row + n, r, next_work);
  }
  if (r < rows) {
    epilogue_rows(d1 + r * n, L.dual ? d2 + r * n : nullptr, work.s.data() + r, e.scale, e.bias,
                  e.slope, e.res ? e.res + r * n : nullptr, row, 1, n);
    binarize_row(next, row, r, next_work);
  }
}

SignThresholds sign_thresholds(const BinaryLinear& L, const Epilogue& e) {
  SignThresholds th;
  th.lo.assign(L.out, 1);
  th.hi.assign(L.out, 0);
  if (L.dual || e.res) return th;  // not a function of one integer
  if (static_cast<double>(L.in) * static_cast<double>(L.out) > 5e7) return th;  // load time bound
  th.exact = true;
  const long k = static_cast<long>(L.in);
  for (std::size_t o = 0; o < L.out; ++o) {
    long lo = 1, hi = 0, count = 0;
    for (long d = -k; d <= k; d += 2) {
      // exactly the float epilogue (detail::epilogue, sign mode) and the sign of pack_neg
      const float z = e.scale[o] * static_cast<float>(d) + e.bias[o];
      const float neg = e.slope * z;
      const float y = z >= 0.0f ? z : neg;
      if (y >= 0.0f) {
        if (count == 0) lo = d;
        hi = d;
        ++count;
      }
    }
    // an interval of the lattice: every D from lo to hi (step 2) is in the set
    if (count > 0 && (hi - lo) / 2 + 1 != count) th.exact = false;
    th.lo[o] = static_cast<std::int32_t>(lo);
    th.hi[o] = static_cast<std::int32_t>(hi);
  }
  return th;
}

namespace {
// Bits of !(lo[o] <= d[o] <= hi[o]) for o < n (bit set <=> -1), all `words` written.
[[gnu::always_inline]] inline void threshold_pack_body(const std::int32_t* __restrict__ d,
                                                       const std::int32_t* __restrict__ lo,
                                                       const std::int32_t* __restrict__ hi,
                                                       std::size_t n,
                                                       std::uint64_t* __restrict__ out,
                                                       std::size_t words) {
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t bits = 0;
    const std::size_t base = w * 64, m = base >= n ? 0 : (n - base < 64 ? n - base : 64);
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t o = base + i;
      const bool in = (d[o] >= lo[o]) & (d[o] <= hi[o]);
      bits |= static_cast<std::uint64_t>(!in) << i;
    }
    out[w] = bits;
  }
}
BIFSMN_ISA_CLONES(void, threshold_pack,
                  (const std::int32_t* __restrict__ d, const std::int32_t* __restrict__ lo,
                   const std::int32_t* __restrict__ hi, std::size_t n,
                   std::uint64_t* __restrict__ out, std::size_t words),
                  (d, lo, hi, n, out, words))
}  // namespace

void linear_binary_to_sign_bits(const BinaryLinear& L, const SignThresholds& th,
                                const Kernel& kern, LinearWork& work, const BinaryLinear& next,
                                LinearWork& next_work, GemmStats* stats) {
  const std::size_t rows = work.rows, n = L.out;
  timed_binary_gemm(kern, work.abits.data(), L.w, L.wp, work.dots.data(), rows, n, L.in, stats);
  begin_rows(next, rows, next_work);
  for (std::size_t r = 0; r < rows; ++r) {
    threshold_pack(work.dots.data() + r * n, th.lo.data(), th.hi.data(), n,
                   next_work.abits.data() + r * next.words, next.words);
  }
}

void linear_binary(const BinaryLinear& L, const Epilogue& e, const Kernel& kern, const float* x,
                   std::size_t rows, LinearWork& work, float* y, GemmStats* stats) {
  binarize_rows(L, x, rows, work);
  linear_binary_packed(L, e, kern, work, y, stats);
}

}  // namespace bifsmn::ops
