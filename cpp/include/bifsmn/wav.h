// Minimal, bounds-checked WAV reader for the standalone runner: RIFF/WAVE
// with PCM 16-bit or IEEE float 32-bit samples (plain or EXTENSIBLE fmt),
// any channel count (downmixed by averaging, like bifsmn.audio.load_audio).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bifsmn {

struct Wave {
  int sample_rate = 0;
  int channels = 0;
  std::vector<float> mono;  // PCM16 scaled by 1/32768 (as libsndfile does)
  std::size_t frames = 0;   // frames in the file (mono holds the first max_frames of them)
  bool cut = false;         // the file holds more frames than mono (frames == mono.size() when
                            // a stream's length is unknown: "at least")
};

// Float samples beyond this magnitude are refused (a corrupted exponent byte gives 1e20, whose
// power spectrum overflows float32); bifsmn.audio applies the same rule.
inline constexpr float kMaxFloatSample = 1000.0f;

// Throws BkwsError("<name>: ...") (declared in bifsmn/engine.h) for anything it cannot read.
Wave parse_wav(const std::uint8_t* data, std::size_t size, const std::string& name);
// The file's header and at most max_frames (>= 1) frames of its audio (the runner reads one
// clip of a recording of any length in bounded memory and time); frames is still the file's
// count where the header or the file size says it. A pipe or FIFO is read as a stream; chunks
// before the audio may hold at most 64 MiB.
Wave read_wav(const std::string& path, std::size_t max_frames = static_cast<std::size_t>(-1));

}  // namespace bifsmn
