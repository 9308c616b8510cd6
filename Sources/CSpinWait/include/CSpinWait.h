#ifndef SWIFTLET_CSPINWAIT_H
#define SWIFTLET_CSPINWAIT_H

// The CPU's spin-wait hint (x86 PAUSE): a waiting loop that uses it yields the core's
// resources to a sibling hardware thread and leaves the loop without a memory-order flush.
// Swift cannot emit it itself, and the intrinsic headers' _mm_pause does not link from Swift.
static inline void swl_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// A hint to start loading the cache line at `address` now (read, keep in every cache level):
// for streams the hardware prefetcher does not run ahead of by itself.
static inline void swl_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
