// OpenMP's thread count through dlsym; see CParallel.h.
#include "CParallel.h"
#include <dlfcn.h>

typedef void (*SetThreads)(int);

int swl_omp_set_threads(int threads) {
    // Looked up once; a race between two first callers only stores the same address twice.
    static SetThreads set = 0;
    static int looked = 0;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&set, (SetThreads)dlsym(RTLD_DEFAULT, "omp_set_num_threads"), __ATOMIC_RELAXED);
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    SetThreads function = __atomic_load_n(&set, __ATOMIC_RELAXED);
    if (!function) return 0;
    function(threads);
    return 1;
}
