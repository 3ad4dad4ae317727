/* status.c — names and descriptions of kvq and OpenCL status codes, and the
 * thread-local detail of the last failed call. */
#include <stdio.h>
#include <string.h>

#include "runtime.h"

typedef struct status_name {
    int code;
    const char *name;
    const char *text;
} status_name;

#define CL_NAME(c) {c, #c, NULL}
static const status_name cl_names[] = {
    {0, "KVQ_OK", "success"},
    {-1, "CL_DEVICE_NOT_FOUND", NULL}, {-2, "CL_DEVICE_NOT_AVAILABLE", NULL},
    {-3, "CL_COMPILER_NOT_AVAILABLE", NULL}, {-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE", NULL},
    {-5, "CL_OUT_OF_RESOURCES", NULL}, {-6, "CL_OUT_OF_HOST_MEMORY", NULL},
    {-7, "CL_PROFILING_INFO_NOT_AVAILABLE", NULL}, {-8, "CL_MEM_COPY_OVERLAP", NULL},
    {-9, "CL_IMAGE_FORMAT_MISMATCH", NULL}, {-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED", NULL},
    {-11, "CL_BUILD_PROGRAM_FAILURE", NULL}, {-12, "CL_MAP_FAILURE", NULL},
    {-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET", NULL},
    {-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST", NULL},
    {-15, "CL_COMPILE_PROGRAM_FAILURE", NULL}, {-16, "CL_LINKER_NOT_AVAILABLE", NULL},
    {-17, "CL_LINK_PROGRAM_FAILURE", NULL}, {-18, "CL_DEVICE_PARTITION_FAILED", NULL},
    {-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE", NULL},
    {-30, "CL_INVALID_VALUE", NULL}, {-31, "CL_INVALID_DEVICE_TYPE", NULL},
    {-32, "CL_INVALID_PLATFORM", NULL}, {-33, "CL_INVALID_DEVICE", NULL},
    {-34, "CL_INVALID_CONTEXT", NULL}, {-35, "CL_INVALID_QUEUE_PROPERTIES", NULL},
    {-36, "CL_INVALID_COMMAND_QUEUE", NULL}, {-37, "CL_INVALID_HOST_PTR", NULL},
    {-38, "CL_INVALID_MEM_OBJECT", NULL}, {-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", NULL},
    {-40, "CL_INVALID_IMAGE_SIZE", NULL}, {-41, "CL_INVALID_SAMPLER", NULL},
    {-42, "CL_INVALID_BINARY", NULL}, {-43, "CL_INVALID_BUILD_OPTIONS", NULL},
    {-44, "CL_INVALID_PROGRAM", NULL}, {-45, "CL_INVALID_PROGRAM_EXECUTABLE", NULL},
    {-46, "CL_INVALID_KERNEL_NAME", NULL}, {-47, "CL_INVALID_KERNEL_DEFINITION", NULL},
    {-48, "CL_INVALID_KERNEL", NULL}, {-49, "CL_INVALID_ARG_INDEX", NULL},
    {-50, "CL_INVALID_ARG_VALUE", NULL}, {-51, "CL_INVALID_ARG_SIZE", NULL},
    {-52, "CL_INVALID_KERNEL_ARGS", NULL}, {-53, "CL_INVALID_WORK_DIMENSION", NULL},
    {-54, "CL_INVALID_WORK_GROUP_SIZE", NULL}, {-55, "CL_INVALID_WORK_ITEM_SIZE", NULL},
    {-56, "CL_INVALID_GLOBAL_OFFSET", NULL}, {-57, "CL_INVALID_EVENT_WAIT_LIST", NULL},
    {-58, "CL_INVALID_EVENT", NULL}, {-59, "CL_INVALID_OPERATION", NULL},
    {-60, "CL_INVALID_GL_OBJECT", NULL}, {-61, "CL_INVALID_BUFFER_SIZE", NULL},
    {-62, "CL_INVALID_MIP_LEVEL", NULL}, {-63, "CL_INVALID_GLOBAL_WORK_SIZE", NULL},
    {-64, "CL_INVALID_PROPERTY", NULL}, {-65, "CL_INVALID_IMAGE_DESCRIPTOR", NULL},
    {-66, "CL_INVALID_COMPILER_OPTIONS", NULL}, {-67, "CL_INVALID_LINKER_OPTIONS", NULL},
    {-68, "CL_INVALID_DEVICE_PARTITION_COUNT", NULL}, {-69, "CL_INVALID_PIPE_SIZE", NULL},
    {-70, "CL_INVALID_DEVICE_QUEUE", NULL}, {-71, "CL_INVALID_SPEC_ID", NULL},
    {-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED", NULL},
    {-1001, "CL_PLATFORM_NOT_FOUND_KHR", NULL},
#define LIB_NAME(name, value, text) {name, #name, text},
    KVQ_STATUS_LIST(LIB_NAME)
#undef LIB_NAME
};

/* The table row for a code, or NULL. */
static const status_name *find_status(int status)
{
    for (size_t i = 0; i < sizeof cl_names / sizeof cl_names[0]; i++)
        if (cl_names[i].code == status)
            return &cl_names[i];
    return NULL;
}

KVQ_API const char *kvq_err_name(int status)
{
    const status_name *s = find_status(status);
    return s ? s->name : "KVQ_ERR_UNKNOWN";
}

KVQ_API const char *kvq_strerror(int status)
{
    const status_name *s = find_status(status);
    if (!s)
        return "unknown status";
    return s->text ? s->text : s->name;
}

static _Thread_local char last_detail[512];

int kvq__rt_fail(int status, const char *call, const char *file, int line)
{
    char name[64];
    snprintf(name, sizeof name, "%.63s", call);
    char *paren = strchr(name, '(');
    if (paren)
        *paren = '\0';
    snprintf(last_detail, sizeof last_detail, "%s at %s:%d: %s", name, file, line,
             kvq_err_name(status));
    return status;
}

int kvq__rt_explain(int status, const char *why)
{
    snprintf(last_detail, sizeof last_detail, "%s", why);
    return status;
}

KVQ_API const char *kvq_error_detail(void)
{
    return last_detail;
}
