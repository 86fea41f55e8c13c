/* cpu.h - what this x86-64 CPU can run, asked once where a choice is made.
 * glibc's loader has read the CPU (and whether the kernel saves the AVX
 * registers) for its own string functions already: asking it costs a
 * call, and no constructor of ours runs cpuid in every process the shim is
 * loaded into (glibc 2.33 on). Elsewhere, libgcc's model (one
 * constructor). */
#ifndef NM_COMMON_CPU_H
#define NM_COMMON_CPU_H

#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <sys/platform/x86.h>
/* True when AVX2 code may run here. */
#define NM_CPU_HAS_AVX2() CPU_FEATURE_ACTIVE(AVX2)
#else
#define NM_CPU_HAS_AVX2() __builtin_cpu_supports("avx2")
#endif

#endif
