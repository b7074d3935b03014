// nanobind bindings: bifsmn.engine._engine. The Python class
// bifsmn.engine.Engine wraps NativeEngine (shape handling, errors).
// Every inference call runs the whole network natively with the GIL released.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "bifsmn/engine.h"
#include "bifsmn/gate.h"
#include "bifsmn/kernels.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using In2 = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Out2 = nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

struct NativeEngine {
  std::unique_ptr<bifsmn::Engine> e;

  void check_out(const In2& x, const Out2& out, std::size_t cols) const {
    if (out.shape(0) != x.shape(0) || out.shape(1) != cols) {
      throw bifsmn::BkwsError("output array has the wrong shape");
    }
  }
  void predict_features(const In2& x, Out2& out) {
    const std::size_t per = static_cast<std::size_t>(e->n_mels()) * e->frames();
    if (x.shape(1) != per) {
      throw bifsmn::BkwsError("features must hold " + std::to_string(per) + " values per clip");
    }
    check_out(x, out, e->num_classes());
    nb::gil_scoped_release release;
    e->predict_features(x.data(), x.shape(0), out.data());
  }
  void predict_audio(const In2& x, Out2& out) {
    check_out(x, out, e->num_classes());
    if (x.shape(1) == 0) throw bifsmn::BkwsError("audio clips hold no samples");
    nb::gil_scoped_release release;
    e->predict_audio(x.data(), x.shape(0), x.shape(1), out.data());
  }
  // Per-call wall times (seconds) of `runs` calls after `warmup`, measured in
  // C++ around the engine call alone: the engine's latency without Python.
  std::vector<double> time_calls(const In2& x, bool audio, int runs, int warmup) {
    const std::size_t per = static_cast<std::size_t>(e->n_mels()) * e->frames();
    if (!audio && x.shape(1) != per) throw bifsmn::BkwsError("features have the wrong size");
    if (audio && x.shape(1) == 0) throw bifsmn::BkwsError("audio clips hold no samples");
    std::vector<float> out(x.shape(0) * e->num_classes());
    std::vector<double> t(static_cast<std::size_t>(std::max(runs, 0)));
    nb::gil_scoped_release release;
    e->reserve(x.shape(0));
    for (int i = -warmup; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (audio) {
        e->predict_audio(x.data(), x.shape(0), x.shape(1), out.data());
      } else {
        e->predict_features(x.data(), x.shape(0), out.data());
      }
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= 0) t[static_cast<std::size_t>(i)] = std::chrono::duration<double>(t1 - t0).count();
    }
    return t;
  }
  // Per-call wall times (seconds) of the front end alone (audio -> features), timed like
  // time_calls: the bench's front-end figure, measured directly rather than as the
  // difference of two noisy medians (end to end minus network).
  std::vector<double> time_frontend(const In2& x, int runs, int warmup) {
    if (x.shape(1) == 0) throw bifsmn::BkwsError("audio clips hold no samples");
    std::vector<float> out(x.shape(0) * static_cast<std::size_t>(e->n_mels()) * e->frames());
    std::vector<double> t(static_cast<std::size_t>(std::max(runs, 0)));
    nb::gil_scoped_release release;
    for (int i = -warmup; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      e->compute_features(x.data(), x.shape(0), x.shape(1), out.data());
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= 0) t[static_cast<std::size_t>(i)] = std::chrono::duration<double>(t1 - t0).count();
    }
    return t;
  }
  // Per-window wall times (seconds) of the front end in a stream: windows of `stream` every
  // `hop` samples through one new FrameCache (rows shared where the front end allows), timed
  // like time_frontend; window i starts at stream position i * hop, warm-up windows first.
  std::vector<double> time_stream_frontend(
      const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& stream,
      std::int64_t hop, int runs, int warmup) {
    const std::int64_t clip = e->feature_config().clip_samples;
    const std::int64_t windows = static_cast<std::int64_t>(std::max(runs, 0)) + std::max(warmup, 0);
    if (hop < 1) throw bifsmn::BkwsError("stream hop must be at least 1 sample");
    if (windows > 0 && static_cast<std::int64_t>(stream.shape(0)) < (windows - 1) * hop + clip) {
      throw bifsmn::BkwsError("stream too short for the requested windows");
    }
    std::vector<float> out(static_cast<std::size_t>(e->n_mels()) * e->frames());
    std::vector<double> t(static_cast<std::size_t>(std::max(runs, 0)));
    auto cache = e->new_frame_cache();
    nb::gil_scoped_release release;
    for (std::int64_t w = 0; w < windows; ++w) {
      const std::int64_t start = w * hop;
      const auto t0 = std::chrono::steady_clock::now();
      e->compute_features_at(stream.data() + start, 1, &start, *cache, out.data());
      const auto t1 = std::chrono::steady_clock::now();
      const std::int64_t i = w - std::max(warmup, 0);
      if (i >= 0) t[static_cast<std::size_t>(i)] = std::chrono::duration<double>(t1 - t0).count();
    }
    return t;
  }
  void compute_features_at(const In2& x, const nb::ndarray<const std::int64_t, nb::ndim<1>,
                                                         nb::c_contig, nb::device::cpu>& starts,
                           bifsmn::FrameCache& cache, Out2& out) {
    check_out(x, out, static_cast<std::size_t>(e->n_mels()) * e->frames());
    if (starts.shape(0) != x.shape(0)) throw bifsmn::BkwsError("one start per window needed");
    if (x.shape(1) != static_cast<std::size_t>(e->feature_config().clip_samples)) {
      throw bifsmn::BkwsError("stream windows must hold exactly clip_samples samples");
    }
    nb::gil_scoped_release release;
    e->compute_features_at(x.data(), x.shape(0), starts.data(), cache, out.data());
  }
  void predict_at(const In2& x, const nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig,
                                             nb::device::cpu>& starts,
                  bifsmn::FrameCache& cache, Out2& out) {
    check_out(x, out, e->num_classes());
    if (starts.shape(0) != x.shape(0)) throw bifsmn::BkwsError("one start per window needed");
    if (x.shape(1) != static_cast<std::size_t>(e->feature_config().clip_samples)) {
      throw bifsmn::BkwsError("stream windows must hold exactly clip_samples samples");
    }
    nb::gil_scoped_release release;
    e->predict_at(x.data(), x.shape(0), starts.data(), cache, out.data());
  }
  void compute_features(const In2& x, Out2& out) {
    check_out(x, out, static_cast<std::size_t>(e->n_mels()) * e->frames());
    if (x.shape(1) == 0) throw bifsmn::BkwsError("audio clips hold no samples");
    nb::gil_scoped_release release;
    e->compute_features(x.data(), x.shape(0), x.shape(1), out.data());
  }
};

