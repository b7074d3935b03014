// The engine's ops (cpp/src/ops/*): each op's optimized version against its plain reference on
// many random shapes (bit for bit on the binary models' arithmetic, under every kernel this CPU
// runs), with inputs on a coarse grid so that values land exactly on binarization thresholds
// (ties). With --golden DIR: each reference op against the values the Python deployed reference
// wrote into DIR (tests/test_ops_golden.py), so C++ and Python are tied by a test.
//
//   test_ops [--golden DIR] [rounds]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "bifsmn/bitpack.h"
#include "bifsmn/gate.h"
#include "bifsmn/kernels.h"
#include "ops/binarize/binarize.h"
#include "ops/classifier/classifier.h"
#include "ops/conv1/conv1.h"
#include "ops/simd.h"
#include "ops/conv2/conv2.h"
#include "ops/conv2/pixel.h"
#include "ops/frontend/frontend.h"
#include "ops/frontend/mel.h"
#include "ops/frontend/reference.h"
#include "ops/linear/linear.h"
#include "ops/memory/memory.h"

namespace {

using namespace bifsmn;
using bifsmn::testing::check;

bool same_bits(const float* a, const float* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}
bool same_bits(const double* a, const double* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(double)) == 0;
}

std::mt19937_64 rng(12345);
int irand(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool coin() { return irand(0, 1) == 1; }

// Values on a grid of 1/4 in [-range, range]: exact ties with thresholds on the same grid.
float grid(float range) {
  const int steps = static_cast<int>(range * 4);
  return static_cast<float>(irand(-steps, steps)) * 0.25f;
}
// Either a grid value or a generic float.
float value(float range) {
  if (coin()) return grid(range);
  return std::uniform_real_distribution<float>(-range, range)(rng);
}
std::vector<float> values(std::size_t n, float range) {
  std::vector<float> v(n);
  for (float& x : v) x = value(range);
  return v;
}
std::vector<std::uint64_t> random_bits(std::size_t rows, std::size_t k) {
  const std::size_t words = packed_row_words(k);
  std::vector<std::uint64_t> w(std::max<std::size_t>(rows * words, 1), 0);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < k; ++i) {
      if (coin()) w[r * words + i / 64] |= std::uint64_t{1} << (i % 64);
    }
  }
  return w;
}
// Scales of either sign (negative scales flip the comparisons downstream), some zero.
std::vector<float> scales(std::size_t n) {
  std::vector<float> v(n);
  for (float& x : v) {
    const int c = irand(0, 9);
    x = c == 0 ? 0.0f : (c < 3 ? -1.0f : 1.0f) * std::uniform_real_distribution<float>(0.01f, 2.0f)(rng);
  }
  return v;
}
// Thresholds such that many inputs on the grid hit d = 0 or r = 0 exactly.
void thresholds(std::size_t n, std::vector<float>& t0, std::vector<float>& t1) {
  t0.resize(n);
  t1.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    t0[i] = coin() ? grid(1.0f) : value(1.0f);
    t1[i] = coin() ? grid(1.0f) : value(1.0f);
  }
}

std::vector<const Kernel*> kernels() {
  std::vector<const Kernel*> out;
  for (std::string_view name : available_kernels()) out.push_back(&get_kernel(name));
  return out;
}

// ---------------------------------------------------------------- random shapes

void test_binarize(int rounds) {
  bool ok_dual = true, ok_sign = true, ok_sum = true;
  int n_isa = 0;
  for (int it = 0; it < rounds * 20; ++it) {
    const std::size_t k = static_cast<std::size_t>(irand(1, 700)), words = packed_row_words(k);
    std::vector<float> v = values(k, 3.0f), t0, t1;
    thresholds(k, t0, t1);
    // force exact ties: d = 0 and r = 0
    for (std::size_t i = 0; i < k; i += 3) v[i] = t0[i];
    // the optimized versions test v >= tau0 where the definition tests v - tau0 >= 0 (the
    // same for finite values with gradual underflow): neighbours of the threshold, subnormal
    // thresholds and differences, and signed zeros
    for (std::size_t i = 1; i < k; i += 4) {
      const int c = irand(0, 5);
      if (c == 0) v[i] = std::nextafter(t0[i], 1e30f);
      if (c == 1) v[i] = std::nextafter(t0[i], -1e30f);
      if (c == 2) t0[i] = std::ldexp(static_cast<float>(irand(-3, 3)), -149), v[i] = 0.0f;
      if (c == 3) t0[i] = 1e-38f, v[i] = std::nextafter(1e-38f, coin() ? 1.0f : -1.0f);
      if (c == 4) t0[i] = coin() ? 0.0f : -0.0f, v[i] = coin() ? 0.0f : -0.0f;
    }
    for (std::size_t i = 1; i < k; i += 5) t1[i] = v[i] - ((v[i] - t0[i]) >= 0.0f ? 1.0f : -1.0f);
    std::vector<std::uint64_t> a1(words + 1, ~0ull), a2(words + 1, ~0ull), r1(words), r2(words);
    std::vector<float> d(k), r(k), ab(k);
    const float s = detail::quant_row_dual(v.data(), t0.data(), t1.data(), k, a1.data(),
                                           a2.data(), words, d.data(), r.data(), ab.data());
    const float sr = ops::binarize_dual_reference(v.data(), t0.data(), t1.data(), k, r1.data(),
                                                  r2.data(), words);
    ok_dual = ok_dual && std::memcmp(&s, &sr, 4) == 0 &&
              std::equal(r1.begin(), r1.end(), a1.begin()) &&
              std::equal(r2.begin(), r2.end(), a2.begin());
#if defined(__x86_64__)
    // Every ISA version this CPU runs, not only the one quant_row_dual dispatches to.
    using RowFn = float (*)(const float*, const float*, const float*, std::size_t,
                            std::uint64_t*, std::uint64_t*, std::size_t) noexcept;
    std::vector<RowFn> fns;
    if (detail::have_avx2()) fns.push_back(detail::quant_row_dual_avx2);
    if (detail::have_avx512()) fns.push_back(detail::quant_row_dual_avx512);
    for (RowFn fn : fns) {
      std::vector<std::uint64_t> b1(words + 1, ~0ull), b2(words + 1, ~0ull);
      const float sv = fn(v.data(), t0.data(), t1.data(), k, b1.data(), b2.data(), words);
      ok_dual = ok_dual && std::memcmp(&sv, &sr, 4) == 0 &&
                std::equal(r1.begin(), r1.end(), b1.begin()) &&
                std::equal(r2.begin(), r2.end(), b2.begin()) && b1[words] == ~0ull &&
                b2[words] == ~0ull;
      ++n_isa;
    }
    // Two rows at once (the second a different row, same thresholds): each row as above.
    std::vector<float> v2 = values(k, 3.0f);
    for (std::size_t i = 2; i < k; i += 7) v2[i] = t0[i];
    std::vector<std::uint64_t> q1(words), q2(words);
    const float sr2 = ops::binarize_dual_reference(v2.data(), t0.data(), t1.data(), k, q1.data(),
                                                   q2.data(), words);
    using Rows2Fn = void (*)(const float*, const float*, const float*, const float*, std::size_t,
                             std::uint64_t*, std::uint64_t*, std::uint64_t*, std::uint64_t*,
                             std::size_t, float*) noexcept;
    std::vector<Rows2Fn> fns2;
    if (detail::have_avx2()) fns2.push_back(detail::quant_rows2_dual_avx2);
    if (detail::have_avx512()) fns2.push_back(detail::quant_rows2_dual_avx512);
    for (Rows2Fn fn : fns2) {
      std::vector<std::uint64_t> b(4 * (words + 1), ~0ull);
      std::uint64_t* p0 = b.data();
      std::uint64_t* p1 = p0 + (words + 1);
      std::uint64_t* p2 = p1 + (words + 1);
      std::uint64_t* p3 = p2 + (words + 1);
      float sums[2];
      fn(v.data(), v2.data(), t0.data(), t1.data(), k, p0, p1, p2, p3, words, sums);
      ok_dual = ok_dual && std::memcmp(&sums[0], &sr, 4) == 0 &&
                std::memcmp(&sums[1], &sr2, 4) == 0 && std::equal(r1.begin(), r1.end(), p0) &&
                std::equal(r2.begin(), r2.end(), p1) && std::equal(q1.begin(), q1.end(), p2) &&
                std::equal(q2.begin(), q2.end(), p3) && p0[words] == ~0ull &&
                p1[words] == ~0ull && p2[words] == ~0ull && p3[words] == ~0ull;
      ++n_isa;
    }
#endif
    std::vector<std::uint64_t> sb(words), sref(words);
    detail::pack_neg(v.data(), k, sb.data(), words);
    ops::binarize_sign_reference(v.data(), k, sref.data(), words);
    ok_sign = ok_sign && sb == sref;
    const float x = detail::sum8(v.data(), k), y = ops::sum8_reference(v.data(), k);
    ok_sum = ok_sum && std::memcmp(&x, &y, 4) == 0;
  }
  check(ok_dual, "binarize: dual-scale row (quant_row_dual and its " + std::to_string(n_isa) +
                     " ISA-version runs) == reference, random k, ties");
  check(ok_sign, "binarize: sign row (pack_neg) == reference");
  check(ok_sum, "binarize: sum8 == reference");
}

