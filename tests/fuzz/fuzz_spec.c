/* fuzz_spec.c — libFuzzer target for kvq's text parsers: scheme specs,
 * --dist/--rank source names, the sweep grid lists and CLI numbers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/grid.h"
#include "kvq.h"
#include "internal.h"
#include "internal.h"

/* Splits the input at newlines into up to three NUL-terminated strings. */
static void split3(const uint8_t *data, size_t size, char *buf, char *part[3])
{
    memcpy(buf, data, size);
    buf[size] = '\0';
    part[0] = buf;
    part[1] = part[2] = buf + size;
    char *nl = strchr(buf, '\n');
    if (nl) {
        *nl = '\0';
        part[1] = nl + 1;
        if ((nl = strchr(part[1], '\n'))) {
            *nl = '\0';
            part[2] = nl + 1;
        }
    }
}

/* Every parser either succeeds with sane values or fails with a message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *part[3], err[256];
    kvq_scheme s, many[64];
    kvq_source src[16];
    kvq_grid_budget bits[8];
    long v;
    double dv;
    if (!buf)
        return 0;
    split3(data, size, buf, part);
    int n = size ? 1 + data[0] % 8 : 4;
    err[0] = '\0';
    if (kvq_scheme_parse(part[0], n, &s, err, sizeof err) == 0) {
        if (s.k.mse_bits < 0 || s.k.mse_bits > 8 || s.v.mse_bits < 0 || s.v.mse_bits > 8)
            __builtin_trap();
    } else if (!err[0])
        __builtin_trap();
    err[0] = '\0';
    if (kvq_source_parse(part[1], part[2], &src[0], err, sizeof err) != 0 && !err[0])
        __builtin_trap();
    int nb = kvq_grid_bits(part[0], bits, 8);
    for (int i = 0; nb < 0 && i < -nb; i++)
        if (bits[i].k < 1 || bits[i].k > 8 || bits[i].v < 1 || bits[i].v > 8)
            __builtin_trap();
    if (nb < 0)
        kvq_grid_schemes(part[1], bits, -nb, many, 64);
    kvq_grid_sources(part[1], part[2], 64, src, 16);
    kvq_cli_parse_int(part[0], "--n", -5, 1L << 40, &v);
    kvq_cli_parse_double(part[2], "--x", -1e9, 1e9, &dv);
    free(buf);
    return 0;
}
