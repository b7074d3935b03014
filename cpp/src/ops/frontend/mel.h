// Sparse mel bands of a group of frames (one frame per lane of V), shared by both front ends:
// band m of power[] is sum_k power[k] * w[off[m] + k - lo[m]] over k in [lo[m], hi[m]), summed
// in ascending k from +0, the order of the definition (bits equal to one loop per band).
//
// Why four bands at once: one band's sum is a chain of dependent vector adds, so a loop per band
// waits on the add latency (3-4 cycles) at every bin; four bands' chains interleaved keep the
// adders busy. Each band still adds its own terms in its own order, so the bits do not change.
#pragma once

namespace bifsmn::detail {

template <class V, class W>
[[gnu::always_inline]] inline void mel_bands(const V* power, const int* lo, const int* hi,
                                             const int* off, const W* w, int n_mels, V* out) {
  int m = 0;
  for (; m + 4 <= n_mels; m += 4) {
    const V* p0 = power + lo[m];
    const V* p1 = power + lo[m + 1];
    const V* p2 = power + lo[m + 2];
    const V* p3 = power + lo[m + 3];
    const W* w0 = w + off[m];
    const W* w1 = w + off[m + 1];
    const W* w2 = w + off[m + 2];
    const W* w3 = w + off[m + 3];
    const int n0 = hi[m] - lo[m], n1 = hi[m + 1] - lo[m + 1];
    const int n2 = hi[m + 2] - lo[m + 2], n3 = hi[m + 3] - lo[m + 3];
    int common = n0 < n1 ? n0 : n1;
    common = common < n2 ? common : n2;
    common = common < n3 ? common : n3;
    V a0 = {}, a1 = {}, a2 = {}, a3 = {};
    int j = 0;
    for (; j < common; ++j) {
      a0 += p0[j] * w0[j];
      a1 += p1[j] * w1[j];
      a2 += p2[j] * w2[j];
      a3 += p3[j] * w3[j];
    }
    for (int k = j; k < n0; ++k) a0 += p0[k] * w0[k];
    for (int k = j; k < n1; ++k) a1 += p1[k] * w1[k];
    for (int k = j; k < n2; ++k) a2 += p2[k] * w2[k];
    for (int k = j; k < n3; ++k) a3 += p3[k] * w3[k];
    out[m] = a0;
    out[m + 1] = a1;
    out[m + 2] = a2;
    out[m + 3] = a3;
  }
  for (; m < n_mels; ++m) {
    V acc = {};
    const W* wm = w + off[m];
    for (int k = lo[m]; k < hi[m]; ++k) acc += power[k] * wm[k - lo[m]];
    out[m] = acc;
  }
}

}  // namespace bifsmn::detail
