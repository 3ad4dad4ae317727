/* internal.h — everything below the public header that the kvq program, the
 * benchmarks and the tests use: the host reference, the data readers and the
 * experiment layer. Library code includes the one header it needs instead. */
#ifndef KVQ_INTERNAL_H
#define KVQ_INTERNAL_H

#include "kvq.h"
#include "core/core.h"
#include "data/data_internal.h"
#include "analysis/analysis.h"
#include "runtime/devices.h"
#include "device/stream.h"

#endif
