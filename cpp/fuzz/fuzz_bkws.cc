// libFuzzer target for the .bkws loader (clang only):
//   cmake -S cpp -B cpp/build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DBIFSMN_BUILD_FUZZER=ON \
//         -DBIFSMN_SANITIZE=ON && cmake --build cpp/build-fuzz --target fuzz_bkws
//   cpp/build-fuzz/fuzz_bkws -runs=100000 corpus/
// Input byte 0 selects the mode: odd = the rest is a file whose header sizes
// and CRCs get fixed first (reaches the record parser), even = as is.
#include <cstdint>
#include <vector>

#include "mutate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<std::uint8_t> f(data + 1, data + size);
  if (data[0] & 1) bifsmn::fuzz::fix_header(f);
  bifsmn::fuzz::exercise(f.data(), f.size());
  return 0;
}
