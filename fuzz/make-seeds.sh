#!/usr/bin/env bash
# Writes the committed seed corpus from the examples of docs/reference/wire.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p meshtel-cli
m=target/debug/meshtel
c=fuzz/corpus
mkdir -p $c/frame_split $c/header_decode $c/baggage_parse $c/struct_view

a='{"NAMESPACE": "ns", "WORKLOAD_NAME": "w"}'
b='{"NAME": "ratings-v1-5f8d", "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "Kubernetes",
 "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
 "LABELS": {"app": "ratings", "version": "v1", "service.istio.io/canonical-name": "ratings", "service.istio.io/canonical-revision": "v1"}}'
# Non-ASCII text: the decoders' fallback from the ASCII fast path.
n='{"NAMESPACE": "ns", "WORKLOAD_NAME": "w", "REGION": "zürich", "LABELS": {"app": "café", "team": "équipe"}}'

# frame_split: first byte is the piece size.
for step in 1 7 31; do
  { printf "\\x$(printf %02x $step)"; echo "$a" | $m peer encode --json - --as frame --id 'a~b~c~d'; printf 'GET / HTTP/1.1\r\n'; } > $c/frame_split/seed-a-$step
  { printf "\\x$(printf %02x $step)"; echo "$b" | $m peer encode --json - --as frame --id 'sidecar~10.1.2.3~r.default~default.svc.cluster.local'; } > $c/frame_split/seed-b-$step
done
echo "$n" | $m peer encode --json - --raw --as frame --id 'a~b~c~d' | { printf '\x07'; cat; } > $c/frame_split/seed-non-ascii
printf '\x03GET / HTTP/1.1\r\n' > $c/frame_split/seed-http
printf '\x05\x3d\x23\x04\x67\x00\x01\x00\x01oversize' > $c/frame_split/seed-oversize

echo "$a" | $m peer encode --json - --as header | tr -d '\n' > $c/header_decode/seed-a
echo "$b" | $m peer encode --json - --as header | tr -d '\n' > $c/header_decode/seed-b
echo "$n" | $m peer encode --json - --raw --as header | tr -d '\n' > $c/header_decode/seed-non-ascii
printf '+/8' > $c/header_decode/seed-unpadded
printf 'QQ==' > $c/header_decode/seed-padded

echo "$b" | $m peer encode --json - --as baggage | tr -d '\n' > $c/baggage_parse/seed-istio
echo "$b" | $m peer encode --json - --as baggage --order ztunnel | tr -d '\n' > $c/baggage_parse/seed-ztunnel
printf 'app.name=foo-app,app.version=latest,service.name=foo;p,k8s.namespace.name=a=b' > $c/baggage_parse/seed-fill

# struct_view: the record Struct bytes, and the six kinds of docs/reference/wire.md §3.5.
echo "$b" | $m peer encode --json - --as header | tr -d '\n' | base64 -d > $c/struct_view/seed-record
echo "$n" | $m peer encode --json - --raw --as header | tr -d '\n' | base64 -d > $c/struct_view/seed-non-ascii
printf '\x0a\x07\x0a\x01b\x12\x02\x20\x01\x0a\x0e\x0a\x01d\x12\x09\x11\x00\x00\x00\x00\x00\x00\xf8\x3f\x0a\x17\x0a\x01l\x12\x12\x32\x10\x0a\x09\x11\x00\x00\x00\x00\x00\x00\xf0\x3f\x0a\x03\x1a\x01x\x0a\x07\x0a\x01n\x12\x02\x08\x00\x0a\x09\x0a\x01s\x12\x04\x1a\x02hi\x0a\x07\x0a\x01t\x12\x02\x2a\x00' > $c/struct_view/seed-six-kinds
printf '\x10\x05\x0a\x08\x0a\x01a\x12\x03\x1a\x011\x0a\x08\x0a\x01a\x12\x03\x1a\x012\x1b\x08\x01\x1c' > $c/struct_view/seed-unknown-dup-group

# expr_parse: label expressions from docs/reference/expressions.md and some hostile text.
mkdir -p $c/expr_parse $c/expr_eval
i=0
while IFS= read -r line; do
  i=$((i + 1)); printf '%s' "$line" > $c/expr_parse/seed-$i
done <<'EXPRS'
source.labels["app"] | "unknown"
conditional((context.reporter.kind | "inbound") == "outbound", "client", "server")
api.protocol | context.protocol | "unknown"
response.duration | "0ms"
match((request.useragent | "-"), "kube-probe*") == false
"^/api/v[0-9]+/".matches(request.url_path)
(request.host | "").endsWith(":8080") && size(request.id | "") > 0
email(request.auth.principal) == email("alice@EXAMPLE.com")
ip(source.labels["ip"]) | ip("0.0.0.0")
toLower("ΣΑΣ") + `raw` + '\x41' + "\u00e9"
a.b.c(x, y,) /* c */ // d
017 + 1.5e3 + .5 + 0x10 + 1_0.5
!x - -y & z &^ w << 1
EXPRS
# expr_eval: first byte splits expression choices from bag choices.
printf '\x08\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c' > $c/expr_eval/seed-a
printf '\x20\x05\x07\x02\x09\x0a\x03\x01\x04\x06\x02\x08\x01\x00\x07\x03\x02\x05\x01\x09\x04\x02\x06\x03\x01\x02\x08\x00\x01\x03\x04\x05\xff\xfe\xfd\x01\x02\x03\x04' > $c/expr_eval/seed-b
head -c 96 /dev/zero | tr '\0' '\7' > $c/expr_eval/seed-c
