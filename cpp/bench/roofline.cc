// Popcount roofline and GEMM timings, single thread.
//
//   roofline [--quick] [kernel ...]
//
// 1 bop ("bit-op") = one 1-bit multiply-accumulate: XOR + popcount of one bit
// pair, so a binary GEMM does M*N*K bops. A float GEMM does 2*M*N*K flops.
//
// Roofline: for each kernel, the best bop/s its own binary GEMM reaches on
// shapes whose operands stay in L1 (<= 24 KiB; large K, and K = 512 for the
// register strips of kernels that prepare weights): the peak rate of its
// XOR + popcount inner loop on this machine, with blocking and reductions
// amortized. GEMM rows then report the fraction of that peak reached on the
// shapes the model uses (M = 8 time steps). Every number is the median over
// many timed batches (std::chrono::steady_clock).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bifsmn/bitpack.h"
#include "bifsmn/kernels.h"

namespace {

struct Options {
  bool quick = false;
  std::vector<std::string> kernels;  // empty: all available
};

struct Timing {
  int batches;            // timed batches, median taken over these
  double min_batch_s;     // each batch repeats the call for at least this long
};

// Median seconds per call of fn().
template <class F>
double median_seconds(const Timing& timing, F&& fn) {
  using clock = std::chrono::steady_clock;
  // Calibrate calls per batch (also warms caches and the branch predictor).
  std::size_t calls = 1;
  for (;;) {
    const auto t0 = clock::now();
    for (std::size_t c = 0; c < calls; ++c) fn();
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s >= timing.min_batch_s) break;
    calls *= s > 0 ? std::clamp<std::size_t>(
                         static_cast<std::size_t>(timing.min_batch_s / s * 1.2),
                         2, 1000)
                   : 10;
  }
  std::vector<double> per_call(timing.batches);
  for (double& t : per_call) {
    const auto t0 = clock::now();
    for (std::size_t c = 0; c < calls; ++c) fn();
    t = std::chrono::duration<double>(clock::now() - t0).count() /
        static_cast<double>(calls);
  }
  std::nth_element(per_call.begin(), per_call.begin() + per_call.size() / 2,
                   per_call.end());
  return per_call[per_call.size() / 2];
}

struct BinaryProblem {
  std::size_t m, n, k;
  bifsmn::PackedMatrix a, w;
  std::vector<std::int32_t> out;

  BinaryProblem(std::size_t m_, std::size_t n_, std::size_t k_,
                std::mt19937_64& rng)
      : m(m_), n(n_), k(k_), out(m_ * n_) {
    std::normal_distribution<float> normal;
    std::vector<float> af(m * k), wf(n * k);
    for (float& v : af) v = normal(rng);
    for (float& v : wf) v = normal(rng);
    a = bifsmn::pack_signs(af.data(), m, k);
    w = bifsmn::pack_signs(wf.data(), n, k);
  }

  // As the engine runs it: on the kernel's prepared weights where it prepares this shape.
  double seconds(const bifsmn::Kernel& kern, const Timing& timing) {
    std::vector<std::uint64_t> wp(kern.prepared_words ? kern.prepared_words(n, k) : 0);
    if (!wp.empty()) kern.prepare(w.data(), n, k, wp.data());
    return median_seconds(timing, [&] {
      if (!wp.empty()) {
        kern.binary_gemm_prepared(a.data(), wp.data(), out.data(), m, n, k);
      } else {
        kern.binary_gemm(a.data(), w.data(), out.data(), m, n, k);
      }
    });
  }
  double bops() const { return static_cast<double>(m * n * k); }
};

// The float side as the engine runs a full-precision layer: float_gemm_kn on weights packed
// once (pack_kn), so the binary-over-float ratio compares against the engine's FP32 path.
struct FloatProblem {
  std::size_t m, n, k;
  std::vector<float> x, wp, b, y;

  FloatProblem(std::size_t m_, std::size_t n_, std::size_t k_,
               std::mt19937_64& rng)
      : m(m_), n(n_), k(k_), x(m_ * k_), wp(bifsmn::kn_packed_floats(n_, k_)), b(n_),
        y(m_ * n_) {
    std::normal_distribution<float> normal;
    std::vector<float> w(n_ * k_);
    for (float& v : x) v = normal(rng);
    for (float& v : w) v = normal(rng);
    for (float& v : b) v = normal(rng);
    bifsmn::pack_kn(w.data(), n, k, wp.data());
  }

