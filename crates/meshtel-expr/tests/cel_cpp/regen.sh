#!/usr/bin/env bash
# Regenerates corpus.jsonl and expected.jsonl with cel-cpp (cel-expr-python) and
# prints the counts README.md quotes. Needs python3.11 (the package needs >= 3.11)
# and PyPI. VENV defaults to /tmp/celvenv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${VENV:-/tmp/celvenv}"
if [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install --quiet cel-expr-python==0.1.3 protobuf
fi
python3 "$here/generate.py" --seed 12 --count 3000 > "$here/corpus.jsonl"
"$venv/bin/python" "$here/reference.py" < "$here/corpus.jsonl" > "$here/expected.jsonl"
python3 "$here/summarize.py" "$here/corpus.jsonl" "$here/expected.jsonl"
