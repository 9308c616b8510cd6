// Test-only helpers that Swift's Glibc module does not expose.
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H

/// Opens a pseudo-terminal pair; returns the primary descriptor (non-blocking) and writes the
/// secondary's descriptor, or returns -1.
int swl_test_open_pseudo_terminal(int *secondary);

/// Starts (1) or stops (0) counting heap allocations (malloc, calloc, realloc, memalign,
/// aligned_alloc, posix_memalign) made by any thread of the process.
void swl_test_count_allocations(int on);

/// Heap allocations counted so far, made by anything but oneDNN (and the C++ and OpenMP
/// runtimes it allocates through).
long swl_test_allocations(void);

/// Heap allocations counted so far whose caller is oneDNN, libstdc++ or libgomp.
long swl_test_library_allocations(void);

#endif
