/* cmd_devices.c — `kvq devices`: the device table, JSON, and spec resolution. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

/* The word for a device type. */
static const char *type_name(int t)
{
    switch (t) {
    case KVQ_DEVICE_HOST: return "host";
    case KVQ_DEVICE_CPU: return "cpu";
    case KVQ_DEVICE_GPU: return "gpu";
    case KVQ_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

/* The "P:D" of a device, or "host". */
static void spec_of(const kvq_device_info *d, char *buf, size_t len)
{
    if (d->type == KVQ_DEVICE_HOST)
        snprintf(buf, len, "host");
    else
        snprintf(buf, len, "%d:%d", d->platform_index, d->device_index);
}

static void print_table(FILE *f, const kvq_device_info *l, size_t n, size_t chosen)
{
    fprintf(f, "%-6s %-12s %-36s %-24s %4s %9s %8s %9s %4s %4s %-14s %s\n", "spec", "type",
            "device", "platform", "CUs", "global", "local", "max-alloc", "fp16", "fp64",
            "OpenCL C", "driver");
    for (size_t i = 0; i < n; i++) {
        const kvq_device_info *d = &l[i];
        char spec[32];
        spec_of(d, spec, sizeof spec);
        fprintf(f, "%-6s %-12s %-36.36s %-24.24s %4u %7.1fG %6.0fK %8.1fG %4s %4s %-14.14s %s%s\n",
                spec, type_name(d->type), d->name, d->platform, d->compute_units,
                d->global_mem / 1073741824.0, d->local_mem / 1024.0, d->max_alloc / 1073741824.0,
                d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->opencl_c_version, d->driver,
                i == chosen ? "  (default)" : "");
    }
}

static void print_json_device(FILE *f, const kvq_device_info *d, int is_default)
{
    char spec[32];
    spec_of(d, spec, sizeof spec);
    const char *const text[][2] = {
        {"spec", spec}, {"type", type_name(d->type)}, {"name", d->name},
        {"platform", d->platform}, {"vendor", d->vendor}, {"version", d->version},
        {"opencl_c_version", d->opencl_c_version}, {"driver", d->driver},
    };
    fputc('{', f);
    kvq__json_strings(f, text, sizeof text / sizeof text[0]);
    fprintf(f, ",\"compute_units\":%u,\"global_mem\":%" PRIu64 ",\"local_mem\":%" PRIu64
               ",\"max_alloc\":%" PRIu64 ",\"max_work_group\":%zu,\"fp16\":%s,\"fp64\":%s,"
               "\"default\":%s}",
            d->compute_units, d->global_mem, d->local_mem, d->max_alloc, d->max_work_group,
            d->fp16 ? "true" : "false", d->fp64 ? "true" : "false", is_default ? "true" : "false");
}

static void print_json(FILE *f, const kvq_device_info *l, size_t n, size_t chosen)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        print_json_device(f, &l[i], i == chosen);
    }
    fputs("]\n", f);
}

static const char help[] =
    "usage: kvq devices [--json] [--select SPEC]\n\n"
    "List every OpenCL device of every platform, then the host reference.\n"
    "  --json         machine-readable output (a JSON array)\n"
    "  --select SPEC  print the one device SPEC resolves to; exit 2 if none\n\n"
    "SPEC: host | P:D (platform:device indices) | cpu | gpu | accelerator |\n"
    "      a case-insensitive substring of the platform or device name.\n"
    "Default (no SPEC, no $KVQ_DEVICE): first GPU, else first CPU, else host.\n";

/* `kvq devices`: the device table, JSON, or what --select resolves to. */
int kvq_cmd_devices(int argc, char **argv)
{
    int json = 0, rc;
    const char *select = NULL;
    kvq_device_info *list = NULL;
    size_t n = 0, chosen = (size_t)-1;

    if (kvq_cli_want_help(argc, argv)) {
        fputs(help, stdout);
        return KVQ_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (kvq_cli_is(argv[i], "--select")) {
            if (!(select = kvq_cli_value(argc, argv, &i, "--select")))
                return KVQ_EXIT_USAGE;
        } else
            return kvq_cli_error(argv[i], "unknown option for 'kvq devices'");
    }
    rc = kvq__device_list(&list, &n);
    if (rc)
        return kvq_cli_fail("devices", "cannot list OpenCL devices: %s (%s)", kvq_strerror(rc),
                            kvq_error_detail());
    const char *spec = select ? select : kvq_device_spec_default();
    rc = kvq__device_resolve(list, n, spec, &chosen);
    if (rc && select) {
        kvq_cli_error(select, "%s; available devices:",
                      rc == KVQ_ERR_BAD_SPEC ? "malformed device spec" : "no device matches");
        print_table(stderr, list, n, (size_t)-1);
        kvq__device_list_free(list);
        return KVQ_EXIT_USAGE;
    }
    if (rc)
        fprintf(stderr, "kvq: KVQ_DEVICE: '%s' matches no device\n", spec);
    if (select && !json) {
        char s[32];
        spec_of(&list[chosen], s, sizeof s);
        printf("%s\t%s\t%s\n", s, list[chosen].name, list[chosen].platform);
    } else if (select)
        print_json(stdout, &list[chosen], 1, 0);
    else if (json)
        print_json(stdout, list, n, chosen);
    else
        print_table(stdout, list, n, chosen);
    kvq__device_list_free(list);
    return KVQ_EXIT_OK;
}