  double seconds(const bifsmn::Kernel& kern, const Timing& timing) {
    return median_seconds(timing, [&] {
      kern.float_gemm_kn(x.data(), wp.data(), b.data(), y.data(), m, n, k);
    });
  }
  double flops() const { return 2.0 * static_cast<double>(m * n * k); }
};

Options parse(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      opt.quick = true;
    } else if (argv[i][0] == '-') {
      throw std::runtime_error(std::string("unknown option ") + argv[i] +
                               " (usage: roofline [--quick] [kernel ...])");
    } else {
      opt.kernels.emplace_back(argv[i]);
    }
  }
  if (opt.kernels.empty()) {
    for (std::string_view name : bifsmn::available_kernels()) {
      opt.kernels.emplace_back(name);
    }
  }
  return opt;
}

int run(const Options& opt) {
  // --quick only smoke-tests the code path (used by run_tests.sh).
  const Timing timing = opt.quick ? Timing{3, 1e-4} : Timing{31, 5e-3};
  std::mt19937_64 rng(7);

  // L1-resident peak shapes (operand bytes): 8x2048 + 64x2048 bits = 18 KiB;
  // 8x7936 + 16x7936 bits = 23 KiB (7936 = one full AVX2 byte-counter chunk);
  // 16x512 + 128x512 bits = 9 KiB (+ 8 KiB of output): the short-K register strips of kernels
  // that prepare weights (the same shapes as the engine's popcount_peak_gbops).
  std::vector<BinaryProblem> peak_shapes;
  peak_shapes.emplace_back(8, 64, 2048, rng);
  peak_shapes.emplace_back(8, 16, 7936, rng);
  peak_shapes.emplace_back(16, 128, 512, rng);

  const std::size_t m = 8;
  const std::size_t ks[] = {128, 256, 400, 1024};
  const std::size_t ns[] = {128, 256};

  std::printf("bifsmn roofline: single thread, median of %d batches; "
              "active kernel %s\n",
              timing.batches, bifsmn::active_kernel_name());
  std::printf("1 bop = one 1-bit MAC (XOR+popcount of a bit pair); "
              "float GEMM flops = 2*M*N*K\n\n");

  std::printf("%-10s %14s\n", "kernel", "peak Gbop/s");
  std::vector<double> peaks;
  for (const std::string& name : opt.kernels) {
    const bifsmn::Kernel& kern = bifsmn::get_kernel(name);
    double best = 0;
    for (BinaryProblem& p : peak_shapes) {
      best = std::max(best, p.bops() / p.seconds(kern, timing));
    }
    peaks.push_back(best);
    std::printf("%-10s %14.2f\n", kern.name, best * 1e-9);
  }

  std::printf("\n%-10s %4s %5s %4s %11s %10s %8s %11s %10s %9s\n", "kernel",
              "M", "K", "N", "binary us", "Gbop/s", "%peak", "float us",
              "GFLOP/s", "speedup");
  for (std::size_t ki = 0; ki < opt.kernels.size(); ++ki) {
    const bifsmn::Kernel& kern = bifsmn::get_kernel(opt.kernels[ki]);
    for (std::size_t k : ks) {
      for (std::size_t n : ns) {
        BinaryProblem bp(m, n, k, rng);
        FloatProblem fp(m, n, k, rng);
        const double tb = bp.seconds(kern, timing);
        const double tf = fp.seconds(kern, timing);
        const double rate = bp.bops() / tb;
        std::printf("%-10s %4zu %5zu %4zu %11.3f %10.2f %7.1f%% %11.3f %10.2f "
                    "%8.1fx\n",
                    kern.name, m, k, n, tb * 1e6, rate * 1e-9,
                    100.0 * rate / peaks[ki], tf * 1e6, fp.flops() / tf * 1e-9,
                    tf / tb);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roofline: %s\n", e.what());
    return 2;
  }
}
