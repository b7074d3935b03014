// Session 50: the classifier's FMA version reading the interleaved weights the engine now builds
// at load (ops::classifier_interleave: blocks of 12 / 8 / 4 / 1 classes, four elements of each
// class in turn) against the plain reference, bit for bit, over session 37's 3,000 random shapes
// whose weights and inputs spread over 2^-60 .. 2^60. Prints the mismatching shapes' count.
//
//   g++ -O2 -std=c++17 -ffp-contract=off -Icpp/src -Icpp/include
//       docs/results/engine-s50/stress_interleaved.cc cpp/build-native/libbifsmn_engine.a
//       cpp/build-native/libbifsmn_core.a -o /tmp/cls_stress_i && /tmp/cls_stress_i
//
// (one command line, after `ninja -C cpp/build-native`); output: stress_interleaved.txt.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ops/classifier/classifier.h"

using namespace bifsmn;

int main() {
  std::mt19937 g(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::uniform_int_distribution<int> ex(-60, 60);
  long bad = 0, total = 0;
  for (int it = 0; it < 3000; ++it) {
    ops::Classifier p;
    p.classes = 1 + g() % 40;
    p.n = 1 + g() % 1500;
    std::vector<float> w(p.classes * p.n), b(p.classes), x(p.n);
    for (auto& v : w) v = std::ldexp(u(g), ex(g) / (it % 3 + 1));
    for (auto& v : b) v = std::ldexp(u(g), ex(g) / 4);
    for (auto& v : x) v = std::ldexp(u(g), ex(g) / (it % 3 + 1));
    std::vector<double> wd(w.begin(), w.end());  // the engine's widened copy
    const std::vector<float> wi = ops::classifier_interleave(w.data(), p.classes, p.n);
    p.w = w.data();
    p.b = b.data();
    p.wd = wd.data();
    p.wi = wi.data();  // the FMA version reads this one when the CPU has AVX2 and FMA
    std::vector<float> ref(p.classes), got(p.classes);
    ops::classifier_reference(p, x.data(), 1, ref.data());
    ops::classifier_exact(p, x.data(), 1, got.data());
    total += static_cast<long>(p.classes);
    bad += std::memcmp(ref.data(), got.data(), 4 * p.classes) != 0;
  }
  std::printf("shapes with a differing logit: %ld of 3000 (%ld logits compared)\n", bad, total);
  return bad == 0 ? 0 : 1;
}
