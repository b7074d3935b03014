// <immintrin.h> for the x86-64 files with AVX-512 code (kernels_avx512.cc, ops/binarize/quant_x86.cc,
// ops/frontend/levels_x86.cc). GCC 12's avx512fintrin.h builds some intrinsics on a deliberately
// uninitialised _mm512_undefined_*() value, which -Wuninitialized / -Wmaybe-uninitialized report
// once inlined (a known false positive, GCC bug 105593); the warnings are off for the rest of the
// including file, which is only such code.
#pragma once

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif
