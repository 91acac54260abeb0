#!/usr/bin/env bash
# CI for issue 15's real-receiver checks (remote write, native histograms, OTLP, a push-sim
# smoke): each script starts its own receivers on loopback and stops them. One release
# build of the CLI is shared ($MESHTEL). About 3 minutes on 2 cores after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
meshtel_binary
bash scripts/e2e-remote-write.sh
bash scripts/e2e-native-histograms.sh
bash scripts/e2e-otlp.sh
bash scripts/push-sim.sh --smoke
