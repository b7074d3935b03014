// The pass/fail counter the C++ test programs share: each check prints one [PASS]/[FAIL]
// line (tests/test_cpp_kernels.py looks for [FAIL]) and main() reports the counts.
#pragma once

#include <cstdio>
#include <string>

namespace bifsmn::testing {

struct Tally {
  int passed = 0;
  int failed = 0;
};

inline Tally& tally() {
  static Tally t;
  return t;
}

inline void check(bool ok, const std::string& what) {
  if (ok) {
    ++tally().passed;
    std::printf("[PASS] %s\n", what.c_str());
  } else {
    ++tally().failed;
    std::printf("[FAIL] %s\n", what.c_str());
  }
}

// Prints "<program>: N passed, M failed" and returns the exit status.
inline int report(const char* program) {
  std::printf("%s: %d passed, %d failed\n", program, tally().passed, tally().failed);
  return tally().failed == 0 ? 0 : 1;
}

}  // namespace bifsmn::testing
