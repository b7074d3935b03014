// Register-blocking driver shared by the optimized kernels.
//
// for_each_tile<MR, NR>(m, n, body) covers the m x n output with tiles of at
// most MR rows x NR columns and calls
//     body(std::integral_constant<int, mr>{}, std::integral_constant<int, nr>{},
//          row0, col0)
// so the tile size is a compile-time constant in every call: full MR x NR
// tiles for the bulk, smaller instantiations for the ragged edges. Columns are
// the outer loop: the NR weight rows of a strip stay in L1 while every row of
// the (small, M = time steps) activation matrix streams past them.
#pragma once

#include <cstddef>
#include <type_traits>

namespace bifsmn::detail {

template <int V>
using Int = std::integral_constant<int, V>;

template <int MR, int NR, int R, class Body>
void tile_rows_tail(std::size_t i, std::size_t rows_left, std::size_t j,
                    Body& body) {
  if constexpr (R > 0) {
    if (rows_left == R) {
      body(Int<R>{}, Int<NR>{}, i, j);
    } else {
      tile_rows_tail<MR, NR, R - 1>(i, rows_left, j, body);
    }
  }
}

template <int MR, int NR, class Body>
void tile_strip(std::size_t m, std::size_t j, Body& body) {
  std::size_t i = 0;
  for (; i + MR <= m; i += MR) body(Int<MR>{}, Int<NR>{}, i, j);
  tile_rows_tail<MR, NR, MR - 1>(i, m - i, j, body);
}

template <int MR, int NR, class Body>
void tile_cols_tail(std::size_t m, std::size_t j, std::size_t cols_left,
                    Body& body) {
  if constexpr (NR > 0) {
    if (cols_left == NR) {
      tile_strip<MR, NR>(m, j, body);
    } else {
      tile_cols_tail<MR, NR - 1>(m, j, cols_left, body);
    }
  }
}

template <int MR, int NR, class Body>
void for_each_tile(std::size_t m, std::size_t n, Body&& body) {
  std::size_t j = 0;
  for (; j + NR <= n; j += NR) tile_strip<MR, NR>(m, j, body);
  tile_cols_tail<MR, NR - 1>(m, j, n - j, body);
}

}  // namespace bifsmn::detail
