# Shared by the check scripts: `source scripts/lib.sh`.

# Installs Debian's `prometheus` (promtool and the server) and Python's prometheus_client
# when missing.
ensure_prometheus_tools() {
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq prometheus >/dev/null
  fi
  if ! python3 -c 'import prometheus_client' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check prometheus-client 2>/dev/null \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages prometheus-client
  fi
}

# `promtool check metrics` on standard input; fails (printing the findings) unless it
# accepts. promtool exits 1 on a parse error and 3 on lint findings; the one lint accepted
# is Istio's own naming: durations in milliseconds, not seconds. $1 names the input.
promtool_accepts() {
  local problems status unexpected
  set +e
  problems=$(promtool check metrics 2>&1)
  status=$?
  set -e
  unexpected=$(printf '%s\n' "$problems" | grep -v -e '^$' -e 'use base unit "seconds" instead of "milliseconds"' || true)
  if [ "$status" -ne 0 ] && { [ "$status" -ne 3 ] || [ -n "$unexpected" ]; }; then
    echo "promtool rejected $1 (exit $status):" >&2
    printf '%s\n' "$problems" >&2
    return 1
  fi
}
