#include "bifsmn/bitpack.h"

#include <algorithm>

#include "arm32_float_guard.h"

namespace bifsmn {
namespace {

// One generic loop for float and int8: `x < 0` is the whole sign rule, and
// for float it sends -0.0f to bit 0 as documented.
template <class T>
void pack_rows(const T* src, std::size_t rows, std::size_t cols,
               std::uint64_t* dst) noexcept {
  const std::size_t stride = packed_row_words(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* in = src + r * cols;
    std::uint64_t* out = dst + r * stride;
    std::size_t word = 0;
    for (std::size_t k0 = 0; k0 < cols; k0 += kWordBits, ++word) {
      const std::size_t n = std::min(kWordBits, cols - k0);
      std::uint64_t bits = 0;
      for (std::size_t b = 0; b < n; ++b) {
        bits |= static_cast<std::uint64_t>(in[k0 + b] < T(0)) << b;
      }
      out[word] = bits;
    }
    std::fill(out + word, out + stride, std::uint64_t{0});
  }
}

template <class T>
PackedMatrix pack_owned(const T* src, std::size_t rows, std::size_t cols) {
  PackedMatrix p;
  p.rows = rows;
  p.cols = cols;
  p.row_words = packed_row_words(cols);
  p.words.resize(rows * p.row_words);
  pack_rows(src, rows, cols, p.words.data());
  return p;
}

}  // namespace

void pack_signs(const float* src, std::size_t rows, std::size_t cols,
                std::uint64_t* dst) noexcept {
  pack_rows(src, rows, cols, dst);
}

void pack_signs(const std::int8_t* src, std::size_t rows, std::size_t cols,
                std::uint64_t* dst) noexcept {
  pack_rows(src, rows, cols, dst);
}

PackedMatrix pack_signs(const float* src, std::size_t rows, std::size_t cols) {
  return pack_owned(src, rows, cols);
}

PackedMatrix pack_signs(const std::int8_t* src, std::size_t rows,
                        std::size_t cols) {
  return pack_owned(src, rows, cols);
}

}  // namespace bifsmn
