// Open MPI through dlopen; see CParallel.h for why it is not linked.
#include "CParallel.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// Open MPI's handles are pointers to structures; only their addresses matter here.
typedef void *Handle;
#define SWL_IN_PLACE ((void *)1)
#define SWL_STATUSES_IGNORE ((void *)0)

static struct {
    int (*init)(int *, char ***);
    int (*finalize)(void);
    int (*rank)(Handle, int *);
    int (*size)(Handle, int *);
    int (*allreduce)(const void *, void *, int, Handle, Handle, Handle);
    int (*iallreduce)(const void *, void *, int, Handle, Handle, Handle, void **);
    int (*waitall)(int, void **, void *);
    int (*bcast)(void *, int, Handle, int, Handle);
    int (*barrier)(Handle);
    int (*abort)(Handle, int);
    int (*setErrhandler)(Handle, Handle);
    int (*errorString)(int, char *, int *);
    Handle world, floatType, doubleType, byteType, sum, max, errorsReturn;
} mpi;

static int loaded = 0;

int swl_mpi_load(char *error, size_t errorSize) {
    if (loaded) return 0;
    // RTLD_GLOBAL: Open MPI's own plugins (mca_*.so), which it opens in MPI_Init, resolve
    // libmpi's symbols from the global scope.
    void *library = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
    if (!library) {
        snprintf(error, errorSize, "%s", dlerror());
        return 1;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&mpi.init, "MPI_Init"}, {(void **)&mpi.finalize, "MPI_Finalize"},
        {(void **)&mpi.rank, "MPI_Comm_rank"}, {(void **)&mpi.size, "MPI_Comm_size"},
        {(void **)&mpi.allreduce, "MPI_Allreduce"}, {(void **)&mpi.iallreduce, "MPI_Iallreduce"},
        {(void **)&mpi.waitall, "MPI_Waitall"}, {(void **)&mpi.bcast, "MPI_Bcast"},
        {(void **)&mpi.barrier, "MPI_Barrier"}, {(void **)&mpi.abort, "MPI_Abort"},
        {(void **)&mpi.setErrhandler, "MPI_Comm_set_errhandler"}, {(void **)&mpi.errorString, "MPI_Error_string"},
        {&mpi.world, "ompi_mpi_comm_world"}, {&mpi.floatType, "ompi_mpi_float"},
        {&mpi.doubleType, "ompi_mpi_double"}, {&mpi.byteType, "ompi_mpi_byte"},
        {&mpi.sum, "ompi_mpi_op_sum"}, {&mpi.max, "ompi_mpi_op_max"},
        {&mpi.errorsReturn, "ompi_mpi_errors_return"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        void *address = dlsym(library, symbols[i].name);
        if (!address) {
            snprintf(error, errorSize, "libmpi.so.40 has no symbol %s (not Open MPI?)", symbols[i].name);
            return 1;
        }
        *symbols[i].slot = address;
    }
    loaded = 1;
    return 0;
}

int swl_mpi_init(void) {
    int status = mpi.init(NULL, NULL);
    if (status != 0) return status;
    // A failed collective comes back as an error code instead of ending the process in MPI's
    // handler, so the caller can say what happened.
    return mpi.setErrhandler(mpi.world, mpi.errorsReturn);
}

int swl_mpi_finalize(void) { return mpi.finalize(); }
int swl_mpi_rank(int *rank) { return mpi.rank(mpi.world, rank); }
int swl_mpi_size(int *size) { return mpi.size(mpi.world, size); }

int swl_mpi_allreduce_float_sum(float *buffer, int count) {
    return mpi.allreduce(SWL_IN_PLACE, buffer, count, mpi.floatType, mpi.sum, mpi.world);
}

int swl_mpi_allreduce_double_sum(double *buffer, int count) {
    return mpi.allreduce(SWL_IN_PLACE, buffer, count, mpi.doubleType, mpi.sum, mpi.world);
}

int swl_mpi_allreduce_double_max(double *buffer, int count) {
    return mpi.allreduce(SWL_IN_PLACE, buffer, count, mpi.doubleType, mpi.max, mpi.world);
}

int swl_mpi_iallreduce_float_sum(float *buffer, int count, void **request) {
    return mpi.iallreduce(SWL_IN_PLACE, buffer, count, mpi.floatType, mpi.sum, mpi.world, request);
}

int swl_mpi_waitall(int count, void **requests) { return mpi.waitall(count, requests, SWL_STATUSES_IGNORE); }

int swl_mpi_bcast_bytes(void *buffer, int count, int root) {
    return mpi.bcast(buffer, count, mpi.byteType, root, mpi.world);
}

int swl_mpi_barrier(void) { return mpi.barrier(mpi.world); }
void swl_mpi_abort(int code) { mpi.abort(mpi.world, code); }

void swl_mpi_error_string(int code, char *text, size_t size) {
    char buffer[512];  // MPI_MAX_ERROR_STRING is 256 in Open MPI
    int length = 0;
    if (!loaded || mpi.errorString(code, buffer, &length) != 0) {
        snprintf(text, size, "MPI error %d", code);
        return;
    }
    buffer[length < (int)sizeof buffer ? length : (int)sizeof buffer - 1] = 0;
    snprintf(text, size, "%s", buffer);
}
