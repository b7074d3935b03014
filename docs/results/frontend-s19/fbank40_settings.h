// The fbank40 settings of bifsmn.data.fbank.Fbank40Config as the engine's FeatureConfig, shared
// by this folder's harnesses (images.cc, timing.cc).
#pragma once

#include "bifsmn/engine.h"

inline bifsmn::FeatureConfig fbank40_settings() {
  bifsmn::FeatureConfig cfg;
  cfg.kind = "fbank40";
  cfg.sample_rate = 16000, cfg.n_fft = 512, cfg.frame_length = 480, cfg.hop_length = 160;
  cfg.n_mels = 40, cfg.clip_samples = 16000, cfg.f_min = 0, cfg.f_max = 4000;
  cfg.window_power = 0.85, cfg.log_scale = 10.0673, cfg.log_offset = 540;
  cfg.input_scale = 1.0 / 96, cfg.pool = 3;
  return cfg;
}
