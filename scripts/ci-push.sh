#!/usr/bin/env bash
# CI for issue 15's real-receiver checks (remote write, native histograms, OTLP, a push-sim
# smoke): each script starts its own receivers on loopback and stops them. One release
# build of the CLI is shared ($MESHTEL). About 30 s on the shared 2-core machine once the
# release binary is built (plus the Python venv and Debian's prometheus the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
meshtel_binary
bash scripts/e2e-remote-write.sh
bash scripts/e2e-native-histograms.sh
bash scripts/e2e-otlp.sh
bash scripts/push-sim.sh --smoke
