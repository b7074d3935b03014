// The detector's window gate (bifsmn.detect.gate.Gate) in C++: which 1-s windows of a stream
// reach the network. Same tests, same order, same float64 statistics as the numpy version
// (pre-emphasised 25-ms frame levels, peak and 10th-percentile floor, speech-band contrast,
// spectral flatness of the loud frames); only rounding differs (summation order, |X|^2 without
// hypot, the flatness logs as one log of a product), so decisions are the same except for a
// value that close to a threshold (tests/test_detect_gate.py compares both). Why native: in a live
// stream fed 100 ms at a time the numpy gate cost more than the network (docs/results/live-stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace bifsmn {

// Gate settings; a test whose `use_*` is false is off (a Python None).
struct GateParams {
  int frame = 400;        // samples per frame (FRAME_MS at the sample rate)
  int band_lo = 1;        // speech band: power-spectrum bins band_lo..band_hi (DC is bin 0)
  int band_hi = 200;
  bool use_floor = true;
  double floor_db = -60.0;
  bool use_contrast = true;
  double contrast_db = 10.0;
  bool use_lead = true;
  double max_lead = 0.5;
  bool use_flat = false;
  double flat_max = 0.35;
  bool use_band = false;
  double band_db = 12.0;
  // the numpy module's constants (the binding passes bifsmn.detect.gate's values)
  double preemphasis = 0.97;  // applied in float32, as numpy does on float32 windows
  double floor_quantile = 0.1;
  double silent_db = -120.0;
  double loud_within_db = 10.0;
  double level_floor = 1e-12;     // mean square floor before a frame's dB
  double spectrum_floor = 1e-20;  // added to every power bin (finite flatness logs)
};

// One stream's per-frame spectra (mean power, flatness, speech-band power), keyed by the stream
// sample where the frame starts: a 100-ms hop shares 36 of a window's 40 frames with the previous
// window. Frames before the latest call's first one are dropped once the cache holds more than
// four calls' worth, so memory stays flat on an endless stream. clear() when the stream restarts.
class GateCache {
 public:
  GateCache();
  ~GateCache();
  GateCache(const GateCache&) = delete;
  GateCache& operator=(const GateCache&) = delete;
  void clear();
  std::size_t size() const;
  struct Impl;
  std::unique_ptr<Impl> impl;
};

// keep[i] for windows x (n, w) float32 ending at stream samples ends[i]; samples at or after
// audio_end (< 0: none) and before 0 are padding. hann: the frame's window (numpy.hanning),
// `frame` values. cache may be null (every frame computed).
void gate_active(const GateParams& p, const float* x, std::size_t n, std::size_t w,
                 const std::int64_t* ends, std::int64_t audio_end, const double* hann,
                 GateCache* cache, std::uint8_t* keep);

// The statistics behind the decisions, for tests: per window (n) peak and floor level (dB) of
// the pre-emphasised frames, speech-band contrast (dB) and loud-frame flatness.
void gate_stats(const GateParams& p, const float* x, std::size_t n, std::size_t w,
                const std::int64_t* ends, std::int64_t audio_end, const double* hann,
                double* peak, double* floor, double* band_contrast, double* flatness);

}  // namespace bifsmn
