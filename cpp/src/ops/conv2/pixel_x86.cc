// conv2's pixel-major GEMM rows (pixel.h): with AVX-512 VBMI + GFNI (grid and rows), or AVX2
// (grid; the rows are then conv2.cc's 16-byte moves). Pure bit movement: the rows hold exactly the
// bits conv2.cc's (c, u, v) rows hold, permuted.
#include "pixel.h"

#include "bifsmn/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// GCC 12's AVX-512 headers pass an undefined vector as the unmasked intrinsics' merge source and
// then warn that it "may be used uninitialized" (GCC bug 105593, fixed in GCC 13): not ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define BIFSMN_TARGET_PIXEL __attribute__((target("avx512f,avx512bw,avx512vbmi,gfni")))

namespace bifsmn::detail {

bool have_conv2_pixel() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();
    return ::bifsmn::isa_cap() >= 16 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("gfni");
  }();
  return yes;
}

namespace {

// 8 x 8 transpose of 64-bit elements: c[x] holds rows 0..7 of channel x; r[y] gets channels
// 0..7 of row y.
BIFSMN_TARGET_PIXEL inline void transpose_q8(const __m512i* c, __m512i* r) {
  __m512i a[8], b[8];
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm512_unpacklo_epi64(c[2 * i], c[2 * i + 1]);      // rows 0 2 4 6 of x, x+1
    a[2 * i + 1] = _mm512_unpackhi_epi64(c[2 * i], c[2 * i + 1]);  // rows 1 3 5 7
  }
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int h = 0; h < 2; ++h) {  // channels 0-3 (h = 0) and 4-7 (h = 1)
    b[4 * h + 0] = _mm512_permutex2var_epi64(a[4 * h + 0], lo, a[4 * h + 2]);  // rows 0, 4
    b[4 * h + 1] = _mm512_permutex2var_epi64(a[4 * h + 1], lo, a[4 * h + 3]);  // rows 1, 5
    b[4 * h + 2] = _mm512_permutex2var_epi64(a[4 * h + 0], hi, a[4 * h + 2]);  // rows 2, 6
    b[4 * h + 3] = _mm512_permutex2var_epi64(a[4 * h + 1], hi, a[4 * h + 3]);  // rows 3, 7
  }
  const __m512i first = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i second = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  for (int y = 0; y < 4; ++y) {
    r[y] = _mm512_permutex2var_epi64(b[y], first, b[4 + y]);
    r[y + 4] = _mm512_permutex2var_epi64(b[y], second, b[4 + y]);
  }
}

}  // namespace

BIFSMN_TARGET_PIXEL
void conv2_pixel_grid16(const std::uint64_t* planes, int hp, int r0, int r1,
                        std::uint8_t* grid) noexcept {
  // Per row: qword x of a group register = channel 8g + x's column bits. vpermb puts byte q of
  // channel x at byte 7 - x of qword q (an 8 x 8 byte transpose, rows reversed); GF2P8AFFINEQB
  // with the data bytes 1 << j then returns in byte j of qword q the bits of column 8q + j,
  // bit x = channel 8g + x (result bit i = parity(matrix byte 7 - i AND data byte)); vpermt2b
  // interleaves the two groups into pixel order.
  struct Tables {
    alignas(64) std::uint8_t tidx[64], iidx[64];
    Tables() {
      for (int q = 0; q < 8; ++q) {
        for (int x = 0; x < 8; ++x) tidx[8 * q + 7 - x] = static_cast<std::uint8_t>(8 * x + q);
      }
      for (int p = 0; p < 64; ++p) iidx[p] = static_cast<std::uint8_t>(p / 2 + 64 * (p % 2));
    }
  };
  static const Tables tab;
  const std::uint8_t* tidx = tab.tidx;
  const std::uint8_t* iidx = tab.iidx;
  const __m512i tperm = _mm512_load_si512(tidx);
  const __m512i ileave = _mm512_load_si512(iidx);
  const __m512i unit = _mm512_set1_epi64(0x8040201008040201LL);
  for (int R0 = r0; R0 < r1; R0 += 8) {
    __m512i rows[2][8];
    for (int g = 0; g < 2; ++g) {
      __m512i c[8];
      for (int x = 0; x < 8; ++x) {
        c[x] = _mm512_loadu_si512(planes + static_cast<std::size_t>(8 * g + x) * hp + R0);
      }
      transpose_q8(c, rows[g]);
      for (int y = 0; y < 8; ++y) {
        rows[g][y] = _mm512_gf2p8affine_epi64_epi8(unit, _mm512_permutexvar_epi8(tperm, rows[g][y]), 0);
      }
    }
    const int n = r1 - R0 < 8 ? r1 - R0 : 8;
    for (int y = 0; y < n; ++y) {
      _mm512_storeu_si512(grid + static_cast<std::size_t>(R0 + y) * 64,
                          _mm512_permutex2var_epi8(rows[0][y], ileave, rows[1][y]));
    }
  }
}

