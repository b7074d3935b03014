/* Throughput of 512-bit vector operations on this CPU (session 53, docs/results/engine-s53):
 *   gcc -O2 docs/results/engine-s53/vector_ops.c -o /tmp/vector_ops && /tmp/vector_ops
 * The clock is estimated first by a chain of dependent integer adds (one per cycle), then each
 * loop's instructions per cycle: eight independent vpopcntd, vpternlogd, vpxord / vpaddd, and
 * four vpopcntd mixed with four vpxord / vpaddd. x86-64 with AVX-512 VPOPCNTDQ only. */
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec a;
  clock_gettime(CLOCK_MONOTONIC, &a);
  return a.tv_sec + a.tv_nsec * 1e-9;
}

#define REGS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9"

int main(void) {
  long n = 200000000L, x = 0;
  double t = now();
  __asm__ volatile(
      "1: add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
      " add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n dec %1\n jnz 1b"
      : "+r"(x), "+r"(n));
  const double hz = 10 * 2e8 / (now() - t);
  printf("clock (dependent adds): %.2f GHz\n", hz / 1e9);

  /* Each loop: 8 vector operations per iteration, 1e8 iterations, printed per cycle. */
#define LOOP(label, ...)                                                           \
  do {                                                                             \
    long it = 100000000L;                                                          \
    const double t0 = now();                                                       \
    __asm__ volatile(__VA_ARGS__ " dec %0\n jnz 1b" : "+r"(it) : : REGS);         \
    printf("%s: %.2f per cycle\n", label, 8e8 / (now() - t0) / hz);               \
  } while (0)
  __asm__ volatile("vpxord %%zmm0,%%zmm0,%%zmm0" : : : "xmm0");
  LOOP("vpopcntd zmm",
       "1: vpopcntd %%zmm0,%%zmm1\n vpopcntd %%zmm0,%%zmm2\n vpopcntd %%zmm0,%%zmm3\n"
       " vpopcntd %%zmm0,%%zmm4\n vpopcntd %%zmm0,%%zmm5\n vpopcntd %%zmm0,%%zmm6\n"
       " vpopcntd %%zmm0,%%zmm7\n vpopcntd %%zmm0,%%zmm8\n");
  LOOP("vpternlogd zmm",
       "1: vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm1\n vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm2\n"
       " vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm3\n vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm4\n"
       " vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm5\n vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm6\n"
       " vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm7\n vpternlogd $0x96,%%zmm0,%%zmm9,%%zmm8\n");
  LOOP("vpxord / vpaddd zmm",
       "1: vpxord %%zmm0,%%zmm9,%%zmm1\n vpxord %%zmm0,%%zmm9,%%zmm2\n"
       " vpxord %%zmm0,%%zmm9,%%zmm3\n vpxord %%zmm0,%%zmm9,%%zmm4\n"
       " vpaddd %%zmm0,%%zmm9,%%zmm5\n vpaddd %%zmm0,%%zmm9,%%zmm6\n"
       " vpaddd %%zmm0,%%zmm9,%%zmm7\n vpaddd %%zmm0,%%zmm9,%%zmm8\n");
  LOOP("4 vpopcntd + 4 vpxord / vpaddd zmm (vector operations)",
       "1: vpopcntd %%zmm0,%%zmm1\n vpxord %%zmm0,%%zmm9,%%zmm2\n vpopcntd %%zmm0,%%zmm3\n"
       " vpxord %%zmm0,%%zmm9,%%zmm4\n vpopcntd %%zmm0,%%zmm5\n vpaddd %%zmm0,%%zmm9,%%zmm6\n"
       " vpopcntd %%zmm0,%%zmm7\n vpaddd %%zmm0,%%zmm9,%%zmm8\n");
  return 0;
}
