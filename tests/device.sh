# device.sh — sourced by the shell tests that need an OpenCL device. Without
# one they skip, unless $KVQ_REQUIRE_DEVICE is set (CI has PoCL): then each
# skip becomes a `not ok` naming the reason, so a lost device cannot pass.

# 0 when a device is required.
device_required() {
  case "${KVQ_REQUIRE_DEVICE:-}" in ''|0) return 1 ;; *) return 0 ;; esac
}

# Picks the OpenCL device to test into $dev ("P:D"): $KVQ_DEVICE when set,
# else the first CPU, else the first GPU device. Empty $dev: none, and
# $dev_why says why. A KVQ_DEVICE that matches nothing sets $dev_bad too.
device_pick() {
  dev=; dev_bad=; dev_why="no OpenCL device"
  if [ -n "${KVQ_DEVICE:-}" ]; then
    if ! sel=$("$kvq" devices --select "$KVQ_DEVICE" 2>/dev/null); then
      dev_bad=1; dev_why="KVQ_DEVICE=$KVQ_DEVICE matches no device"; return
    fi
  else
    sel=$("$kvq" devices --select cpu 2>/dev/null) || sel=$("$kvq" devices --select gpu 2>/dev/null)
  fi
  case "$sel" in
    ''|host*) dev_why="no OpenCL device (kvq devices --select: ${sel:-nothing})" ;;
    *) dev=$(printf '%s\n' "$sel" | cut -f1) ;;
  esac
}

# The whole script: a skip, or one failure when the device is required or
# KVQ_DEVICE was mistyped.
device_skip_all() {
  if device_required || [ -n "$dev_bad" ]; then
    echo "1..1"; echo "not ok 1 - $1 (device required)"; exit 1
  fi
  echo "1..0 # SKIP $1"; exit 0
}

# One test line $1 that needs the device: a skip, or a failure as above.
device_skip() {
  if device_required || [ -n "$dev_bad" ]; then
    echo "not ok $1 - $2 (device required)"
  else
    echo "ok $1 - # SKIP $2"
  fi
}