namespace {

// Row byte p < K*K*2 is window row u = p / (2K), byte w = p % (2K) of it: grid row 2*i2 + u,
// byte 4*j2 + w. Window rows go in pairs (u0, u0 + 1) through one two-register byte permute
// (index bit 6 picks the second row), a last odd one through a one-register permute; each lands
// in its own byte range of the output by a mask. K is a template argument so that the grid rows
// and index vectors stay in registers.
struct RowPlan {
  alignas(64) std::uint8_t base[3][64];
  __mmask64 mask[3];
  explicit RowPlan(int k) {
    const int run = 2 * k, used = run * k;
    for (int q = 0; 2 * q < k; ++q) {
      const int u0 = 2 * q, hi = u0 + 2 < k ? u0 + 2 : k;
      mask[q] = 0;
      for (int p = 0; p < 64; ++p) {
        const int u = p / run;
        const bool mine = p < used && u >= u0 && u < hi;
        base[q][p] = static_cast<std::uint8_t>(mine ? (p % run) + 64 * (u - u0) : 0);
        if (mine) mask[q] |= __mmask64{1} << p;
      }
    }
  }
};

template <int K>
BIFSMN_TARGET_PIXEL inline void pixel_rows_k(const RowPlan& plan, const std::uint8_t* grid,
                                             int i2, int t, std::size_t words,
                                             std::uint64_t* out) {
  constexpr int kPairs = (K + 1) / 2;
  __m512i idx[kPairs], g[K];
  for (int q = 0; q < kPairs; ++q) idx[q] = _mm512_load_si512(plan.base[q]);
  for (int u = 0; u < K; ++u) {
    g[u] = _mm512_loadu_si512(grid + static_cast<std::size_t>(2 * i2 + u) * 64);
  }
  for (int j2 = 0; j2 < t; ++j2) {
    const __m512i off = _mm512_set1_epi8(static_cast<char>(4 * j2));
    __m512i row = _mm512_setzero_si512();
    for (int q = 0; q < kPairs; ++q) {
      const __m512i ix = _mm512_add_epi8(idx[q], off);
      __m512i part;
      if (2 * q + 1 < K) {
        part = _mm512_permutex2var_epi8(g[2 * q], ix, g[2 * q + 1]);
      } else {
        part = _mm512_permutexvar_epi8(ix, g[2 * q]);
      }
      row = _mm512_mask_mov_epi8(row, plan.mask[q], part);
    }
    // All 64 bytes, also where a row has fewer than 8 words: the extra words land on the next
    // row, which is stored after this one (the caller's buffer has 8 - words words of slack
    // after the last row; pixel.h). A masked store cost more than the whole row on AMD Zen 4.
    _mm512_storeu_si512(out + static_cast<std::size_t>(j2) * words, row);
  }
}

}  // namespace

BIFSMN_TARGET_PIXEL
void conv2_pixel_rows16(const std::uint8_t* grid, int k, int i2, int t, std::size_t words,
                        std::uint64_t* out) noexcept {
  static const RowPlan plans[3] = {RowPlan(1), RowPlan(3), RowPlan(5)};
  switch (k) {
    case 1: pixel_rows_k<1>(plans[0], grid, i2, t, words, out); break;
    case 3: pixel_rows_k<3>(plans[1], grid, i2, t, words, out); break;
    default: pixel_rows_k<5>(plans[2], grid, i2, t, words, out); break;  // k == 5
  }
}

