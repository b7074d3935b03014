// Sign bit packing for the binary GEMM.
//
// Convention (shared by every kernel):
//   * A row of K values becomes K bits, LSB-first inside little 64-bit words:
//     value k lives in word k / 64, bit k % 64.
//   * bit 0 encodes +1 and bit 1 encodes -1, so for two packed rows
//         dot(a, w) = K - 2 * popcount(a XOR w).
//   * Sign of zero: x >= 0 -> +1 (bit 0), x < 0 -> -1 (bit 1). The test is a
//     comparison, not the IEEE sign bit, so -0.0f packs as +1 like 0.0f.
//     (This matches sign(x) with sign(0) := +1, the usual BNN forward rule.)
//   * Rows are padded to a multiple of kRowAlignWords words (256 bits) so the
//     AVX2 kernel can always load whole vectors. Every bit at index >= K of a
//     row is 0 in both operands, hence XOR is 0 there and the padding never
//     contributes. Kernels rely on this: packed buffers must keep it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bifsmn {

inline constexpr std::size_t kWordBits = 64;
// 4 x 64 bits = one 256-bit AVX2 vector (and two 128-bit NEON vectors).
inline constexpr std::size_t kRowAlignWords = 4;

// Words per packed row for K valid bits: ceil(K / 64) rounded up to a
// multiple of kRowAlignWords. packed_row_words(0) == 0.
constexpr std::size_t packed_row_words(std::size_t k) noexcept {
  const std::size_t words = (k + kWordBits - 1) / kWordBits;
  return (words + kRowAlignWords - 1) / kRowAlignWords * kRowAlignWords;
}

// Bit k of a packed row (true means the value was negative, i.e. -1).
inline bool packed_bit(const std::uint64_t* row, std::size_t k) noexcept {
  return (row[k / kWordBits] >> (k % kWordBits)) & 1u;
}

// Pack a row-major rows x cols matrix into dst, which must hold
// rows * packed_row_words(cols) words. Padding bits and words are written as
// 0, so dst needs no initialisation. No allocation.
void pack_signs(const float* src, std::size_t rows, std::size_t cols,
                std::uint64_t* dst) noexcept;
void pack_signs(const std::int8_t* src, std::size_t rows, std::size_t cols,
                std::uint64_t* dst) noexcept;

// Owning packed matrix, for weights packed once and for tests / bindings.
struct PackedMatrix {
  std::size_t rows = 0;
  std::size_t cols = 0;       // K: valid bits per row
  std::size_t row_words = 0;  // packed_row_words(cols)
  std::vector<std::uint64_t> words;

  const std::uint64_t* data() const noexcept { return words.data(); }
  const std::uint64_t* row(std::size_t r) const noexcept {
    return words.data() + r * row_words;
  }
};

PackedMatrix pack_signs(const float* src, std::size_t rows, std::size_t cols);
PackedMatrix pack_signs(const std::int8_t* src, std::size_t rows,
                        std::size_t cols);

}  // namespace bifsmn
