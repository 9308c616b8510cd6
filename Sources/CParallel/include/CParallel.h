#ifndef SWIFTLET_CPARALLEL_H
#define SWIFTLET_CPARALLEL_H

#include <stddef.h>
#include <stdint.h>

// The two parallel runtimes Swiftlet drives, both found at run time rather than linked:
//
// Open MPI (libmpi.so.40) is opened with dlopen only when the process runs under mpirun.
// Linking it would make every Swiftlet binary — `generate`, `serve`, a copy on a laptop — need
// Open MPI and load its dozen libraries at start, and `swift build` would fail on a machine
// without libopenmpi-dev. The README's set-up (make deps) installs Open MPI anyway, so
// `mpirun -np N swiftlet train …` works out of the box. The functions below speak Open MPI's
// ABI (handles are pointers to its predefined globals); MPICH's libmpi.so.12 is a different
// ABI and is not loaded.
//
// OpenMP (libgomp, which oneDNN is built on) is reached through dlsym for the same reason:
// oneDNN brings it in, and a oneDNN built on another runtime simply has no such symbol.

// Loads libmpi.so.40 and its symbols. 0 on success; otherwise a sentence in `error`.
int swl_mpi_load(char *error, size_t errorSize);
// MPI_Init, with errors returned (not fatal) on the world communicator.
int swl_mpi_init(void);
int swl_mpi_finalize(void);
int swl_mpi_rank(int *rank);
int swl_mpi_size(int *size);
// In-place sum over `count` floats (or doubles) on every rank.
int swl_mpi_allreduce_float_sum(float *buffer, int count);
int swl_mpi_allreduce_double_sum(double *buffer, int count);
int swl_mpi_allreduce_double_max(double *buffer, int count);
// Non-blocking in-place float sums: up to `capacity` requests in flight, then wait for all.
int swl_mpi_iallreduce_float_sum(float *buffer, int count, void **request);
int swl_mpi_waitall(int count, void **requests);
int swl_mpi_bcast_bytes(void *buffer, int count, int root);
int swl_mpi_barrier(void);
void swl_mpi_abort(int code);
// MPI's own words for an error code.
void swl_mpi_error_string(int code, char *text, size_t size);

// omp_set_num_threads for the calling thread, when the OpenMP runtime is in the process;
// returns 0 when it is not.
int swl_omp_set_threads(int threads);

// CPUs in this process's affinity mask (0 if it cannot be read).
int swl_allowed_cpus(void);

#endif
