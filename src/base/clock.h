/* clock.h — the one monotonic clock every timing in kvq reads (bottom layer:
 * depends on nothing in kvq). */
#ifndef KVQ_BASE_CLOCK_H
#define KVQ_BASE_CLOCK_H

/* Seconds on a monotonic clock: only differences mean anything. */
double kvq__mono_s(void);

#endif
