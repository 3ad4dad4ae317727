/* device.c — enumerate OpenCL platforms and devices, and resolve device specs
 * ("host", "P:D", "cpu", "gpu", "accelerator", name substring). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "devices.h"

/* Fills the host reference's entry. */
static void host_info(kvq_device_info *d)
{
    memset(d, 0, sizeof *d);
    d->platform_index = d->device_index = -1;
    d->type = KVQ_DEVICE_HOST;
    snprintf(d->platform, sizeof d->platform, "kvq");
    snprintf(d->name, sizeof d->name, "host reference (double precision)");
    snprintf(d->vendor, sizeof d->vendor, "kvq");
    snprintf(d->version, sizeof d->version, "kvq %s", "host");
    snprintf(d->opencl_c_version, sizeof d->opencl_c_version, "-");
    snprintf(d->driver, sizeof d->driver, "-");
    d->compute_units = 1;
    d->fp64 = 1;
}

/* Reads a string device property, trimming trailing spaces. */
static void dev_string(cl_device_id dev, cl_device_info what, char *buf, size_t len)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(dev, what, len, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[len - 1] = '\0';
    size_t n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
}

/* Maps CL device type bits to kvq's. */
static int device_type(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU)
        return KVQ_DEVICE_GPU;
    if (t & CL_DEVICE_TYPE_CPU)
        return KVQ_DEVICE_CPU;
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return KVQ_DEVICE_ACCELERATOR;
    return KVQ_DEVICE_OTHER;
}

/* Fills one OpenCL device's entry from its properties. */
static void cl_info(cl_platform_id plat, cl_device_id dev, int p, int d, kvq_device_info *o)
{
    cl_device_type type = 0;
    cl_uint cus = 0;
    cl_ulong gmem = 0, lmem = 0, maxalloc = 0;
    size_t wg = 0;
    char ext[8192];

    memset(o, 0, sizeof *o);
    o->platform_index = p;
    o->device_index = d;
    if (clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof o->platform, o->platform, NULL))
        o->platform[0] = '\0';
    o->platform[sizeof o->platform - 1] = '\0';
    dev_string(dev, CL_DEVICE_NAME, o->name, sizeof o->name);
    dev_string(dev, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    dev_string(dev, CL_DEVICE_VERSION, o->version, sizeof o->version);
    dev_string(dev, CL_DEVICE_OPENCL_C_VERSION, o->opencl_c_version, sizeof o->opencl_c_version);
    dev_string(dev, CL_DRIVER_VERSION, o->driver, sizeof o->driver);
    dev_string(dev, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    o->type = device_type(type);
    o->compute_units = cus;
    o->global_mem = gmem;
    o->local_mem = lmem;
    o->max_alloc = maxalloc;
    o->max_work_group = wg;
    o->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    o->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
}

/* Appends one entry to a growing list. */
static int list_push(kvq_device_info **list, size_t *n, size_t *cap, const kvq_device_info *d)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        kvq_device_info *g = realloc(*list, nc * sizeof *g);
        if (!g)
            return KVQ_ERR_NOMEM;
        *list = g;
        *cap = nc;
    }
    (*list)[(*n)++] = *d;
    return KVQ_OK;
}

/* The platform ids, with "no platform" (-1001) as zero platforms. */
static int get_platforms(cl_platform_id **out, cl_uint *n)
{
    *out = NULL;
    *n = 0;
    cl_int st = clGetPlatformIDs(0, NULL, n);
    if (st == CL_PLATFORM_NOT_FOUND_KHR || (st == CL_SUCCESS && *n == 0)) {
        *n = 0;
        return KVQ_OK;
    }
    if (st != CL_SUCCESS)
        return kvq__rt_fail(st, "clGetPlatformIDs", __FILE__, __LINE__);
    *out = calloc(*n, sizeof **out);
    if (!*out)
        return KVQ_ERR_NOMEM;
    st = clGetPlatformIDs(*n, *out, NULL);
    if (st != CL_SUCCESS) {
        free(*out);
        *out = NULL;
        return kvq__rt_fail(st, "clGetPlatformIDs", __FILE__, __LINE__);
    }
    return KVQ_OK;
}

/* Looks up the CL ids of device P:D; used when opening a context. */
int kvq__rt_device_ids(int p, int d, cl_platform_id *plat, cl_device_id *dev)
{
    cl_platform_id *plats = NULL;
    cl_device_id *devs = NULL;
    cl_uint np = 0, nd = 0;
    int st = get_platforms(&plats, &np);
    if (st)
        return st;
    st = KVQ_ERR_NO_DEVICE;
    if (p < 0 || (cl_uint)p >= np)
        goto cleanup;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS)
        goto cleanup;
    if (d < 0 || (cl_uint)d >= nd)
        goto cleanup;
    devs = calloc(nd, sizeof *devs);
    if (!devs) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    KVQ_CL_TRY(st, clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL));
    *plat = plats[p];
    *dev = devs[d];
    st = KVQ_OK;
cleanup:
    free(devs);
    free(plats);
    return st;
}

