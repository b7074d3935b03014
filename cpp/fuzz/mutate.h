// Test and fuzz support without Python: a .bkws writer for random models,
// CRC fix-up, structure-aware mutations and the "load and run" harness body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bifsmn::fuzz {

enum class Kind { bifsmnv2, bifsmn_v1, dfsmn_teacher, dfsmn_thinnable };
const char* kind_name(Kind k);

struct SmallArch {
  int classes = 3, n_mels = 32, frames = 32, c1 = 4, c2 = 8, k = 5, dim = 16, hidden = 24,
      layers = 4, left = 2, right = 2;
  bool fbank40 = false;  // fbank40 front end (set n_mels = 40, frames = 32) instead of log-mel
  int version = 2;       // 1: the old format without feat.kind (log-mel only)
};

// A complete, valid .bkws image of a random model (all paths the kind has).
std::vector<std::uint8_t> random_model(std::uint64_t seed, Kind kind,
                                       const SmallArch& arch = SmallArch{});

// Recompute payload size and both CRCs of a file image (no-op if < 32 bytes).
void fix_header(std::vector<std::uint8_t>& file);

// One random mutation of `seed`: byte flips, truncation, insertion, record
// field edits, ...; CRCs are re-fixed most of the time so the mutation reaches
// the record parser and the network builder instead of stopping at the CRC.
std::vector<std::uint8_t> mutate(const std::vector<std::uint8_t>& seed, std::mt19937_64& rng);

// Load `data` and, if it loads, run every path on features and (with `audio`)
// the front end + network on a waveform. Returns true if it loaded. BkwsError
// is expected and swallowed; anything else (another exception, a crash, a
// sanitizer report) is a bug, and so is a call that returns non-finite logits
// (it aborts): a file that loads gives finite logits or raises.
bool exercise(const std::uint8_t* data, std::size_t size, bool audio = true);

}  // namespace bifsmn::fuzz
