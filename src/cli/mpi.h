/* mpi.h — kvq under mpirun (doc/scaling.md §3). Without MPI at build time,
 * or when not started by mpirun, there is one rank and these are no-ops. */
#ifndef KVQ_CLI_MPI_H
#define KVQ_CLI_MPI_H

#include <stddef.h>

/* Joins the MPI job when mpirun (or another PMI launcher) started this
 * process; returns the number of ranks (1 otherwise). */
int kvq_mpi_start(int *argc, char ***argv);
int kvq_mpi_rank(void);
int kvq_mpi_size(void);
/* The device spec this rank should use when neither --device nor
 * $KVQ_DEVICE names one: ranks on one node take that node's devices of the
 * default kind (GPUs, else CPUs) in turn. NULL: the default. buf holds it. */
const char *kvq_mpi_device_spec(char *buf, size_t len);
/* Every rank's (ok, text) at rank 0: there *texts[r] (malloc'ed, r < size),
 * (*lens)[r] and (*oks)[r]; NULL on the other ranks. 0, or -1 when the
 * exchange itself failed. */
int kvq_mpi_gather(int ok, const char *text, size_t len, char ***texts, size_t **lens, int **oks);
/* Leaves the MPI job (MPI_Finalize) if it was joined. */
void kvq_mpi_finish(void);

#endif
