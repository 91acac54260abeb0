#!/usr/bin/env bash
# CI for meshtel-metrics' push encoders (features protobuf, remote-write, otlp), beyond
# what `.ci/run` already runs for the whole workspace with --all-features (fmt, clippy,
# tests, docs, the loom models filtered by `loom`, which include `native::loom_models`):
#
# 1. every feature combination is clippy-clean, targets included (cargo hack);
# 2. the crate's tests without features (the text exposition, native histograms alone);
# 3. a real Prometheus decodes the remote write request and scrapes the protobuf
#    exposition, native histograms included (scripts/check-push-encoders.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo hack clippy --locked -p meshtel-metrics --feature-powerset --all-targets -- -D warnings
cargo test --locked -q -p meshtel-metrics
bash scripts/check-push-encoders.sh
