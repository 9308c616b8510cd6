// Counts heap allocations of the whole process while a test asks it to: malloc and its
// relatives are defined here, in the test executable, so every call (Swift's runtime, the
// standard library, oneDNN) comes here first and goes on to glibc's allocator. Allocations
// whose caller is in oneDNN (or the C++ and OpenMP runtimes it allocates through) are counted
// apart: dnnl_sgemm packs its operands into buffers it allocates per call, which Swiftlet does
// not control.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include "CTestSupport.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static atomic_int counting;
static atomic_long allocations, libraryAllocations;
static __thread int inside;

static int fromLibrary(void *caller) {
    Dl_info info;
    if (!dladdr(caller, &info) || !info.dli_fname) return 0;
    return strstr(info.dli_fname, "libdnnl") || strstr(info.dli_fname, "libstdc++") || strstr(info.dli_fname, "libgomp");
}

static inline void count(void *caller) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || inside) return;
    inside = 1;
    int library = fromLibrary(caller);
    atomic_fetch_add_explicit(library ? &libraryAllocations : &allocations, 1, memory_order_relaxed);
    // SWL_TEST_ALLOCATION_TRACE=1 prints where each counted allocation comes from (to stderr).
    if (!library && getenv("SWL_TEST_ALLOCATION_TRACE")) {
        void *frames[24];
        int depth = backtrace(frames, 24);
        backtrace_symbols_fd(frames, depth, 2);
        write(2, "--\n", 3);
    }
    inside = 0;
}

#define CALLER __builtin_return_address(0)
void *malloc(size_t size) { count(CALLER); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(CALLER); return __libc_calloc(n, size); }
void *realloc(void *pointer, size_t size) { count(CALLER); return __libc_realloc(pointer, size); }
void free(void *pointer) { __libc_free(pointer); }
void *memalign(size_t alignment, size_t size) { count(CALLER); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(CALLER); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    count(CALLER);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return ENOMEM;
    *out = pointer;
    return 0;
}

void swl_test_count_allocations(int on) { atomic_store(&counting, on); }
long swl_test_allocations(void) { return atomic_load(&allocations); }
long swl_test_library_allocations(void) { return atomic_load(&libraryAllocations); }