// conv2's input bit planes (detail::planes_dual_*; dispatched by CPU and width, so called
// directly here): every ISA version against a scalar reference written from the definition
// (docs/binary-arithmetic.md: the dual-scale split per value, |r| summed by sum8 in element
// order over the whole clip), bits and sum bit for bit, with ties at both thresholds. The conv2
// test alone would miss a changed sum order: one ulp of s rarely reaches conv2's outputs.
void test_planes(int rounds) {
#if defined(__x86_64__)
  bool ok = true;
  int n = 0;
  using PlanesFn = float (*)(const float*, const float*, const float*, std::size_t, std::size_t,
                             std::size_t, int, std::size_t, std::uint64_t*,
                             std::uint64_t*) noexcept;
  for (int it = 0; it < rounds * 4; ++it) {
    const std::size_t channels = static_cast<std::size_t>(irand(1, 20));
    const std::size_t rows = static_cast<std::size_t>(irand(1, 24));
    const int shift = irand(0, 3);
    const std::size_t cols = 8 * static_cast<std::size_t>(irand(1, (64 - shift) / 8));
    const std::size_t stride = rows + 2 * static_cast<std::size_t>(shift) + 1;
    const std::size_t count = channels * rows * cols;
    std::vector<float> v = values(count, 3.0f), t0, t1;
    thresholds(channels, t0, t1);
    for (std::size_t i = 0; i < count; i += 5) v[i] = t0[i / (rows * cols)];  // d = 0
    std::vector<std::uint64_t> r1(channels * stride, 7), r2(channels * stride, 7);
    std::vector<float> absr(count);
    for (std::size_t c = 0; c < channels; ++c) {
      for (std::size_t row = 0; row < rows; ++row) {
        std::uint64_t w1 = 0, w2 = 0;
        for (std::size_t col = 0; col < cols; ++col) {
          const std::size_t e = (c * rows + row) * cols + col;
          const float d = v[e] - t0[c];
          const float b1 = d >= 0.0f ? 1.0f : -1.0f;
          const float r = (v[e] - b1) - t1[c];
          absr[e] = r < 0.0f ? -r : r;
          w1 |= static_cast<std::uint64_t>(!(d >= 0.0f)) << col;
          w2 |= static_cast<std::uint64_t>(!(r >= 0.0f)) << col;
        }
        r1[c * stride + row] = w1 << shift;
        r2[c * stride + row] = w2 << shift;
      }
    }
    const float sr = ops::sum8_reference(absr.data(), count);
    std::vector<PlanesFn> fns;
    if (detail::have_avx2()) fns.push_back(detail::planes_dual_avx2);
    if (detail::have_avx512() && cols % 16 == 0) fns.push_back(detail::planes_dual_avx512);
    for (PlanesFn fn : fns) {
      std::vector<std::uint64_t> a1(channels * stride, 7), a2(channels * stride, 7);
      const float sv = fn(v.data(), t0.data(), t1.data(), channels, rows, cols, shift, stride,
                          a1.data(), a2.data());
      ok = ok && std::memcmp(&sv, &sr, 4) == 0 && a1 == r1 && a2 == r2;
      ++n;
    }
  }
  check(ok, "conv2 input planes: " + std::to_string(n) +
                " ISA-version runs == the definition (bits, sum8 bit for bit), ties");
#else
  (void)rounds;
#endif
}

void test_conv1(int rounds) {
  bool ok = true;
  double worst_fp = 0;
  for (int it = 0; it < rounds; ++it) {
    ops::Conv1 p;
    p.H = 2 * irand(1, 24);
    p.W = 2 * irand(1, 24);
    p.k = 2 * irand(0, 3) + 1;
    p.c1 = irand(1, 20);
    std::vector<float> w = values(p.c1 * p.taps(), 1.0f), b = values(p.c1, 1.0f);
    std::vector<float> img = values(static_cast<std::size_t>(p.H) * p.W, 40.0f);
    p.w = w.data();
    p.b = b.data();
    p.slope = value(1.0f);
    const std::size_t n = p.positions() * p.c1;
    std::vector<float> ref(n), got(n, NAN), col(p.col_size(), NAN);  // NaN: stale scratch
    ops::conv1_reference(p, img.data(), ref.data());
    ops::conv1_deployed(p, img.data(), col.data(), got.data());
    ok = ok && same_bits(ref.data(), got.data(), n);
    // a second image through the same scratch, its zero padding kept from the first call
    std::vector<float> img2 = values(img.size(), 40.0f), ref2(n), got2(n, NAN);
    ops::conv1_reference(p, img2.data(), ref2.data());
    ops::conv1_deployed(p, img2.data(), col.data(), got2.data(), true);
    ok = ok && same_bits(ref2.data(), got2.data(), n);
    for (const Kernel* kern : kernels()) {
      ops::conv1_fp(p, *kern, img.data(), col.data(), got.data());
      for (std::size_t i = 0; i < n; ++i) {
        worst_fp = std::max(worst_fp, std::fabs(static_cast<double>(got[i]) - ref[i]) /
                                          std::max(1.0, std::fabs(static_cast<double>(ref[i]))));
      }
    }
  }
  check(ok, "conv1: deployed order == reference bit for bit, " + std::to_string(rounds) +
                " random shapes, fresh (NaN-filled) scratch and scratch kept from a first call");
  check(worst_fp < 1e-4, "conv1: FP (float GEMM, every kernel) ~ reference, worst rel " +
                             std::to_string(worst_fp));
}

// A random conv2. Every other shape has the models' 16 input channels and fits the pixel-major
// path (ops/conv2/pixel.h), whose permuted weights `wpix` it then gets (taken where the CPU has
// AVX-512 VBMI + GFNI and the width is 16).
ops::Conv2Binary random_conv2(std::vector<std::uint64_t>& w, std::vector<std::uint64_t>& wpix,
                              std::vector<float>& t0, std::vector<float>& t1,
                              std::vector<float>& tau2, std::vector<float>& scale,
                              std::vector<float>& bias, ops::Conv2Tables& tab, bool dual) {
  ops::Conv2Binary p;
  const bool pixel = coin();
  p.s.k = pixel ? 2 * irand(0, 2) + 1 : 2 * irand(0, 3) + 1;
  p.s.c1 = pixel ? 16 : irand(1, 20);
  p.s.c2 = irand(1, 40);
  // h2 = 8 (the paper's front end) and 10 (fbank40's) often: the transposed token store's two cases
  p.s.h1 = irand(0, 3) == 0 ? 16 : irand(0, 3) == 0 ? 20 : 2 * irand(1, 12);
  p.s.w1 = 2 * irand(1, ((pixel ? 32 : 64) - 2 * p.s.pad()) / 2);
  p.dual = dual;
  p.words = packed_row_words(p.s.k2());
  w = random_bits(p.s.c2, p.s.k2());
  thresholds(p.s.c1, t0, t1);
  tau2 = values(p.s.c1, 1.0f);
  scale = scales(p.s.c2);
  bias = values(p.s.c2, 2.0f);
  tab = ops::conv2_tables(p.s, w.data(), p.words, scale.data(), bias.data(),
                          dual ? tau2.data() : nullptr);
  p.w = w.data();
  p.tau0 = t0.data();
  p.tau1 = t1.data();
  p.scale = scale.data();
  p.corr = tab.corr.data();
  p.bias_pos = tab.bias_pos.data();
  p.slope = value(1.0f);
  wpix.clear();
  if (ops::conv2_pixel_layout(p.s)) {
    const ops::Buffer<std::uint64_t> perm = ops::conv2_pixel_weights(p.s, w.data(), p.words);
    wpix.assign(perm.begin(), perm.end());
    p.wpix = wpix.data();
  }
  return p;
}

// Whether conv2_binary takes the pixel-major path for p (at every width and on every CPU since
// the portable grid; which grid and row builder it uses depends on both).
bool pixel_path(const ops::Conv2Binary& p) { return p.wpix && ops::conv2_pixel_layout(p.s); }

