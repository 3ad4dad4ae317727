#!/bin/sh
# exports.sh — the shared libkvq exports exactly the public API of
# include/kvq.h: the list below, nothing internal (kvq__*), nothing foreign.
# A change to the public API changes this list in the same commit.
lib="${top_builddir:-.}/.libs/libkvq.so"
if [ ! -f "$lib" ] || ! command -v nm >/dev/null 2>&1; then
  echo "1..0 # SKIP no shared libkvq.so or no nm"
  exit 0
fi
expected=$(cat <<'LIST'
kvq_attention_run
kvq_codebook_centroids
kvq_codebook_distortion
kvq_codebook_get
kvq_codebook_levels
kvq_codebook_thresholds
kvq_codec_budget
kvq_codec_create
kvq_codec_destroy
kvq_codec_dim
kvq_codec_spec_format
kvq_codec_spec_get
kvq_ctx_build_log
kvq_ctx_create
kvq_ctx_destroy
kvq_ctx_device
kvq_ctx_is_host
kvq_ctx_pool_stats
kvq_dequantize
kvq_device_spec_default
kvq_devices_count
kvq_devices_create
kvq_devices_destroy
kvq_devices_get
kvq_devices_resolve
kvq_dim_check
kvq_distribution_metrics
kvq_err_name
kvq_error_detail
kvq_kv_create_npy
kvq_kv_create_safetensors
kvq_kv_destroy
kvq_kv_head
kvq_kv_shape
kvq_metric_higher_is_better
kvq_metric_name
kvq_npy_write
kvq_qtensor_bytes_per_vector
kvq_qtensor_count
kvq_qtensor_create
kvq_qtensor_destroy
kvq_quantize
kvq_rotate
kvq_rotation_create
kvq_rotation_destroy
kvq_rotation_dim
kvq_rotation_forward
kvq_rotation_inverse
kvq_rotation_kind
kvq_safetensors_has
kvq_scheme_parse
kvq_scheme_preset
kvq_source_check
kvq_source_generate
kvq_source_parse
kvq_source_queries
kvq_strerror
kvq_tensor_as_heads
kvq_tensor_check_finite
kvq_tensor_create
kvq_tensor_create_npy
kvq_tensor_create_safetensors
kvq_tensor_data
kvq_tensor_destroy
kvq_tensor_numel
kvq_tensor_shape
LIST
)
echo "1..4"
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
       grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$' | grep -v '^$' | sort)
other=$(echo "$syms" | grep -v '^kvq_')
[ -z "$other" ] && echo "ok 1 - only kvq_* symbols exported" || { echo "not ok 1 - foreign exports"; echo "$other" | sed 's/^/# /'; }
internal=$(echo "$syms" | grep '^kvq__')
[ -z "$internal" ] && echo "ok 2 - no internal kvq__ symbol exported" || { echo "not ok 2 - internal symbols exported"; echo "$internal" | sed 's/^/# /'; }
d=$(printf '%s\n' "$expected" | diff - "$(printf '%s\n' "$syms" >"${TMPDIR:-/tmp}/kvq_exports.$$"; echo "${TMPDIR:-/tmp}/kvq_exports.$$")")
rm -f "${TMPDIR:-/tmp}/kvq_exports.$$"
[ -z "$d" ] && echo "ok 3 - exports equal the documented list" || { echo "not ok 3 - exports differ from the list (< listed only, > exported only)"; echo "$d" | sed 's/^/# /'; }
n=$(echo "$syms" | grep -c '^kvq_')
[ "$n" -le 80 ] && echo "ok 4 - $n exported functions (at most 80)" || echo "not ok 4 - $n exported functions, more than 80"