nb::dict stage_dict(const bifsmn::StageTimes& t) {
  nb::dict d;
  d["frontend"] = t.frontend;
  d["conv1"] = t.conv1;
  d["binary"] = t.binary;
  d["binary_gemm"] = t.binary_gemm;
  d["fp_layers"] = t.fp_layers;
  d["bops"] = t.bops;
  d["calls"] = t.calls;
  return d;
}

using In1I = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using In1D = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Out1U = nb::ndarray<std::uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Out1D = nb::ndarray<double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Opt = std::optional<double>;

// bifsmn.detect.gate.Gate's settings as GateParams (None turns a test off).
// consts: bifsmn.detect.gate's (PREEMPHASIS, FLOOR_QUANTILE, SILENT_DB, LOUD_WITHIN_DB,
// LEVEL_FLOOR, SPECTRUM_FLOOR), so the numpy module stays the one place that defines them.
bifsmn::GateParams gate_params(int frame, int band_lo, int band_hi, Opt floor_db,
                               Opt contrast_db, Opt max_lead, Opt flat_max, Opt band_db,
                               const In2& x, const In1I& ends, const In1D& hann,
                               const In1D& consts) {
  if (frame < 1 || hann.shape(0) != static_cast<std::size_t>(frame)) {
    throw bifsmn::BkwsError("gate: the window must hold one value per frame sample");
  }
  if (consts.shape(0) != 6) throw bifsmn::BkwsError("gate: six constants expected");
  if (ends.shape(0) != x.shape(0)) throw bifsmn::BkwsError("gate: one end per window");
  if (band_lo < 1 || band_hi < band_lo || band_hi > frame / 2) {
    throw bifsmn::BkwsError("gate: band bins out of range");
  }
  bifsmn::GateParams p;
  p.frame = frame;
  p.band_lo = band_lo;
  p.band_hi = band_hi;
  p.use_floor = floor_db.has_value();
  p.floor_db = floor_db.value_or(0.0);
  p.use_contrast = contrast_db.has_value();
  p.contrast_db = contrast_db.value_or(0.0);
  p.use_lead = max_lead.has_value();
  p.max_lead = max_lead.value_or(0.0);
  p.use_flat = flat_max.has_value();
  p.flat_max = flat_max.value_or(0.0);
  p.use_band = band_db.has_value();
  p.band_db = band_db.value_or(0.0);
  p.preemphasis = consts.data()[0];
  p.floor_quantile = consts.data()[1];
  p.silent_db = consts.data()[2];
  p.loud_within_db = consts.data()[3];
  p.level_floor = consts.data()[4];
  p.spectrum_floor = consts.data()[5];
  return p;
}

}  // namespace