void test_conv2(int rounds) {
  bool ok = true;
  int n_cases = 0, n_pixel = 0;
  ops::Conv2Work shared;
  for (int it = 0; it < rounds; ++it) {
    const bool dual = it % 3 != 0;
    std::vector<std::uint64_t> w, wpix;
    std::vector<float> t0, t1, tau2, scale, bias;
    ops::Conv2Tables tab;
    const ops::Conv2Binary p = random_conv2(w, wpix, t0, t1, tau2, scale, bias, tab, dual);
    const std::size_t B = static_cast<std::size_t>(irand(1, 3));
    std::vector<float> x = values(B * p.s.in_size(), 2.0f);
    for (std::size_t i = 0; i < x.size(); i += 4) x[i] = t0[(i / (p.s.h1 * p.s.w1)) % p.s.c1];
    const std::size_t out = p.s.positions() * p.s.c2;
    std::vector<float> ref(B * out);
    for (std::size_t b = 0; b < B; ++b) {
      ops::conv2_binary_reference(p, x.data() + b * p.s.in_size(), ref.data() + b * out);
    }
    for (const Kernel* kern : kernels()) {
      ops::Conv2Work work;
      std::vector<float> got(B * out, NAN);
      ops::conv2_binary(p, *kern, x.data(), B, work, got.data(), nullptr);
      const bool same = same_bits(ref.data(), got.data(), B * out);
      if (!same) {
        std::printf("  conv2 mismatch: kernel %s dual %d c1 %d h1 %d w1 %d c2 %d k %d B %zu\n",
                    kern->name, dual, p.s.c1, p.s.h1, p.s.w1, p.s.c2, p.s.k, B);
      }
      ok = ok && same;
      ++n_cases;
      n_pixel += pixel_path(p) ? 1 : 0;
      // One scratch for every shape and batch, as an engine reuses its own across calls: what
      // a previous layout left (padding rows zeroed once per layout, tables) must not leak.
      std::fill(got.begin(), got.end(), NAN);
      ops::conv2_binary(p, *kern, x.data(), B, shared, got.data(), nullptr);
      ok = ok && same_bits(ref.data(), got.data(), B * out);
    }
  }
  check(ok, "conv2 binary: optimized == reference bit for bit, " + std::to_string(n_cases) +
                " (shape, kernel) cases (" + std::to_string(n_pixel) +
                " by the pixel-major rows), dual-scale and sign, fresh and reused scratch");
}

void test_linear(int rounds) {
  bool ok = true;
  int n_cases = 0;
  for (int it = 0; it < rounds; ++it) {
    ops::BinaryLinear L;
    L.in = static_cast<std::size_t>(irand(1, 600));
    L.out = static_cast<std::size_t>(irand(1, 300));
    L.words = packed_row_words(L.in);
    L.dual = it % 3 != 0;
    std::vector<std::uint64_t> w = random_bits(L.out, L.in);
    std::vector<float> t0, t1;
    thresholds(L.in, t0, t1);
    L.w = w.data();
    L.tau0 = t0.data();
    L.tau1 = t1.data();
    const std::size_t rows = static_cast<std::size_t>(irand(1, 24));
    std::vector<float> x = values(rows * L.in, 3.0f);
    for (std::size_t i = 0; i < x.size(); i += 3) x[i] = t0[i % L.in];
    std::vector<float> scale = scales(L.out), bias = values(L.out, 3.0f);
    std::vector<float> res = values(rows * L.out, 2.0f);
    ops::Epilogue e;
    e.scale = scale.data();
    e.bias = bias.data();
    e.slope = value(1.0f);
    e.res = coin() ? res.data() : nullptr;
    std::vector<float> ref(rows * L.out);
    ops::linear_binary_reference(L, e, x.data(), rows, ref.data());
    for (const Kernel* kern : kernels()) {
      ops::LinearWork work;
      std::vector<float> got(rows * L.out, NAN);
      ops::linear_binary(L, e, *kern, x.data(), rows, work, got.data(), nullptr);
      const bool same = same_bits(ref.data(), got.data(), rows * L.out);
      if (!same) {
        std::printf("  linear mismatch: kernel %s dual %d in %zu out %zu rows %zu\n", kern->name,
                    L.dual, L.in, L.out, rows);
      }
      ok = ok && same;
      ++n_cases;
    }
  }
  check(ok, "linear binary: optimized == reference bit for bit, " + std::to_string(n_cases) +
                " (shape, kernel) cases, dual-scale and sign, with and without residual");
}

void test_memory(int rounds) {
  bool ok = true;
  int pad_direct = 0;
  for (int it = 0; it < rounds * 3; ++it) {
    ops::Memory p;
    p.dim = static_cast<std::size_t>(irand(1, 300));
    p.left = static_cast<std::size_t>(irand(0, 6));
    p.right = static_cast<std::size_t>(irand(0, 6));
    if ((it / 3) % 2 == 0) {
      p.left = p.right = 2;  // every model's 5 taps: their own loop
      // every vector width's whole vectors (the models' dims): pad frames read in place
      if ((it / 6) % 2 == 0) p.dim = 16 * static_cast<std::size_t>(irand(1, 12));
    }
    const int kind = it % 3;  // 0 FP, 1 sign, 2 dual
    p.fp = kind == 0;
    p.dual = kind == 2;
    pad_direct += !p.fp && p.taps() == 5 && p.dim % 16 == 0;
    std::vector<float> w = values(p.taps() * p.dim, 1.0f), t0, t1;
    if (!p.fp) {
      for (float& x : w) x = x >= 0.0f ? 1.0f : -1.0f;
    }
    thresholds(p.dim, t0, t1);
    ops::Buffer<float> pad = ops::memory_pad_levels(p.dim, p.dual, t0.data(), t1.data());
    std::vector<float> scale = scales(p.dim), bias = values(p.dim, 2.0f);
    p.w = w.data();
    p.tau0 = t0.data();
    p.tau1 = t1.data();
    p.pad = pad.data();
    p.scale = p.fp ? nullptr : scale.data();
    p.bias = bias.data();
    p.slope = value(1.0f);
    const std::size_t t = static_cast<std::size_t>(irand(1, 12)), B = irand(1, 3);
    std::vector<float> x = values(B * t * p.dim, 3.0f);
    for (std::size_t i = 0; i < x.size(); i += 3) x[i] = t0[i % p.dim];
    std::vector<float> ref(B * t * p.dim), got(B * t * p.dim, NAN);
    for (std::size_t b = 0; b < B; ++b) {
      ops::memory_reference(p, x.data() + b * t * p.dim, t, ref.data() + b * t * p.dim);
    }
    ops::MemoryWork work;
    ops::memory_fwd(p, x.data(), B, t, work, got.data());
    ok = ok && same_bits(ref.data(), got.data(), ref.size());
  }
  check(ok, "memory: optimized == reference bit for bit, " + std::to_string(rounds * 3) +
                " random shapes (FP, sign, dual-scale; " + std::to_string(pad_direct) +
                " binary 5-tap cases with whole vectors, pad levels read in place)");
  check(pad_direct > 0, "memory: the in-place pad path was reached");
}

void test_classifier(int rounds) {
  bool ok = true;
  for (int it = 0; it < rounds; ++it) {
    ops::Classifier p;
    p.classes = static_cast<std::size_t>(irand(1, 40));
    p.n = static_cast<std::size_t>(irand(1, 2100));
    std::vector<float> w = values(p.classes * p.n, 1.0f), b = values(p.classes, 1.0f);
    p.w = w.data();
    p.b = b.data();
    const std::size_t B = irand(1, 3);
    std::vector<float> x = values(B * p.n, 4.0f), ref(B * p.classes), got(B * p.classes, NAN);
    ops::classifier_reference(p, x.data(), B, ref.data());
    ops::classifier_exact(p, x.data(), B, got.data());
    ok = ok && same_bits(ref.data(), got.data(), ref.size());
    std::vector<double> wd(w.begin(), w.end());  // the engine's widened copy
    p.wd = wd.data();
    std::fill(got.begin(), got.end(), NAN);
    ops::classifier_exact(p, x.data(), B, got.data());
    ok = ok && same_bits(ref.data(), got.data(), ref.size());
    // the engine's interleaved copy: a permutation of w, read back in the reference's order
    const ops::Buffer<float> wi = ops::classifier_interleave(w.data(), p.classes, p.n);
    std::vector<float> sorted_w = w, sorted_wi(wi.begin(), wi.end());
    std::sort(sorted_w.begin(), sorted_w.end());
    std::sort(sorted_wi.begin(), sorted_wi.end());
    ok = ok && same_bits(sorted_w.data(), sorted_wi.data(), w.size());
    p.wi = wi.data();
    std::fill(got.begin(), got.end(), NAN);
    ops::classifier_exact(p, x.data(), B, got.data());
    ok = ok && same_bits(ref.data(), got.data(), ref.size());
  }
  check(ok, "classifier: optimized (float, widened and interleaved weights) == reference bit for bit, " + std::to_string(rounds) +
                " random shapes");
}


// ---------------------------------------------------------------- fused layers

// A binary layer reading `in` features, with thresholds that put some of `y` (rows x in, the
// unfused output) exactly on them: d = 0 (y == tau0) and r = 0 ((y - b1) == tau1).
struct NextLayer {
  std::vector<std::uint64_t> w;
  std::vector<float> t0, t1;
  ops::BinaryLinear L;
  NextLayer(std::size_t in, bool dual, const std::vector<float>& y, std::size_t rows) {
    L.in = in;
    L.out = static_cast<std::size_t>(irand(1, 40));
    L.words = packed_row_words(in);
    L.dual = dual;
    w = random_bits(L.out, in);
    thresholds(in, t0, t1);
    for (std::size_t i = 0; i < in; ++i) {
      const std::size_t r = static_cast<std::size_t>(irand(0, static_cast<int>(rows) - 1));
      const float v = y[r * in + i];
      if (i % 3 == 0) t0[i] = v;                                            // d == 0
      if (i % 5 == 1) t1[i] = v - ((v - t0[i]) >= 0.0f ? 1.0f : -1.0f);     // r == 0
    }
    L.w = w.data();
    L.tau0 = t0.data();
    L.tau1 = t1.data();
  }
};

