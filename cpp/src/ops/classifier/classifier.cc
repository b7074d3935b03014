#include "classifier.h"

namespace bifsmn::ops {

void classifier_reference(const Classifier& p, const float* x, std::size_t B, float* logits) {
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t c = 0; c < p.classes; ++c) {
      double acc[4] = {0, 0, 0, 0};
      for (std::size_t i = 0; i < p.n; ++i) {
        acc[i % 4] = acc[i % 4] + static_cast<double>(p.w[c * p.n + i]) *
                                      static_cast<double>(x[b * p.n + i]);
      }
      logits[b * p.classes + c] = static_cast<float>(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                                                     static_cast<double>(p.b[c]));
    }
  }
}

void classifier_exact(const Classifier& p, const float* x, std::size_t B, float* logits) {
  const std::size_t n = p.n;
  for (std::size_t b = 0; b < B; ++b) {
    const float* xb = x + b * n;
    for (std::size_t c = 0; c < p.classes; ++c) {
      const float* wc = p.w + c * n;
      double acc[4] = {0, 0, 0, 0};
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4) {
        for (int l = 0; l < 4; ++l) {
          acc[l] += static_cast<double>(wc[i + l]) * static_cast<double>(xb[i + l]);
        }
      }
      for (; i < n; ++i) acc[i & 3] += static_cast<double>(wc[i]) * static_cast<double>(xb[i]);
      logits[b * p.classes + c] = static_cast<float>(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                                                     static_cast<double>(p.b[c]));
    }
  }
}

}  // namespace bifsmn::ops
