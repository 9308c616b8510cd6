// The cores this process may run on (sched_getaffinity and CPU_COUNT need _GNU_SOURCE, which
// Swift's Glibc module does not define).
#define _GNU_SOURCE
#include "CParallel.h"
#include <sched.h>

int swl_allowed_cpus(void) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 0;
    return CPU_COUNT(&mask);
}