// Same packed rows (both planes) and scales.
bool same_packed(const ops::LinearWork& a, const ops::LinearWork& b, const ops::BinaryLinear& L,
                 std::size_t rows) {
  const std::size_t n = (L.dual ? 2 : 1) * rows * L.words;
  if (a.rows != rows || b.rows != rows) return false;
  if (!std::equal(a.abits.begin(), a.abits.begin() + n, b.abits.begin())) return false;
  return !L.dual || same_bits(a.s.data(), b.s.data(), rows);
}

void test_fused(int rounds) {
  bool ok_conv2 = true, ok_lin = true, ok_mem = true;
  int ties = 0;
  for (int it = 0; it < rounds; ++it) {
    const bool dual = it % 3 != 0;
    const Kernel& kern = *kernels()[static_cast<std::size_t>(it) % kernels().size()];
    {  // conv2 -> next layer's bits
      std::vector<std::uint64_t> w, wpix;
      std::vector<float> t0, t1, tau2, scale, bias;
      ops::Conv2Tables tab;
      const ops::Conv2Binary p = random_conv2(w, wpix, t0, t1, tau2, scale, bias, tab, dual);
      const std::size_t B = static_cast<std::size_t>(irand(1, 3)), rows = B * p.s.t();
      std::vector<float> x = values(B * p.s.in_size(), 2.0f), tok(rows * p.s.features());
      ops::Conv2Work w1, w2;
      ops::conv2_binary(p, kern, x.data(), B, w1, tok.data(), nullptr);
      NextLayer nx(p.s.features(), coin(), tok, rows);
      ops::LinearWork unf, fus;
      ops::binarize_rows(nx.L, tok.data(), rows, unf);
      ops::conv2_binary(p, kern, x.data(), B, w2, nullptr, nullptr, &nx.L, &fus);
      ok_conv2 = ok_conv2 && same_packed(unf, fus, nx.L, rows);
    }
    {  // binary linear -> next layer's bits
      ops::BinaryLinear L;
      L.in = static_cast<std::size_t>(irand(1, 400));
      L.out = static_cast<std::size_t>(irand(1, 300));
      L.words = packed_row_words(L.in);
      L.dual = dual;
      std::vector<std::uint64_t> w = random_bits(L.out, L.in);
      std::vector<float> t0, t1;
      thresholds(L.in, t0, t1);
      L.w = w.data();
      L.tau0 = t0.data();
      L.tau1 = t1.data();
      const std::size_t rows = static_cast<std::size_t>(irand(1, 24));
      std::vector<float> x = values(rows * L.in, 3.0f), scale = scales(L.out), bias = values(L.out, 3.0f);
      std::vector<float> res = values(rows * L.out, 2.0f), y(rows * L.out);
      ops::Epilogue e;
      e.scale = scale.data();
      e.bias = bias.data();
      e.slope = value(1.0f);
      e.res = coin() ? res.data() : nullptr;
      ops::LinearWork w0, unf, in_f, fus;
      ops::linear_binary(L, e, kern, x.data(), rows, w0, y.data(), nullptr);
      NextLayer nx(L.out, coin(), y, rows);
      ops::binarize_rows(nx.L, y.data(), rows, unf);
      ops::binarize_rows(L, x.data(), rows, in_f);
      ops::linear_binary_to_bits(L, e, kern, in_f, nx.L, fus, nullptr);
      ok_lin = ok_lin && same_packed(unf, fus, nx.L, rows);
      for (std::size_t i = 0; i < y.size(); ++i) ties += y[i] == nx.t0[i % L.out];
    }
    {  // memory -> next layer's bits (y still written)
      ops::Memory p;
      p.dim = static_cast<std::size_t>(irand(1, 200));
      p.left = static_cast<std::size_t>(irand(0, 4));
      p.right = static_cast<std::size_t>(irand(0, 4));
      p.dual = dual;
      std::vector<float> w = values(p.taps() * p.dim, 1.0f), t0, t1;
      for (float& v : w) v = v >= 0.0f ? 1.0f : -1.0f;
      thresholds(p.dim, t0, t1);
      ops::Buffer<float> pad = ops::memory_pad_levels(p.dim, p.dual, t0.data(), t1.data());
      std::vector<float> scale = scales(p.dim), bias = values(p.dim, 2.0f);
      p.w = w.data();
      p.tau0 = t0.data();
      p.tau1 = t1.data();
      p.pad = pad.data();
      p.scale = scale.data();
      p.bias = bias.data();
      p.slope = value(1.0f);
      const std::size_t t = static_cast<std::size_t>(irand(1, 10)), B = irand(1, 3);
      std::vector<float> x = values(B * t * p.dim, 3.0f), y1(B * t * p.dim), y2(B * t * p.dim);
      ops::MemoryWork mw;
      ops::memory_fwd(p, x.data(), B, t, mw, y1.data());
      NextLayer nx(p.dim, coin(), y1, B * t);
      ops::LinearWork unf, fus;
      ops::binarize_rows(nx.L, y1.data(), B * t, unf);
      ops::memory_fwd(p, x.data(), B, t, mw, y2.data(), &nx.L, &fus);
      ok_mem = ok_mem && same_packed(unf, fus, nx.L, B * t) && same_bits(y1.data(), y2.data(), y1.size());
    }
  }
  check(ok_conv2, "fused conv2 -> next layer's bits == conv2 + binarize_rows, " +
                      std::to_string(rounds) + " random shapes, ties at the thresholds");
  check(ok_lin, "fused linear (epilogue -> next layer's bits) == linear + binarize_rows, " +
                    std::to_string(rounds) + " random shapes");
  check(ok_mem, "fused memory -> next layer's bits == memory + binarize_rows");
  check(ties > 0, "fused tests hit exact ties at tau0: " + std::to_string(ties));
}



void test_sign_thresholds(int rounds) {
  bool ok = true, all_exact = true;
  long ties = 0;
  for (int it = 0; it < rounds * 2; ++it) {
    ops::BinaryLinear L;
    L.in = static_cast<std::size_t>(irand(1, 600));
    L.out = static_cast<std::size_t>(irand(1, 300));
    L.words = packed_row_words(L.in);
    L.dual = false;
    std::vector<std::uint64_t> w = random_bits(L.out, L.in);
    L.w = w.data();
    // scales on a grid (some negative, some zero) and biases that put z exactly on 0 at some
    // accumulator value D0 of the lattice (ties), or generic values
    std::vector<float> scale(L.out), bias(L.out);
    for (std::size_t o = 0; o < L.out; ++o) {
      scale[o] = irand(0, 9) == 0 ? 0.0f : static_cast<float>(irand(-8, 8)) * 0.125f;
      const int d0 = -static_cast<int>(L.in) + 2 * irand(0, static_cast<int>(L.in));
      bias[o] = coin() ? -scale[o] * static_cast<float>(d0) : value(20.0f);
      if (irand(0, 4) == 0) scale[o] = value(2.0f);
    }
    ops::Epilogue e;
    e.scale = scale.data();
    e.bias = bias.data();
    const int sl = irand(0, 3);
    e.slope = sl == 0 ? 0.0f : (sl == 1 ? -value(1.0f) * 0.5f : value(1.0f));
    const ops::SignThresholds th = ops::sign_thresholds(L, e);
    all_exact = all_exact && th.exact;
    ops::BinaryLinear next;
    next.in = L.out;
    next.out = static_cast<std::size_t>(irand(1, 30));
    next.words = packed_row_words(next.in);
    next.dual = false;
    std::vector<std::uint64_t> w2 = random_bits(next.out, next.in);
    next.w = w2.data();
    const std::size_t rows = static_cast<std::size_t>(irand(1, 24));
    std::vector<float> x = values(rows * L.in, 3.0f), y(rows * L.out);
    for (const Kernel* kern : kernels()) {
      ops::LinearWork w0, unf, in_f, fus;
      ops::linear_binary(L, e, *kern, x.data(), rows, w0, y.data(), nullptr);
      ops::binarize_rows(next, y.data(), rows, unf);
      ops::binarize_rows(L, x.data(), rows, in_f);
      ops::linear_binary_to_sign_bits(L, th, *kern, in_f, next, fus, nullptr);
      ok = ok && same_packed(unf, fus, next, rows);
    }
    for (float v : y) ties += v == 0.0f;
  }
  check(all_exact, "sign thresholds: every random layer's bit set is an interval of D (exact)");
  check(ok, "fused sign layer with integer thresholds == float epilogue + sign, " +
                std::to_string(rounds * 2) + " random layers x kernels (negative / zero scales "
                "and slopes)");
  check(ties > 0, "integer thresholds: outputs exactly 0 (ties) hit: " + std::to_string(ties));
}

// ---------------------------------------------------------------- front ends