#define BIFSMN_TARGET_PIXEL_AVX2 __attribute__((target("avx2")))

BIFSMN_TARGET_PIXEL_AVX2
void conv2_pixel_grid16_avx2(const std::uint64_t* planes, int hp, int r0, int r1,
                             std::uint8_t* grid) noexcept {
  // Per row and group g of 8 channels: V holds byte q (columns 8q .. 8q + 7, q < 4) of channel
  // 8g + x at byte 8q + x (a dword gather of the channels' low 32 bits, then a byte transpose:
  // vpshufb within the 128-bit lanes, vpermd across them). Shifting V's 16-bit lanes left by
  // 7 - j puts bit j of every byte at its top bit, so movemask returns in byte q the 8 channel
  // bits of column 8q + j: pixel 8q + j's byte g. The eight masks are transposed back into
  // pixel order the same way, and the two groups interleaved into 2-byte pixels.
  const __m256i shuf = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i gidx[2];
  for (int g = 0; g < 2; ++g) {  // dword index of channel 8g + x's word (2 dwords per word)
    gidx[g] = _mm256_setr_epi32((8 * g + 0) * 2 * hp, (8 * g + 1) * 2 * hp, (8 * g + 2) * 2 * hp,
                                (8 * g + 3) * 2 * hp, (8 * g + 4) * 2 * hp, (8 * g + 5) * 2 * hp,
                                (8 * g + 6) * 2 * hp, (8 * g + 7) * 2 * hp);
  }
  for (int R = r0; R < r1; ++R) {
    __m256i P[2];
    for (int g = 0; g < 2; ++g) {
      const __m256i low = _mm256_i32gather_epi32(
          reinterpret_cast<const int*>(planes + R), gidx[g], 4);  // dword x = channel's low 32 bits
      const __m256i V = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(low, shuf), pair);
      alignas(32) std::uint32_t m[8];
      for (int j = 0; j < 8; ++j) {
        __m256i sh;
        switch (j) {  // the shift count must be an immediate
          case 0: sh = _mm256_slli_epi16(V, 7); break;
          case 1: sh = _mm256_slli_epi16(V, 6); break;
          case 2: sh = _mm256_slli_epi16(V, 5); break;
          case 3: sh = _mm256_slli_epi16(V, 4); break;
          case 4: sh = _mm256_slli_epi16(V, 3); break;
          case 5: sh = _mm256_slli_epi16(V, 2); break;
          case 6: sh = _mm256_slli_epi16(V, 1); break;
          default: sh = V; break;
        }
        m[j] = static_cast<std::uint32_t>(_mm256_movemask_epi8(sh));
      }
      const __m256i T = _mm256_load_si256(reinterpret_cast<const __m256i*>(m));  // byte 4j + q
      P[g] = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(T, shuf), pair);  // byte 8q + j
    }
    const __m256i lo = _mm256_unpacklo_epi8(P[0], P[1]);  // pixels 0-7 | 16-23
    const __m256i hi = _mm256_unpackhi_epi8(P[0], P[1]);  // pixels 8-15 | 24-31
    std::uint8_t* row = grid + static_cast<std::size_t>(R) * 64;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + 32),
                        _mm256_permute2x128_si256(lo, hi, 0x31));
  }
}

}  // namespace bifsmn::detail

#else  // not x86-64: the pixel path is never taken

namespace bifsmn::detail {
bool have_conv2_pixel() noexcept { return false; }
void conv2_pixel_grid16(const std::uint64_t*, int, int, int, std::uint8_t*) noexcept {}
void conv2_pixel_rows16(const std::uint8_t*, int, int, int, std::size_t, std::uint64_t*) noexcept {}
void conv2_pixel_grid16_avx2(const std::uint64_t*, int, int, int, std::uint8_t*) noexcept {}
}  // namespace bifsmn::detail

#endif
