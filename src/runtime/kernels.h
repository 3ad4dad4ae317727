/* kernels.h — the table of OpenCL C sources embedded from the cl/ folder at build time. */
#ifndef KVQ_KERNELS_H
#define KVQ_KERNELS_H
#include <stddef.h>

typedef struct kvq__cl_source {
    const char *name;   /* file name without .cl */
    const char *text;
    size_t length;
} kvq__cl_source;

/* Terminated by an entry with name == NULL. */
extern const kvq__cl_source kvq__cl_sources[];

#endif