std::vector<float> random_wave(std::size_t n, int sr) {
  std::vector<float> w(n);
  const double f1 = irand(50, sr / 2 - 100), f2 = irand(50, sr / 2 - 100);
  std::normal_distribution<double> nd(0.0, 0.02);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = static_cast<float>(0.3 * std::sin(2 * 3.14159265358979 * f1 * i / sr) +
                              0.1 * std::sin(2 * 3.14159265358979 * f2 * i / sr) + nd(rng));
  }
  return w;
}

void test_frontend(int rounds) {
  double worst_db = 0, worst_low = 0;
  int cases = 0;
  for (int it = 0; it < std::max(2, rounds / 4); ++it) {
    FeatureConfig cfg;
    cfg.kind = "logmel32";
    cfg.sample_rate = coin() ? 8000 : 16000;
    cfg.n_fft = 32 << irand(0, 4);
    cfg.hop_length = irand(cfg.n_fft / 8, cfg.n_fft);
    cfg.n_mels = irand(1, std::min(40, cfg.n_fft / 4));
    cfg.clip_samples = irand(cfg.n_fft / 2 + 1, 3000);
    cfg.f_min = irand(0, 300);
    cfg.f_max = irand(static_cast<int>(cfg.f_min) + 500, cfg.sample_rate / 2);
    const std::vector<float> wave = random_wave(cfg.clip_samples, cfg.sample_rate);
    const std::size_t n = static_cast<std::size_t>(cfg.n_mels) * cfg.num_frames();
    std::vector<float> ref(n), got(n);
    ops::logmel_reference(cfg, wave.data(), ref.data());
    detail::LogMel fe(cfg, "test");
    fe.compute(wave.data(), got.data());
    for (std::size_t i = 0; i < n; ++i) {
      const double e = std::fabs(static_cast<double>(got[i]) - ref[i]);
      if (ref[i] > -80.0f) {
        worst_db = std::max(worst_db, e);
      } else {
        worst_low = std::max(worst_low, e);
      }
    }
    ++cases;
  }
  check(worst_db < 0.01 && worst_low < 1.0,
        "front end logmel32: optimized (float32 FFT, 8 or 16 lanes) vs reference (float64 direct DFT), " +
            std::to_string(cases) + " random configurations: max " + std::to_string(worst_db) +
            " dB above -80 dB, " + std::to_string(worst_low) + " dB below");
  std::size_t total = 0, differ = 0;
  float worst_img = 0;
  bool inputs_ok = true;
  cases = 0;
  for (int it = 0; it < std::max(2, rounds / 4); ++it) {
    FeatureConfig cfg;
    cfg.kind = "fbank40";
    cfg.sample_rate = coin() ? 8000 : 16000;
    cfg.n_fft = 64 << irand(0, 4);
    cfg.frame_length = irand(std::max(2, cfg.n_fft / 4), cfg.n_fft);
    cfg.hop_length = irand(std::max(1, cfg.frame_length / 4), cfg.frame_length);
    cfg.n_mels = irand(1, std::min(40, cfg.n_fft / 8));
    cfg.pool = irand(1, 4);
    cfg.clip_samples = cfg.frame_length + cfg.hop_length * irand(4 * cfg.pool, 40);
    cfg.f_min = irand(0, 100);
    // below Nyquist half the time: the FFT then computes only the bins the bands use
    cfg.f_max = coin() ? cfg.sample_rate / 2 : irand(cfg.sample_rate / 8, cfg.sample_rate / 2);
    const std::vector<float> wave = random_wave(cfg.clip_samples, cfg.sample_rate);
    const std::size_t n = static_cast<std::size_t>(cfg.n_mels) * cfg.num_frames();
    const std::size_t ni = static_cast<std::size_t>(cfg.n_mels) * cfg.image_frames();
    std::vector<float> ref(n), got(n), ref_img(ni), got_img(ni);
    ops::fbank40_reference(cfg, wave.data(), ref.data(), ref_img.data());
    detail::Fbank40 fe(cfg, "test");
    fe.image(wave.data(), got_img.data());
    fe.compute(wave.data(), got.data());
    for (std::size_t i = 0; i < ni; ++i) {
      const float e = std::fabs(got_img[i] - ref_img[i]);
      worst_img = std::max(worst_img, e);
      differ += e != 0.0f;
    }
    total += ni;
    // network input: the pooled image of the optimized version, exactly
    std::vector<float> again(n);
    detail::Fbank40 fe2(cfg, "test");
    fe2.compute(wave.data(), again.data());
    inputs_ok = inputs_ok && same_bits(again.data(), got.data(), n);
    if (differ == 0) inputs_ok = inputs_ok && same_bits(ref.data(), got.data(), n);
    ++cases;
  }
  check(worst_img <= 1.0f && differ * 200 <= total && inputs_ok,
        "front end fbank40: optimized (float64 FFT) vs reference (float64 direct DFT), " +
            std::to_string(cases) + " random configurations: " + std::to_string(differ) + " of " +
            std::to_string(total) + " image values differ (by <= " + std::to_string(worst_img) +
            ", rounding ties)");
}

// logmel32 in groups of 16 frames (AVX-512) or 8: the same bits at every width, whole clips
// and a stream's windows (compute_at mixes 16- and 8-frame groups and cached rows).
void test_logmel_widths(int rounds) {
  bool same = true, stream_same = true, columns_same = true;
  int cases = 0, widths = 0;
  for (int it = 0; it < std::max(2, rounds / 4); ++it) {
    FeatureConfig cfg;
    cfg.kind = "logmel32";
    cfg.sample_rate = 16000;
    cfg.n_fft = 64 << irand(0, 5);
    cfg.hop_length = irand(cfg.n_fft / 8, cfg.n_fft / 2);
    cfg.n_mels = irand(1, std::min(40, cfg.n_fft / 4));
    // 3 to 60 frames: one partial group up to several full ones
    cfg.clip_samples = cfg.hop_length * irand(2, 59) + irand(0, cfg.hop_length - 1);
    cfg.clip_samples = std::max(cfg.clip_samples, cfg.n_fft / 2 + 1);
    cfg.f_min = 0;
    cfg.f_max = 8000;
    const std::size_t n = static_cast<std::size_t>(cfg.n_mels) * cfg.num_frames();
    const std::int64_t hop = static_cast<std::int64_t>(cfg.hop_length) * irand(1, 3);
    const int windows = 5;
    const std::vector<float> wave = random_wave(cfg.clip_samples + hop * (windows - 1), 16000);
    std::vector<float> base(n), got(n);
    ops::simd::set_width(4);
    detail::LogMel fe4(cfg, "test");
    fe4.set_use_columns(false);  // the base: every frame gathered on its own
    fe4.compute(wave.data(), base.data());
    for (const int w : {8, 16}) {
      if (w > ops::simd::best_width()) continue;
      ops::simd::set_width(w);
      detail::LogMel fe(cfg, "test");
      fe.compute(wave.data(), got.data());
      same = same && same_bits(base.data(), got.data(), n);
      widths = std::max(widths, w);
    }
    ops::simd::set_width(0);
    {  // frames from the signal's columns == frames gathered one by one
      detail::LogMel cols(cfg, "test"), gathered(cfg, "test");
      gathered.set_use_columns(false);
      std::vector<float> a(n), b(n);
      cols.compute(wave.data(), a.data());
      gathered.compute(wave.data(), b.data());
      columns_same = columns_same && same_bits(a.data(), b.data(), n);
    }
    detail::LogMel fe(cfg, "test");
    detail::RowCache cache;
    fe.init_cache(cache);
    for (int k = 0; k < windows; ++k) {
      const float* win = wave.data() + k * hop;
      fe.compute_at(win, k * hop, cache, got.data());  // best width: 16- and 8-frame groups
      ops::simd::set_width(4);
      fe4.compute(win, base.data());
      ops::simd::set_width(0);
      stream_same = stream_same && same_bits(base.data(), got.data(), n);
    }
    ++cases;
  }
  check(same, "front end logmel32: 16-, 8- and 4-lane widths give the same bits (up to width " +
                  std::to_string(widths) + "), " + std::to_string(cases) + " random configurations");
  check(stream_same, "front end logmel32: a stream's windows (compute_at, rows shared) == whole "
                     "clips at width 4, bit for bit");
  check(columns_same, "front end logmel32: frames loaded from the signal's columns == frames "
                      "gathered one by one, bit for bit, " + std::to_string(cases) +
                      " random configurations");
}

// RealFFT::power with a bin limit: the bins it computes are the bits of the full spectrum's.
void test_fft_bins(int rounds) {
  bool same = true;
  int cases = 0;
  for (int it = 0; it < std::max(4, rounds); ++it) {
    const int n = 4 << irand(0, 9), h = n / 2, bins = irand(0, h + 1);
    detail::RealFFT<double> fft(n);
    std::normal_distribution<double> nd;
    std::vector<double> re(h), im(h), re2, im2, full(h + 1), part(h + 1, -1.0);
    for (int j = 0; j < h; ++j) re[j] = nd(rng), im[j] = nd(rng);
    re2 = re, im2 = im;
    fft.power(re.data(), im.data(), full.data());
    fft.power(re2.data(), im2.data(), part.data(), bins);
    const std::size_t bytes = sizeof(double) * static_cast<std::size_t>(bins);
    same = same && std::memcmp(part.data(), full.data(), bytes) == 0 &&
           std::all_of(part.begin() + bins, part.end(), [](double v) { return v == -1.0; });
    ++cases;
  }
  check(same, "RealFFT::power(bins): the first bins of the full power spectrum, bit for bit, "
                  "nothing written beyond them (" + std::to_string(cases) + " sizes 4..2048)");
}

