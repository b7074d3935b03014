// conv2's pixel-major GEMM rows: the AVX-512 VBMI + GFNI and AVX2 pieces (pixel_x86.cc; conv2.cc has
// the portable grid and the 16-byte-move rows that every other CPU uses).
//
// Why: conv2's GEMM row of output position (i2, j2) holds the c1 x k x k input bits of its
// window. With the bits in (c, u, v) order (conv2.cc's assemble_rows) a row is c1 * k chunks of
// k bits at odd offsets, assembled by shifts and ORs: 10 % of a 2-block network. Ordered
// (u, v, c) instead, the k pixels of one window row are one contiguous run of k * c1 / 8 bytes
// of a pixel-major copy of the input bits, and a row is k such runs: byte permutes of grid rows
// held in registers. The dots are the same integers (the weights' bits are permuted alike,
// conv2_pixel_weights), so conv2's output is the same bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bifsmn::detail {

// True on x86-64 CPUs with AVX-512 F/BW/VBMI and GFNI (false elsewhere).
bool have_conv2_pixel() noexcept;

// Grid rows r0 .. r1 - 1 of one clip's plane (16 channels): planes holds 16 x hp words
// (channel c, padded row R at c * hp + R, padded column x at bit x; 7 words readable past the
// end); grid row R is 64 bytes, pixel x (< 32) at bytes 2x (channels 0-7, bit = channel) and
// 2x + 1 (channels 8-15).
void conv2_pixel_grid16(const std::uint64_t* planes, int hp, int r0, int r1,
                        std::uint8_t* grid) noexcept;

// The same grid rows with AVX2 only (a gather, byte shuffles and movemask bit transposes): the
// same bytes. Callers check detail::have_avx2 (binarize/quant.h) first.
void conv2_pixel_grid16_avx2(const std::uint64_t* planes, int hp, int r0, int r1,
                             std::uint8_t* grid) noexcept;

// The GEMM rows of output row i2 (t of them, t <= 16) from a grid: row j2 = the k window rows
// of position (i2, j2), each k pixels of 2 bytes, bits (u*k + v)*16 + c, then zeros; `words`
// words per row (k * k * 16 <= words * 64 <= 512). Each row is stored as 64 bytes, rows in
// increasing order, so up to 8 - words words past the t-th row are overwritten: `out` needs
// that much room after its rows (rows written later at higher addresses are unaffected).
void conv2_pixel_rows16(const std::uint8_t* grid, int k, int i2, int t, std::size_t words,
                        std::uint64_t* out) noexcept;

}  // namespace bifsmn::detail
