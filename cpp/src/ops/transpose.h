// 8 x 8 float transpose in GCC/Clang vector extensions, shared by the front ends (frames into
// SIMD lanes) and conv2 (output positions into token rows). Pure data movement: any ISA, same
// values.
#pragma once

namespace bifsmn::detail {

typedef float v8f __attribute__((vector_size(32)));

#if defined(__clang__)
#define BIFSMN_SHUF8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
typedef int v8i __attribute__((vector_size(32)));
#define BIFSMN_SHUF8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shuffle(a, b, v8i{i0, i1, i2, i3, i4, i5, i6, i7})
#endif

// 8 x 8 transpose: r[l] = 8 consecutive samples of frame l in, c[o] = sample o of the 8 frames
// out (one frame per lane). Pure data movement in three rounds of two-input shuffles.
[[gnu::always_inline]] inline void transpose8(const v8f* r, v8f* c) {
  v8f t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = BIFSMN_SHUF8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = BIFSMN_SHUF8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = BIFSMN_SHUF8(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = BIFSMN_SHUF8(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = BIFSMN_SHUF8(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = BIFSMN_SHUF8(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    c[i] = BIFSMN_SHUF8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    c[i + 4] = BIFSMN_SHUF8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// Samples 2*j0 .. 2*j0 + 15 of eight frames fr[0..7] (one frame per lane): two 8 x 8 transposes
// hand put(j, even, odd) the even and odd samples 2j, 2j + 1 of the eight frames for j = j0 ..
// j0 + 7 (the real FFT's packed input). Shared by the front ends' frame gathers.
template <typename Put>
[[gnu::always_inline]] inline void gather_pairs16(const float* const* fr, int j0, Put&& put) {
  v8f r[8], c[8];
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 8; ++l) __builtin_memcpy(&r[l], fr[l] + 2 * j0 + 8 * h, sizeof r[l]);
    transpose8(r, c);
    for (int o = 0; o < 8; o += 2) put(j0 + 4 * h + o / 2, c[o], c[o + 1]);
  }
}

}  // namespace bifsmn::detail