// RealFFT::power against the plain definition it claims to equal bit for bit: radix-2
// decimation-in-frequency stages one at a time, every butterfly's product by its twiddle made
// (also by w_0 = 1 - 0i, which the last pass skips), then the real-input split in bin order, and
// the scale as a second product (the log-mel's fused norm). Inputs include exact zeros (a signed
// zero is the only thing the skipped products could change, and the squares drop it).
template <class S>
std::vector<S> plain_power(int n, std::vector<S> re, std::vector<S> im, bool scaled, S scale) {
  const int h = n / 2;
  for (int len = h; len > 1; len /= 2) {
    for (int b = 0; b < h; b += len) {
      for (int p = 0; p < len / 2; ++p) {
        const S wr = static_cast<S>(std::cos(2.0 * M_PI * p / len));
        const S wi = static_cast<S>(-std::sin(2.0 * M_PI * p / len));
        const int i = b + p, j = b + p + len / 2;
        const S dr = re[i] - re[j], di = im[i] - im[j];
        re[i] = re[i] + re[j];
        im[i] = im[i] + im[j];
        re[j] = dr * wr - di * wi;
        im[j] = dr * wi + di * wr;
      }
    }
  }
  int bits = 0;
  while ((1 << bits) < h) ++bits;
  auto rev = [&](int k) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((k >> b) & 1) << (bits - 1 - b);
    return r;
  };
  std::vector<S> out(h + 1);
  for (int k = 0; k <= h; ++k) {
    const int a = rev(k % h), b = rev((h - k) % h);
    const S half = static_cast<S>(0.5);
    const S er = (re[a] + re[b]) * half, ei = (im[a] - im[b]) * half;
    const S orr = (im[a] + im[b]) * half, oi = (re[b] - re[a]) * half;
    const S c = static_cast<S>(std::cos(2.0 * M_PI * k / n));
    const S s = static_cast<S>(-std::sin(2.0 * M_PI * k / n));
    const S xr = er + (orr * c - oi * s), xi = ei + (orr * s + oi * c);
    const S pw = xr * xr + xi * xi;
    out[k] = scaled ? pw * scale : pw;
  }
  return out;
}

template <class S>
void test_fft_plain_t(int rounds, const char* name) {
  bool same = true;
  int cases = 0;
  std::normal_distribution<double> nd;
  for (int it = 0; it < std::max(6, rounds); ++it) {
    const int n = 4 << (it % 10), h = n / 2;
    const bool scaled = it % 2 == 1;
    const S scale = static_cast<S>(1.0 / (1.0 + it));
    detail::RealFFT<S> fft(n);
    std::vector<S> re(h), im(h);
    for (int j = 0; j < h; ++j) {  // every fourth sample 0 or -0, some frames all zero
      const bool zero = it % 7 == 3 || irand(0, 3) == 0;
      re[j] = zero ? (irand(0, 1) ? S(0) : -S(0)) : static_cast<S>(nd(rng));
      im[j] = zero ? (irand(0, 1) ? S(0) : -S(0)) : static_cast<S>(nd(rng));
    }
    const std::vector<S> want = plain_power<S>(n, re, im, scaled, scale);
    std::vector<S> got(h + 1);
    if (scaled) {  // the log-mel's form: scaled, paired split
      fft.template power<S, true, true>(re.data(), im.data(), got.data(), -1, scale);
    } else if (it % 4 == 0) {
      fft.template power<S, false, true>(re.data(), im.data(), got.data());
    } else {
      fft.power(re.data(), im.data(), got.data());
    }
    same = same && same_bits(want.data(), got.data(), static_cast<std::size_t>(h + 1));
    ++cases;
  }
  check(same, std::string("RealFFT<") + name + ">::power == plain radix-2 stages with every " +
                  "twiddle product, then the split (one bin or a pair at a time; and the scale), bit for bit (" +
                  std::to_string(cases) + " cases, sizes 4..2048, zeros of both signs)");
}

// The sparse mel bands four at a time (ops/frontend/mel.h) against one loop per band, bit for
// bit: random band layouts (lengths 0..24, overlapping), band counts 1..41, float and double
// lanes.
template <class V, class W>
bool mel_bands_case(int n_mels) {
  const int n_bins = 80;
  std::vector<int> lo(n_mels), hi(n_mels), off(n_mels);
  std::vector<W> w;
  for (int m = 0; m < n_mels; ++m) {
    lo[m] = irand(0, n_bins - 1);
    hi[m] = std::min(n_bins, lo[m] + irand(0, 24));
    off[m] = static_cast<int>(w.size());
    for (int k = lo[m]; k < hi[m]; ++k) {
      w.push_back(static_cast<W>(std::uniform_real_distribution<double>(0, 3)(rng)));
    }
  }
  std::vector<V> power(n_bins), got(n_mels), want(n_mels);
  for (auto& p : power) p = static_cast<V>(std::uniform_real_distribution<double>(0, 1000)(rng));
  detail::mel_bands(power.data(), lo.data(), hi.data(), off.data(), w.data(), n_mels,
                    got.data());
  for (int m = 0; m < n_mels; ++m) {
    V acc = {};
    for (int k = lo[m]; k < hi[m]; ++k) acc += power[k] * w[off[m] + k - lo[m]];
    want[m] = acc;
  }
  return same_bits(want.data(), got.data(), static_cast<std::size_t>(n_mels));
}

void test_mel_bands(int rounds) {
  bool same = true;
  int cases = 0;
  for (int it = 0; it < std::max(10, rounds); ++it) {
    const int n_mels = 1 + it % 41;
    same = same && mel_bands_case<float, float>(n_mels) && mel_bands_case<double, double>(n_mels);
    ++cases;
  }
  check(same, "mel_bands (four bands interleaved) == one loop per band, bit for bit (" +
                  std::to_string(cases) + " random layouts, float and double)");
}

