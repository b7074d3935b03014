// Included by every file whose float comparisons decide bits (bitpack.cc, ops/binarize/quant.h).
//
// 32-bit ARM with clang and NEON for the whole build (-mfpu=neon in CXXFLAGS, or a toolchain's
// default): clang then vectorizes float comparisons with NEON, which flushes subnormal floats to
// zero, so -1e-40 >= 0 holds and binarized bits change (session 67: test_kernels' "pack float
// edge cases" and two test_ops binarizer tests failed so). Refused; the NEON kernel is compiled
// for NEON on its own (CMakeLists.txt).
#pragma once

#if defined(__clang__) && defined(__arm__) && !defined(__aarch64__) && defined(__ARM_NEON)
#error "bifsmn: clang with NEON for the whole build on 32-bit ARM flushes subnormals to zero and changes binarized bits: build without -mfpu=neon (the NEON kernel gets it on its own)"
#endif
