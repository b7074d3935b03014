#include <cstdio>
#include <cstring>
#include <random>
#include <cstdint>
typedef float v8f __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
#include "old.inc"  // 9fa8117's db, renamed db_old
#include "new.inc"  // this checkout's, renamed db_new
int main() {
  std::mt19937 g(1); long bad = 0, n = 0;
  std::uniform_int_distribution<uint32_t> u;
  for (int it = 0; it < 2000000; ++it) {
    v8f x;
    for (int l = 0; l < 8; ++l) {
      uint32_t b = u(g) & 0x7FFFFFFF;  // positive floats incl. subnormal, inf, nan
      if (it % 7 == 0) b = 0x7F800000;  // inf
      float f; std::memcpy(&f, &b, 4); x[l] = f;
    }
    v8f a = x, b2 = x; db_old(&a); db_new(&b2);
    if (std::memcmp(&a, &b2, 32) != 0) {
      for (int l = 0; l < 8; ++l) if (std::memcmp(&a[l], &b2[l], 4)) ++bad;
    }
    n += 8;
  }
  std::printf("values %ld, differing in any bit %ld\n", n, bad);
}