// The window gate's statistics (its mixed-radix FFT: radix 4, 2, 5, and other primes as plain
// DFTs) against a direct double-precision DFT of the same frames: frame sizes 400 (16 kHz),
// 200 (8 kHz), 551 = 19 x 29 (22.05 kHz), 98 = 2 x 7 x 7 and 12; windows of noise with loud
// bursts, padding at both ends.
void test_gate(int rounds) {
  double worst = 0.0;
  int cases = 0;
  std::normal_distribution<double> nd;
  for (const int f : {400, 200, 551, 98, 12}) {
    const int nf = 40, w = nf * f + 3, n = std::max(2, rounds / 20);
    std::vector<float> x(static_cast<std::size_t>(n) * w);
    for (int i = 0; i < n; ++i) {
      for (int t = 0; t < w; ++t) {
        const double loud = (t / f) % 7 == 3 ? 30.0 : 1.0;
        x[static_cast<std::size_t>(i) * w + t] = static_cast<float>(0.01 * loud * nd(rng));
      }
    }
    std::vector<std::int64_t> ends(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ends[static_cast<std::size_t>(i)] = w - f + i * (f / 2 + 1);
    const std::int64_t audio_end = w + 2 * f;
    std::vector<double> hann(static_cast<std::size_t>(f));
    for (int j = 0; j < f; ++j) {
      hann[static_cast<std::size_t>(j)] = 0.5 - 0.5 * std::cos(2.0 * M_PI * j / (f - 1));
    }
    GateParams p;
    p.frame = f;
    p.band_lo = std::max(1, f / 50);
    p.band_hi = std::max(p.band_lo, f / 5);
    std::vector<double> peak(n), floor(n), band(n), flat(n);
    gate_stats(p, x.data(), n, w, ends.data(), audio_end, hann.data(), peak.data(), floor.data(),
               band.data(), flat.data());
    for (int i = 0; i < n; ++i) {  // direct: every real frame's power spectrum
      std::vector<double> bdb, mean, fl;
      std::vector<char> real;
      for (int j = 0; j < nf; ++j) {
        const std::int64_t s = ends[static_cast<std::size_t>(i)] - nf * f + j * f;
        real.push_back(s >= 0 && s + f <= audio_end);
        const float* fr = x.data() + static_cast<std::size_t>(i) * w + (w - nf * f) + j * f;
        double sum = 0, logs = 0, bs = 0;
        for (int k = 1; k <= f / 2; ++k) {
          double re = 0, im = 0;
          for (int t = 0; t < f; ++t) {
            const double v = fr[t] * hann[static_cast<std::size_t>(t)];
            re += v * std::cos(2.0 * M_PI * k * t / f);
            im -= v * std::sin(2.0 * M_PI * k * t / f);
          }
          const double pw = re * re + im * im + 1e-20;
          sum += pw;
          logs += std::log(pw);
          if (k >= p.band_lo && k <= p.band_hi) bs += pw;
        }
        mean.push_back(sum / (f / 2));
        fl.push_back(std::exp(logs / (f / 2)) / mean.back());
        bdb.push_back(10.0 * std::log10(bs / (p.band_hi - p.band_lo + 1)));
      }
      double top = -1e300, hi = -1e300;
      std::vector<double> r;
      for (int j = 0; j < nf; ++j) {
        if (!real[j]) continue;
        top = std::max(top, 10.0 * std::log10(mean[j]));
        hi = std::max(hi, bdb[j]);
        r.push_back(bdb[j]);
      }
      std::sort(r.begin(), r.end());
      const double contrast =
          r.empty() ? 0.0 : hi - r[static_cast<std::size_t>(0.1 * (r.size() - 1))];
      double lf = 1e300;
      for (int j = 0; j < nf; ++j) {
        if (real[j] && 10.0 * std::log10(mean[j]) >= top - 10.0) lf = std::min(lf, fl[j]);
      }
      if (lf == 1e300) lf = 1.0;
      worst = std::max({worst, std::abs(contrast - band[static_cast<std::size_t>(i)]),
                        std::abs(lf - flat[static_cast<std::size_t>(i)]) / lf});
      ++cases;
    }
  }
  check(worst < 1e-9, "gate statistics (band contrast dB, loud flatness) equal a direct DFT's "
                          "within 1e-9 (" + std::to_string(cases) + " windows, frames 400 / 200 / "
                          "551 / 98 / 12; worst " + std::to_string(worst) + ")");
}

// The fbank40 level table (exact bounds) against the direct formula: random energies over the
// whole range, every bound and the double just below it, any candidate, NaN and infinity.
void test_level_table() {
  std::mt19937_64 rng(23);
  bool ok = true;
  std::size_t tried = 0;
  for (const auto& so : {std::pair{10.0673, 540.0}, std::pair{3.5, 1.0}, std::pair{40.0, 1e5}}) {
    // plain locals: a lambda may not capture structured bindings before C++20 (Clang rejects it)
    const double scale = so.first, offset = so.second;
    const detail::LevelTable t(scale, offset);
    std::uniform_real_distribution<double> ex(-5.0, 40.0);
    std::uniform_int_distribution<int> cand(-3, 258);
    auto same = [&](double e) {
      const int want = detail::LevelTable::direct(e, scale, offset);
      ++tried;
      return t.level(e, cand(rng)) == want && t.level(e, want) == want;
    };
    for (int i = 0; i < 20000; ++i) ok = ok && same(std::pow(10.0, ex(rng)));
    for (int j = 1; j < 256; ++j) {
      const double b = t.bound(j);
      ok = ok && same(b) && same(std::nextafter(b, 0.0)) && same(std::nextafter(b, 1e300));
    }
    ok = ok && same(0.0) && same(INFINITY) && same(1e308);
    ok = ok && t.level(NAN, 100) == 0 && detail::LevelTable::direct(NAN, scale, offset) == 0;
  }
  check(ok, "fbank40 level table == round(log_scale * ln(1 + E / log_offset)) clipped, " +
                std::to_string(tried) + " energies (bounds and their neighbours included)");
#if defined(__x86_64__)
  // The AVX-512 walk of eight frames at once (levels_x86.cc) against the scalar one: random
  // candidates (below 0.5, above 254.5, half-integers, NaN, infinities) for energies at and
  // beside every bound, random ones, 0, infinity and NaN.
  if (detail::have_avx512()) {
    const detail::LevelTable t(10.0673, 540.0);
    std::uniform_real_distribution<double> ex(-5.0, 40.0), ca(-20.0, 300.0);
    std::uniform_int_distribution<int> pick(0, 11), level(1, 255), which(0, 2);
    std::vector<double> pool;
    for (int j = 1; j < 256; ++j) {
      pool.push_back(t.bound(j));
      pool.push_back(std::nextafter(t.bound(j), 0.0));
    }
    bool same = true;
    std::size_t values = 0;
    for (int round = 0; round < 200; ++round) {
      const int nm = std::uniform_int_distribution<int>(1, 48)(rng);
      std::vector<double> mel(static_cast<std::size_t>(nm) * 8), cand(mel.size());
      for (std::size_t i = 0; i < mel.size(); ++i) {
        const int w = pick(rng);
        mel[i] = w < 6 ? pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)]
                 : w < 9 ? std::pow(10.0, ex(rng))
                 : w == 9 ? 0.0 : w == 10 ? INFINITY : NAN;
        const int c = pick(rng);
        // mostly the right level or a neighbour (as the log estimate gives), sometimes anything
        const double right = detail::LevelTable::direct(mel[i], 10.0673, 540.0);
        cand[i] = c < 6 ? right + which(rng) - 1 + 0.49 * (ex(rng) / 40.0)
                  : c < 9 ? ca(rng)
                  : c == 9 ? (level(rng) + 0.5) : c == 10 ? -INFINITY : NAN;
      }
      std::vector<double> got(cand.begin(), cand.end());
      detail::fbank_levels8_avx512(t.bounds(), mel.data(), got.data(), nm);
      for (std::size_t i = 0; i < mel.size(); ++i) {
        const double a = cand[i];
        const int c = a >= 0.5 ? (a < 254.5 ? static_cast<int>(a + 0.5) : 255) : 0;
        same = same && got[i] == static_cast<double>(t.level(mel[i], c));
        ++values;
      }
    }
    check(same, "fbank40 level walk, AVX-512 (8 frames at once) == scalar walk, " +
                    std::to_string(values) + " energies and candidates (bounds, NaN, infinities)");
  }
#endif
}

// ---------------------------------------------------------------- golden values

// Minimal .npy reader (version 1/2/3 headers, little-endian f4 / i4 / u1 / b1, C order).
struct Array {
  std::string dtype;
  std::vector<std::size_t> shape;
  std::vector<char> data;
  std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
  const float* f() const { return reinterpret_cast<const float*>(data.data()); }
  const std::int32_t* i() const { return reinterpret_cast<const std::int32_t*>(data.data()); }
};

Array read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not .npy");
  std::size_t hlen, hstart;
  if (bytes[6] == 1) {
    hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    hstart = 10;
  } else {
    hlen = 0;
    for (int b = 0; b < 4; ++b) hlen |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + b])) << (8 * b);
    hstart = 12;
  }
  const std::string h = bytes.substr(hstart, hlen);
  Array a;
  const std::size_t dp = h.find("'descr': '") + 10;
  a.dtype = h.substr(dp, h.find('\'', dp) - dp);
  if (h.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": fortran order");
  const std::size_t sp = h.find('(', h.find("'shape'")) + 1;
  std::stringstream ss(h.substr(sp, h.find(')', sp) - sp));
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.find_first_not_of(' ') != std::string::npos) a.shape.push_back(std::stoul(tok));
  }
  std::size_t item = (a.dtype == "<f4" || a.dtype == "<i4") ? 4 : 1;
  if (!(a.dtype == "<f4" || a.dtype == "<i4" || a.dtype == "|u1" || a.dtype == "|b1")) {
    throw std::runtime_error(path + ": dtype " + a.dtype);
  }
  a.data.assign(bytes.begin() + hstart + hlen, bytes.end());
  if (a.data.size() != a.size() * item) throw std::runtime_error(path + ": size");
  return a;
}

// bool (rows, k) -> packed rows
std::vector<std::uint64_t> pack_bool(const Array& a) {
  const std::size_t rows = a.shape.at(0), k = a.size() / rows, words = packed_row_words(k);
  std::vector<std::uint64_t> w(rows * words + 1, 0);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < k; ++i) {
      if (a.data[r * k + i]) w[r * words + i / 64] |= std::uint64_t{1} << (i % 64);
    }
  }
  return w;
}

std::string describe_diff(const float* got, const float* want, std::size_t n) {
  std::size_t bad = 0, first = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(got + i, want + i, 4) != 0) {
      if (first == n) first = i;
      ++bad;
    }
  }
  if (!bad) return "bit-identical";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%zu of %zu differ, first at %zu: %.9g vs %.9g", bad, n, first,
                got[first], want[first]);
  return buf;
}

