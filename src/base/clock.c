/* clock.c — monotonic seconds. */
#include <time.h>

#include "base/clock.h"

double kvq__mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