/* Lists every OpenCL device of every platform, then the host, into a malloc'd array. */
int kvq__device_list(kvq_device_info **list, size_t *count)
{
    cl_platform_id *plats = NULL;
    cl_device_id *devs = NULL;
    cl_uint np = 0;
    size_t n = 0, cap = 0;
    kvq_device_info info;
    int st;

    *list = NULL;
    *count = 0;
    KVQ_TRY(st, get_platforms(&plats, &np));
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        cl_int cs = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (cs == CL_DEVICE_NOT_FOUND || nd == 0)
            continue;
        KVQ_CL_TRY(st, cs);
        free(devs);
        devs = calloc(nd, sizeof *devs);
        if (!devs) {
            st = KVQ_ERR_NOMEM;
            goto cleanup;
        }
        KVQ_CL_TRY(st, clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL));
        for (cl_uint d = 0; d < nd; d++) {
            cl_info(plats[p], devs[d], (int)p, (int)d, &info);
            KVQ_TRY(st, list_push(list, &n, &cap, &info));
        }
    }
    host_info(&info);
    KVQ_TRY(st, list_push(list, &n, &cap, &info));
    *count = n;
cleanup:
    free(devs);
    free(plats);
    if (st) {
        free(*list);
        *list = NULL;
    }
    return st;
}

void kvq__device_list_free(kvq_device_info *list)
{
    free(list);
}

/* Case-insensitive substring test. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return 1;
    }
    return nl == 0;
}

/* Parses "P:D" into two indices; 1 if the text has that form, -1 if it has a
 * colon but is malformed, 0 if it is not of that form at all. */
static int parse_pd(const char *s, int *p, int *d)
{
    const char *colon = strchr(s, ':');
    if (!colon)
        return 0;
    char *end;
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)colon[1]))
        return -1;
    long a = strtol(s, &end, 10);
    if (end != colon || a > 65535)
        return -1;
    long b = strtol(colon + 1, &end, 10);
    if (*end || b > 65535)
        return -1;
    *p = (int)a;
    *d = (int)b;
    return 1;
}

/* The index of the first device of a type, or -1. */
static long first_of_type(const kvq_device_info *list, size_t n, int type)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].type == type)
            return (long)i;
    return -1;
}

/* Default choice: first GPU, else first CPU, else any OpenCL device, else host. */
static long default_device(const kvq_device_info *list, size_t n)
{
    static const int order[] = {KVQ_DEVICE_GPU, KVQ_DEVICE_CPU, KVQ_DEVICE_ACCELERATOR,
                                KVQ_DEVICE_OTHER, KVQ_DEVICE_HOST};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        long i = first_of_type(list, n, order[k]);
        if (i >= 0)
            return i;
    }
    return -1;
}

/* Case-insensitive equality of two strings. */
static int equal_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* Resolves a spec that names a device kind. Returns -2 if spec is no kind. */
static long by_kind(const kvq_device_info *list, size_t n, const char *spec)
{
    static const struct { const char *word; int type; } kinds[] = {
        {"host", KVQ_DEVICE_HOST}, {"cpu", KVQ_DEVICE_CPU}, {"gpu", KVQ_DEVICE_GPU},
        {"accelerator", KVQ_DEVICE_ACCELERATOR},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (equal_ci(spec, kinds[k].word))
            return first_of_type(list, n, kinds[k].type);
    return -2;
}

/* Resolves a device spec against a list. */
int kvq__device_resolve(const kvq_device_info *list, size_t n, const char *spec,
                               size_t *index)
{
    long i;
    int p, d;

    if (!list || !index)
        return KVQ_ERR_INVALID_ARG;
    if (!spec || !*spec) {
        i = default_device(list, n);
        goto done;
    }
    if (strlen(spec) > 255)
        return KVQ_ERR_BAD_SPEC;
    for (const char *c = spec; *c; c++)
        if (!isprint((unsigned char)*c))
            return KVQ_ERR_BAD_SPEC;
    i = by_kind(list, n, spec);
    if (i != -2)
        goto done;
    switch (parse_pd(spec, &p, &d)) {
    case -1:
        return KVQ_ERR_BAD_SPEC;
    case 1:
        i = -1;
        for (size_t k = 0; k < n; k++)
            if (list[k].platform_index == p && list[k].device_index == d)
                i = (long)k;
        goto done;
    default:
        break;
    }
    i = -1;
    for (size_t k = 0; k < n && i < 0; k++)
        if (list[k].type != KVQ_DEVICE_HOST &&
            (contains_ci(list[k].name, spec) || contains_ci(list[k].platform, spec)))
            i = (long)k;
done:
    if (i < 0)
        return KVQ_ERR_NO_DEVICE;
    *index = (size_t)i;
    return KVQ_OK;
}

KVQ_API const char *kvq_device_spec_default(void)
{
    const char *e = getenv("KVQ_DEVICE");
    return e && *e ? e : NULL;
}

struct kvq_devices {
    kvq_device_info *list;
    size_t count;
};

KVQ_API int kvq_devices_create(kvq_devices **out)
{
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return KVQ_ERR_NOMEM;
    int st = kvq__device_list(&(*out)->list, &(*out)->count);
    if (st) {
        free(*out);
        *out = NULL;
    }
    return st;
}

KVQ_API void kvq_devices_destroy(kvq_devices *d)
{
    if (d)
        kvq__device_list_free(d->list);
    free(d);
}

KVQ_API size_t kvq_devices_count(const kvq_devices *d) { return d ? d->count : 0; }

KVQ_API const kvq_device_info *kvq_devices_get(const kvq_devices *d, size_t i)
{
    return d && i < d->count ? &d->list[i] : NULL;
}

KVQ_API int kvq_devices_resolve(const kvq_devices *d, const char *spec, size_t *index)
{
    if (!d)
        return KVQ_ERR_INVALID_ARG;
    return kvq__device_resolve(d->list, d->count, spec, index);
}