void golden_case(const std::string& dir, const std::string& op) {
  auto A = [&](const std::string& name) { return read_npy(dir + "/" + name + ".npy"); };
  auto I = [&](const std::string& name) { return A(name).i()[0]; };
  auto F = [&](const std::string& name) { return A(name).f()[0]; };
  const std::string what = "golden " + dir.substr(dir.rfind('/') + 1) + " (" + op + ")";
  if (op == "sum8") {
    const Array x = A("x"), want = A("y");
    const std::size_t rows = x.shape[0], n = x.shape[1];
    std::vector<float> got(rows);
    for (std::size_t r = 0; r < rows; ++r) got[r] = ops::sum8_reference(x.f() + r * n, n);
    const std::string d = describe_diff(got.data(), want.f(), rows);
    check(d == "bit-identical", what + ": sum8 of " + std::to_string(rows) + " rows: " + d);
  } else if (op == "conv1") {
    const Array x = A("x"), w = A("w"), b = A("b"), want = A("y");
    ops::Conv1 p;
    p.H = static_cast<int>(x.shape[1]);
    p.W = static_cast<int>(x.shape[2]);
    p.k = I("k");
    p.c1 = static_cast<int>(w.shape[0]);
    p.w = w.f();
    p.b = b.f();
    p.slope = F("slope");
    const std::size_t B = x.shape[0], out = p.positions() * p.c1;
    std::vector<float> got(B * out);
    for (std::size_t i = 0; i < B; ++i) {
      ops::conv1_reference(p, x.f() + i * p.H * p.W, got.data() + i * out);
    }
    check(describe_diff(got.data(), want.f(), B * out) == "bit-identical",
          what + ": " + describe_diff(got.data(), want.f(), B * out));
  } else if (op == "conv2") {
    const Array x = A("x"), bits = A("bits"), tau = A("tau"), tau2 = A("tau2"), scale = A("scale"),
                bias = A("bias"), want_bp = A("bias_pos"), want = A("y");
    ops::Conv2Binary p;
    p.s.c1 = static_cast<int>(x.shape[1]);
    p.s.h1 = static_cast<int>(x.shape[2]);
    p.s.w1 = static_cast<int>(x.shape[3]);
    p.s.c2 = static_cast<int>(bits.shape[0]);
    p.s.k = I("k");
    p.dual = I("dual") != 0;
    const std::vector<std::uint64_t> w = pack_bool(bits);
    p.words = packed_row_words(p.s.k2());
    const ops::Conv2Tables tab = ops::conv2_tables(p.s, w.data(), p.words, scale.f(), bias.f(),
                                                   p.dual ? tau2.f() : nullptr);
    const std::string dt = describe_diff(tab.bias_pos.data(), want_bp.f(), tab.bias_pos.size());
    check(dt == "bit-identical", what + ": per-position bias table: " + dt);
    p.w = w.data();
    p.tau0 = tau.f();
    p.tau1 = tau.f() + p.s.c1;
    p.scale = scale.f();
    p.corr = tab.corr.data();
    p.bias_pos = tab.bias_pos.data();
    p.slope = F("slope");
    const std::size_t B = x.shape[0], out = p.s.positions() * p.s.c2;
    std::vector<float> got(B * out);
    for (std::size_t i = 0; i < B; ++i) {
      ops::conv2_binary_reference(p, x.f() + i * p.s.in_size(), got.data() + i * out);
    }
    const std::string d = describe_diff(got.data(), want.f(), B * out);
    check(d == "bit-identical", what + ": " + d);
  } else if (op == "linear") {
    const Array x = A("x"), bits = A("bits"), tau = A("tau"), scale = A("scale"), bias = A("bias"),
                want = A("y");
    ops::BinaryLinear L;
    L.out = bits.shape[0];
    L.in = bits.shape[1];
    L.words = packed_row_words(L.in);
    L.dual = I("dual") != 0;
    const std::vector<std::uint64_t> w = pack_bool(bits);
    L.w = w.data();
    L.tau0 = tau.f();
    L.tau1 = tau.f() + L.in;
    ops::Epilogue e;
    e.scale = scale.f();
    e.bias = bias.f();
    e.slope = F("slope");
    Array res;
    if (I("has_res")) {
      res = A("res");
      e.res = res.f();
    }
    const std::size_t rows = x.size() / L.in;
    std::vector<float> got(rows * L.out);
    ops::linear_binary_reference(L, e, x.f(), rows, got.data());
    const std::string d = describe_diff(got.data(), want.f(), rows * L.out);
    check(d == "bit-identical", what + ": " + d);
  } else if (op == "memory") {
    const Array x = A("x"), bits = A("bits"), tau = A("tau"), scale = A("scale"), bias = A("bias"),
                want = A("y");
    ops::Memory p;
    p.dim = bits.shape[0];
    const std::size_t taps = bits.shape[1];
    p.left = static_cast<std::size_t>(I("left"));
    p.right = taps - 1 - p.left;
    p.dual = I("dual") != 0;
    std::vector<float> w(taps * p.dim);
    for (std::size_t c = 0; c < p.dim; ++c) {
      for (std::size_t k = 0; k < taps; ++k) w[k * p.dim + c] = bits.data[c * taps + k] ? -1.0f : 1.0f;
    }
    p.w = w.data();
    p.tau0 = tau.f();
    p.tau1 = tau.f() + p.dim;
    p.scale = scale.f();
    p.bias = bias.f();
    p.slope = F("slope");
    const std::size_t B = x.shape[0], t = x.shape[1];
    std::vector<float> got(B * t * p.dim);
    for (std::size_t i = 0; i < B; ++i) {
      ops::memory_reference(p, x.f() + i * t * p.dim, t, got.data() + i * t * p.dim);
    }
    const std::string d = describe_diff(got.data(), want.f(), got.size());
    check(d == "bit-identical", what + ": " + d);
  } else if (op == "classifier") {
    const Array x = A("x"), w = A("w"), b = A("b"), want = A("y");
    ops::Classifier p;
    p.classes = w.shape[0];
    p.n = w.shape[1];
    p.w = w.f();
    p.b = b.f();
    const std::size_t B = x.shape[0];
    std::vector<float> got(B * p.classes);
    ops::classifier_reference(p, x.f(), B, got.data());
    const std::string d = describe_diff(got.data(), want.f(), got.size());
    check(d == "bit-identical", what + ": " + d);
  } else {
    check(false, what + ": unknown op");
  }
}

void test_golden(const std::string& dir) {
  std::ifstream list(dir + "/cases.txt");
  if (!list) {
    check(false, "golden: cannot read " + dir + "/cases.txt");
    return;
  }
  std::string name, op;
  int n = 0;
  while (list >> name >> op) {
    try {
      golden_case(dir + "/" + name, op);
    } catch (const std::exception& e) {
      check(false, "golden " + name + ": " + e.what());
    }
    ++n;
  }
  check(n > 0, "golden: " + std::to_string(n) + " cases read");
}

}  // namespace

// ops::Buffer, the engine's weights and scratch: 64-byte aligned at every size and after growth
// (the engine's speed, not its bits, depends on it: docs/engine-history.md, "Session 53").
void test_buffers() {
  bool ok = true;
  for (std::size_t n : {1, 3, 16, 17, 100, 1000, 4097}) {
    ops::Buffer<float> f(n);
    ops::Buffer<std::uint64_t> u(n);
    ops::Buffer<std::uint8_t> b(n);
    ok = ok && reinterpret_cast<std::uintptr_t>(f.data()) % 64 == 0 &&
         reinterpret_cast<std::uintptr_t>(u.data()) % 64 == 0 &&
         reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0;
    ops::grow(f, 3 * n + 5);
    ok = ok && reinterpret_cast<std::uintptr_t>(f.data()) % 64 == 0;
  }
  const std::vector<float> v = values(33, 1.0f);
  const ops::Buffer<float> c(v.begin(), v.end());
  ok = ok && c.size() == v.size() && same_bits(c.data(), v.data(), v.size()) &&
       reinterpret_cast<std::uintptr_t>(c.data()) % 64 == 0;
  check(ok, "ops::Buffer: 64-byte aligned at every size, after growth and as a copy");
}

int main(int argc, char** argv) {
  std::string golden;
  int rounds = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--golden" && i + 1 < argc) {
      golden = argv[++i];
    } else {
      rounds = std::max(1, std::atoi(argv[i]));
    }
  }
  try {
    if (!golden.empty()) {
      test_golden(golden);
    } else {
      std::printf("kernels:");
      for (const Kernel* k : kernels()) std::printf(" %s", k->name);
      std::printf("\n");
      test_buffers();
      test_binarize(rounds);
      test_planes(rounds);
      // conv1, conv2, the memory, the fbank40 front end and the classifier are instantiated or
      // picked per vector width
      // (ops/simd.h): every width this CPU runs must equal the references, so each is tested
      for (const int w : {4, 8, 16}) {
        if (w > ops::simd::best_width()) continue;
        check(ops::simd::set_width(w) == w, "simd width " + std::to_string(w) + " selectable");
        std::printf("simd width %d\n", w);
        test_conv1(rounds);
        test_conv2(rounds);
        test_memory(rounds);
        test_fused(rounds);
        test_frontend(rounds);
        test_classifier(rounds);  // width 4 keeps the plain double version (no FMA) tested
      }
      ops::simd::set_width(0);
      check(ops::simd::width() == ops::simd::best_width(), "simd width back to the best");
      check(ops::simd::set_width(32) == ops::simd::best_width(), "simd width 32 refused");
      test_linear(rounds);
      test_sign_thresholds(rounds);
      test_level_table();
      test_logmel_widths(rounds);
      test_fft_bins(rounds);
      test_fft_plain_t<float>(rounds, "float");
      test_fft_plain_t<double>(rounds, "double");
      test_mel_bands(rounds);
      test_gate(rounds);
    }
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  return bifsmn::testing::report("test_ops");
}
