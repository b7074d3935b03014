/* Session 53's alignment probe (docs/results/engine-s53/README.md): a preloaded malloc that
 * returns 64-byte aligned blocks, so that an engine build with the default allocator runs with
 * cache-line aligned buffers and no code change. glibc only (__libc_memalign); not shipped.
 *   gcc -O2 -shared -fPIC docs/results/engine-s53/align64.c -o /tmp/align64.so
 *   bash docs/results/engine-s53/align_probe.sh 508b93e 6 > docs/results/engine-s53/align-probe.txt */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n) { return __libc_memalign(64, n ? n : 1); }
void *calloc(size_t a, size_t b) { size_t n = a * b; void *p = __libc_memalign(64, n ? n : 1); if (p) memset(p, 0, n); return p; }
void *realloc(void *p, size_t n) { if (!p) return malloc(n); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
