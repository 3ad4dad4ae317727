/* mpi.c — kvq under mpirun (doc/scaling.md §3): joining the job, one device
 * per rank on each node, and gathering the shards' partial results at rank
 * 0. Built with MPI only when configure found it (HAVE_MPI). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/mpi.h"
#include "kvq.h"

#if HAVE_MPI
#include <limits.h>
#include <mpi.h>

static int joined, world_rank, world_size = 1;

/* 1 when a launcher started us as one rank of a job: Open MPI, PMIx and
 * PMI(2) launchers (mpirun, srun) export these. */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                       "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int kvq_mpi_start(int *argc, char ***argv)
{
    if (joined || !launched_by_mpi())
        return world_size;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return 1;
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    return world_size;
}

int kvq_mpi_rank(void)
{
    return world_rank;
}

int kvq_mpi_size(void)
{
    return world_size;
}

/* This rank's index among the ranks of its node. */
static int node_rank(void)
{
    MPI_Comm node;
    int r = 0;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL,
                            &node) != MPI_SUCCESS)
        return world_rank;
    MPI_Comm_rank(node, &r);
    MPI_Comm_free(&node);
    return r;
}

const char *kvq_mpi_device_spec(char *buf, size_t len)
{
    static const int kinds[] = {KVQ_DEVICE_GPU, KVQ_DEVICE_CPU};
    kvq_devices *list = NULL;
    const char *spec = NULL;
    if (!joined || world_size < 2)
        return NULL;
    int local = node_rank();   /* collective: every rank calls it */
    if (kvq_device_spec_default() || kvq_devices_create(&list))
        return NULL;
    for (size_t k = 0; k < 2 && !spec; k++) {
        size_t n = 0, count = kvq_devices_count(list);
        for (size_t i = 0; i < count; i++)
            n += kvq_devices_get(list, i)->type == kinds[k];
        for (size_t i = 0, j = 0; i < count && n; i++) {
            const kvq_device_info *d = kvq_devices_get(list, i);
            if (d->type == kinds[k] && j++ == (size_t)local % n) {
                snprintf(buf, len, "%d:%d", d->platform_index, d->device_index);
                spec = buf;
                break;
            }
        }
    }
    kvq_devices_destroy(list);
    return spec;
}

int kvq_mpi_gather(int ok, const char *text, size_t len, char ***texts, size_t **lens, int **oks)
{
    long long mine[2] = {ok, len <= INT_MAX ? (long long)len : -1}, *all = NULL;
    int *counts = NULL, *displs = NULL, rc = -1;
    char *buf = NULL;
    *texts = NULL;
    *lens = NULL;
    *oks = NULL;
    if (mine[1] < 0) {         /* too big for one MPI message: count it as failed */
        mine[0] = 0;
        mine[1] = 0;
    }
    if (!world_rank && !(all = malloc(2 * sizeof *all * (size_t)world_size)))
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (MPI_Gather(mine, 2, MPI_LONG_LONG, all, 2, MPI_LONG_LONG, 0, MPI_COMM_WORLD))
        goto cleanup;
    long long total = 0;
    if (!world_rank) {
        counts = malloc(sizeof *counts * (size_t)world_size);
        displs = malloc(sizeof *displs * (size_t)world_size);
        for (int r = 0; counts && displs && r < world_size; r++) {
            displs[r] = (int)total;
            counts[r] = (int)all[2 * r + 1];
            total += counts[r];
        }
        if (!counts || !displs || total > INT_MAX || !(buf = malloc((size_t)total + 1)))
            MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (MPI_Gatherv(text, (int)mine[1], MPI_CHAR, buf, counts, displs, MPI_CHAR, 0,
                    MPI_COMM_WORLD))
        goto cleanup;
    rc = 0;
    if (world_rank)
        goto cleanup;
    *texts = calloc((size_t)world_size, sizeof **texts);
    *lens = calloc((size_t)world_size, sizeof **lens);
    *oks = calloc((size_t)world_size, sizeof **oks);
    if (!*texts || !*lens || !*oks)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0; r < world_size; r++) {
        (*lens)[r] = (size_t)counts[r];
        (*oks)[r] = (int)all[2 * r];
        if (!((*texts)[r] = malloc((size_t)counts[r] + 1)))
            MPI_Abort(MPI_COMM_WORLD, 1);
        memcpy((*texts)[r], buf + displs[r], (size_t)counts[r]);
        (*texts)[r][counts[r]] = '\0';
    }
cleanup:
    free(all);
    free(counts);
    free(displs);
    free(buf);
    return rc;
}

void kvq_mpi_finish(void)
{
    if (joined)
        MPI_Finalize();
    joined = 0;
}

#else /* !HAVE_MPI: a job of one rank */

int kvq_mpi_start(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 1;
}

int kvq_mpi_rank(void)
{
    return 0;
}

int kvq_mpi_size(void)
{
    return 1;
}

const char *kvq_mpi_device_spec(char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return NULL;
}

int kvq_mpi_gather(int ok, const char *text, size_t len, char ***texts, size_t **lens, int **oks)
{
    (void)ok;
    (void)text;
    (void)len;
    *texts = NULL;
    *lens = NULL;
    *oks = NULL;
    return -1;
}

void kvq_mpi_finish(void)
{
}
#endif