NB_MODULE(_engine, m) {
  m.doc() = "bifsmn bitwise inference engine (C++ core, see docs/engine.md)";
  nb::exception<bifsmn::BkwsError>(m, "BkwsError", PyExc_ValueError);

  nb::class_<bifsmn::FrameCache>(m, "FrameCache")
      .def("clear", &bifsmn::FrameCache::clear)
      .def_prop_ro("hits", &bifsmn::FrameCache::hits)
      .def_prop_ro("misses", &bifsmn::FrameCache::misses);

  nb::class_<NativeEngine>(m, "NativeEngine")
      .def_static(
          "from_file",
          [](const std::string& path, const std::string& kernel, const std::string& fp_kernel) {
            return new NativeEngine{bifsmn::Engine::load_file(path, kernel, fp_kernel)};
          },
          "path"_a, "kernel"_a = "", "fp_kernel"_a = "", nb::rv_policy::take_ownership)
      .def_static(
          "from_bytes",
          [](nb::bytes data, const std::string& name, const std::string& kernel,
             const std::string& fp_kernel) {
            return new NativeEngine{
                bifsmn::Engine::load_bytes(data.c_str(), data.size(), name, kernel, fp_kernel)};
          },
          "data"_a, "name"_a = "<bytes>", "kernel"_a = "", "fp_kernel"_a = "",
          nb::rv_policy::take_ownership)
      .def_prop_ro("kind", [](const NativeEngine& s) { return s.e->kind(); })
      .def_prop_ro("method", [](const NativeEngine& s) { return s.e->method(); })
      .def_prop_ro("metadata_json", [](const NativeEngine& s) { return s.e->metadata_json(); })
      .def_prop_ro("labels", [](const NativeEngine& s) { return s.e->labels(); })
      .def_prop_ro("is_binary", [](const NativeEngine& s) { return s.e->is_binary(); })
      .def_prop_ro("available_blocks", [](const NativeEngine& s) { return s.e->available_blocks(); })
      // these take the engine's mutex: waiting for another thread's predict, they release the
      // GIL, so the rest of the program is not frozen meanwhile
      .def_prop_ro("blocks",
                   [](const NativeEngine& s) {
                     nb::gil_scoped_release release;
                     return s.e->blocks();
                   })
      .def(
          "set_blocks",
          [](NativeEngine& s, int b) {
            nb::gil_scoped_release release;
            s.e->set_blocks(b);
          },
          "blocks"_a)
      .def_prop_ro("kernel", [](const NativeEngine& s) { return std::string(s.e->kernel_name()); })
      .def_prop_ro("fp_kernel",
                   [](const NativeEngine& s) { return std::string(s.e->fp_kernel_name()); })
      .def_prop_ro("num_classes", [](const NativeEngine& s) { return s.e->num_classes(); })
      .def_prop_ro("n_mels", [](const NativeEngine& s) { return s.e->n_mels(); })
      .def_prop_ro("frames", [](const NativeEngine& s) { return s.e->frames(); })
      .def_prop_ro("file_bytes", [](const NativeEngine& s) { return s.e->file_bytes(); })
      .def_prop_ro("feature_config",
                   [](const NativeEngine& s) {
                     const bifsmn::FeatureConfig& f = s.e->feature_config();
                     nb::dict d;
                     // The fields of the Python config of this kind (plus "kind"), so
                     // bifsmn.data.frontends.feature_config_from_dict rebuilds it.
                     d["kind"] = f.kind;
                     d["sample_rate"] = f.sample_rate;
                     d["clip_samples"] = f.clip_samples;
                     if (f.is_fbank40()) d["frame_length"] = f.frame_length;
                     d["hop_length"] = f.hop_length;
                     d["n_fft"] = f.n_fft;
                     d["n_mels"] = f.n_mels;
                     d["f_min"] = f.f_min;
                     d["f_max"] = f.f_max;
                     if (f.is_fbank40()) {
                       d["window_power"] = f.window_power;
                       d["log_scale"] = f.log_scale;
                       d["log_offset"] = f.log_offset;
                       d["pool"] = f.pool;
                       d["input_scale"] = f.input_scale;
                     } else {
                       d["amin"] = f.amin;
                     }
                     return d;
                   })
      .def("reserve", [](NativeEngine& s, std::size_t b) { s.e->reserve(b); }, "batch"_a)
      .def("predict_features", &NativeEngine::predict_features, "x"_a, "out"_a)
      .def("predict_audio", &NativeEngine::predict_audio, "x"_a, "out"_a)
      .def("compute_features", &NativeEngine::compute_features, "x"_a, "out"_a)
      .def("compute_features_at", &NativeEngine::compute_features_at, "x"_a, "starts"_a,
           "cache"_a, "out"_a)
      .def("predict_at", &NativeEngine::predict_at, "x"_a, "starts"_a, "cache"_a, "out"_a)
      .def("new_frame_cache", [](const NativeEngine& s) { return s.e->new_frame_cache(); })
      .def("time_calls", &NativeEngine::time_calls, "x"_a, "audio"_a, "runs"_a, "warmup"_a)
      .def("time_frontend", &NativeEngine::time_frontend, "x"_a, "runs"_a, "warmup"_a)
      .def("time_stream_frontend", &NativeEngine::time_stream_frontend, "stream"_a, "hop"_a,
           "runs"_a, "warmup"_a)
      .def(
          "set_profiling",
          [](NativeEngine& s, bool on) {
            nb::gil_scoped_release release;
            s.e->set_profiling(on);
          },
          "on"_a)
      .def("reset_stage_times",
           [](NativeEngine& s) {
             nb::gil_scoped_release release;
             s.e->reset_stage_times();
           })
      .def("stage_times", [](const NativeEngine& s) {
        bifsmn::StageTimes t;
        {
          nb::gil_scoped_release release;
          t = s.e->stage_times();
        }
        return stage_dict(t);
      });

  m.def("available_kernels", [] {
    std::vector<std::string> out;
    for (std::string_view k : bifsmn::available_kernels()) out.emplace_back(k);
    return out;
  });
  m.def(
      "popcount_peak_gbops",
      [](const std::string& kernel, double seconds) {
        const bifsmn::Kernel* k = nullptr;
        try {
          k = kernel.empty() ? &bifsmn::select_kernel() : &bifsmn::get_kernel(kernel);
        } catch (const std::runtime_error& ex) {
          throw bifsmn::BkwsError(ex.what());
        }
        nb::gil_scoped_release release;
        return bifsmn::popcount_peak_gbops(*k, seconds);
      },
      "kernel"_a = "", "seconds"_a = 0.3);
  nb::class_<bifsmn::GateCache>(m, "GateCache")
      .def(nb::init<>())
      .def("clear", &bifsmn::GateCache::clear)
      .def("__len__", &bifsmn::GateCache::size);
  m.def(
      "gate_active",
      [](const In2& x, const In1I& ends, std::int64_t audio_end, const In1D& hann, int frame,
         int band_lo, int band_hi, const In1D& consts, Opt floor_db, Opt contrast_db,
         Opt max_lead, Opt flat_max, Opt band_db, bifsmn::GateCache* cache, Out1U& keep) {
        const auto p = gate_params(frame, band_lo, band_hi, floor_db, contrast_db, max_lead,
                                   flat_max, band_db, x, ends, hann, consts);
        if (keep.shape(0) != x.shape(0)) throw bifsmn::BkwsError("gate: one flag per window");
        nb::gil_scoped_release release;
        bifsmn::gate_active(p, x.data(), x.shape(0), x.shape(1), ends.data(), audio_end,
                            hann.data(), cache, keep.data());
      },
      "x"_a, "ends"_a, "audio_end"_a, "hann"_a, "frame"_a, "band_lo"_a, "band_hi"_a, "consts"_a,
      "floor_db"_a.none(), "contrast_db"_a.none(), "max_lead"_a.none(), "flat_max"_a.none(),
      "band_db"_a.none(), "cache"_a.none(), "keep"_a);
  m.def(
      "gate_stats",
      [](const In2& x, const In1I& ends, std::int64_t audio_end, const In1D& hann, int frame,
         int band_lo, int band_hi, const In1D& consts, Out1D& peak, Out1D& floor, Out1D& band,
         Out1D& flat) {
        const auto p = gate_params(frame, band_lo, band_hi, 0.0, 0.0, 0.0, 0.0, 0.0, x, ends,
                                   hann, consts);
        for (const Out1D* o : {&peak, &floor, &band, &flat}) {
          if (o->shape(0) != x.shape(0)) throw bifsmn::BkwsError("gate: one value per window");
        }
        nb::gil_scoped_release release;
        bifsmn::gate_stats(p, x.data(), x.shape(0), x.shape(1), ends.data(), audio_end,
                           hann.data(), peak.data(), floor.data(), band.data(), flat.data());
      },
      "x"_a, "ends"_a, "audio_end"_a, "hann"_a, "frame"_a, "band_lo"_a, "band_hi"_a, "consts"_a,
      "peak"_a, "floor"_a, "band"_a, "flat"_a);
  m.def("crc32", [](nb::bytes data) { return bifsmn::crc32(data.c_str(), data.size()); });
  // The compiler that built this module (benchmarks name it: the same source runs at different
  // speeds under GCC and Clang; docs/engine.md, "With clang++").
  m.def("compiler", [] {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("GCC ") + __VERSION__;
#else
    return std::string("unknown compiler");
#endif
  });
}
