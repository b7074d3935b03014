// bifsmn-run: classify one WAV clip with a .bkws model, no Python involved.
//
//   bifsmn-run [--blocks 8|4|2|1] [--kernel NAME] [--exact] model.bkws clip.wav
//
// A clip longer than the model's (1 s) is cut to its first clip_samples, like the Python API,
// and a "note:" line says so (only that much of the file's audio is read). Prints the top class, then every class with its logit and softmax score; --exact adds a line
// "exact: " with every logit as a C99 hexadecimal float (%a: the float's exact bits, for
// bit-identity checks across builds, e.g. x86-64 vs aarch64 under qemu).
// Exit status: 0 on success, 2 on any error (one line on stderr; a wrong command line adds the
// usage line), including NaN or infinite logits: a printed prediction is always finite.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bifsmn/engine.h"
#include "bifsmn/wav.h"

namespace {
constexpr const char* kUsage =
    "usage: bifsmn-run [--blocks 8|4|2|1] [--kernel NAME] [--exact] model.bkws clip.wav\n";

// a wrong command line: what is wrong, then the usage line (exit status 2)
int usage_error(const std::string& problem) {
  std::fprintf(stderr, "bifsmn-run: error: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

int help() {
  std::printf(
      "%s\nClassify one WAV clip (16-bit PCM or 32-bit float; channels averaged; at the "
      "model's sample rate) with a .bkws model exported by `bifsmn export`.\n\n"
      "  --blocks N     thinnable path to run (a block count the file exports; default: its "
      "deepest)\n"
      "  --kernel NAME  binary kernel: reference, portable, avx2, avx512 or neon (default: the "
      "fastest this CPU runs; a 1-bit model gives the same logits on every kernel)\n"
      "  --exact        add a line with every logit as a hexadecimal float (exact bits)\n"
      "  -h, --help     this text\n\n"
      "Prints the top class, then every class with its logit and softmax score. Exit status 0, "
      "or 2 with one line on stderr (and the usage line for a wrong command line).\n",
      kUsage);
  return 0;
}

// "--name VALUE" or "--name=VALUE": the value, advancing i past it; nullptr if argv[i] is not
// this option; *missing set when the option has no value
const char* option_value(int argc, char** argv, int& i, const char* name, bool* missing) {
  const size_t n = std::strlen(name);
  if (std::strncmp(argv[i], name, n) != 0) return nullptr;
  if (argv[i][n] == '=') return argv[i] + n + 1;
  if (argv[i][n] != '\0') return nullptr;
  if (i + 1 >= argc) {
    *missing = true;
    return nullptr;
  }
  return argv[++i];
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  int blocks = 0;
  std::string kernel;
  bool exact = false;
  for (int i = 1; i < argc; ++i) {
    bool missing = false;
    if (const char* text = option_value(argc, argv, i, "--blocks", &missing)) {
      // a whole number from 1 to 64, nothing else (atoi took "x" as 0, the default path,
      // and "2.5" as 2)
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(text, &end, 10);
      if (end == text || *end != '\0' || errno != 0 || v < 1 || v > 64) {
        std::fprintf(stderr, "bifsmn-run: error: --blocks %s: want a block count the file "
                     "exports (e.g. 8, 4, 2, 1)\n", text);
        return 2;
      }
      blocks = static_cast<int>(v);
    } else if (const char* name = option_value(argc, argv, i, "--kernel", &missing)) {
      kernel = name;
    } else if (missing) {
      return usage_error(std::string(argv[i]) + " needs a value");
    } else if (std::strcmp(argv[i], "--exact") == 0) {
      exact = true;
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      return help();
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return usage_error(std::string("unknown option ") + argv[i]);
    } else {
      pos.emplace_back(argv[i]);
    }
  }
  if (pos.size() != 2) {
    return usage_error(pos.size() < 2 ? "want a model.bkws and a clip.wav"
                                      : "one model and one clip, got " +
                                            std::to_string(pos.size()) + " paths");
  }
  try {
    auto eng = bifsmn::Engine::load_file(pos[0], kernel);
    if (blocks) eng->set_blocks(blocks);
    const int rate = eng->feature_config().sample_rate;
    const int clip = eng->feature_config().clip_samples;
    // the model sees one clip: the rest of a longer recording is not read (any length, bounded
    // memory and time; the frame count comes from the header)
    const bifsmn::Wave wav = bifsmn::read_wav(pos[1], static_cast<std::size_t>(clip));
    if (wav.sample_rate != rate) {
      throw bifsmn::BkwsError(pos[1] + ": sample rate " + std::to_string(wav.sample_rate) +
                              " Hz, the model needs " + std::to_string(rate) +
                              " Hz (resample the clip first)");
    }
    std::vector<float> logits(eng->num_classes());
    try {  // the engine refuses NaN/inf logits (checked once per call): name the clip too
      eng->predict_audio(wav.mono.data(), 1, wav.mono.size(), logits.data());
    } catch (const bifsmn::BkwsError& e) {
      throw bifsmn::BkwsError(std::string(e.what()) + " [audio " + pos[1] + "]");
    }
    const auto& labels = eng->labels();
    const std::size_t top =
        static_cast<std::size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const float mx = logits[top];
    double z = 0;
    for (float l : logits) z += std::exp(static_cast<double>(l - mx));
    std::printf("top: %s (class %zu, probability %.4f)\n", labels[top].c_str(), top,
                1.0 / z);
    // a stream of unknown length (a pipe's WAV with an open data chunk) was cut: "at least"
    const bool unknown = wav.cut && wav.frames <= wav.mono.size();
    std::printf("model: %s, %d blocks, kernel %s, %s%.3f s of audio (%d channel%s)\n",
                eng->kind().c_str(), eng->blocks(), eng->kernel_name(),
                unknown ? "more than " : "", static_cast<double>(wav.frames) / rate,
                wav.channels, wav.channels == 1 ? "" : "s, downmixed");
    if (wav.cut || wav.frames > static_cast<std::size_t>(clip)) {
      // the model sees one clip; a longer recording is cut, not scanned (bifsmn detect scans)
      std::printf("note: only the first %.3f s were classified (the model's clip length); "
                  "use bifsmn detect to find keywords in a longer recording\n",
                  static_cast<double>(clip) / rate);
    }
    std::printf("%-4s %-16s %12s %12s\n", "idx", "label", "logit", "probability");
    for (std::size_t i = 0; i < logits.size(); ++i) {
      std::printf("%-4zu %-16s %12.5f %12.6f\n", i, labels[i].c_str(), logits[i],
                  std::exp(static_cast<double>(logits[i] - mx)) / z);
    }
    if (exact) {
      std::printf("exact:");
      for (float l : logits) std::printf(" %a", static_cast<double>(l));
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bifsmn-run: error: %s\n", e.what());
    return 2;
  }
}
