// Plain references of the two front ends (frontend.h), in float64 with a direct DFT (no FFT, no
// sparse mel, no SIMD lanes): the definitions the optimized LogMel / Fbank40 compute.
// cpp/tests/test_ops.cc compares them on random configurations: log-mel within 0.01 dB where the
// band holds energy (float32 FFT against float64), fbank40 images equal up to +-1 where a value
// lies within rounding of a .5 step (float64 FFT against a float64 direct DFT).
#pragma once

#include "bifsmn/engine.h"

namespace bifsmn::ops {

// logmel32: reflect-padded frames every hop (centred), periodic Hann window, |DFT|^2 divided by
// sum(window^2), HTK mel triangles (no area normalisation), 10*log10(max(mel, amin)).
// out: n_mels x num_frames, row-major.
void logmel_reference(const FeatureConfig& cfg, const float* wave, float* out);

// fbank40: frames of frame_length samples every hop_length (no padding), samples x 32768,
// povey window (Hann^window_power), zero-padded n_fft DFT power, Kaldi mel triangles,
// round-half-even(log_scale * ln(1 + E / log_offset)) clipped to 0..255, frames pooled in groups
// of `pool` (from the centred offset), times input_scale. out: n_mels x num_frames.
// img (optional): the image, image_frames x n_mels.
void fbank40_reference(const FeatureConfig& cfg, const float* wave, float* out,
                       float* img = nullptr);

}  // namespace bifsmn::ops
