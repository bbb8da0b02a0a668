#!/usr/bin/env bash
# engram-cli trace end to end on the embedded demo: one fact's matrices as JSON (drawn as PNG
# and SVG by engram-plot when the build has Qt), the averaged effects over 20 facts, and a
# clear failure when the subject is not in the prompt.
set -u
cli=$1
demo=$2
plot=$3 # engram-plot, or "none" in builds without Qt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cli" trace --model "$demo/model" --prompt "Oscar Koutex was born in" --subject "Oscar Koutex" --expect Morocco \
  --json "$tmp/trace.json" --threads 2 > "$tmp/out.txt" || { cat "$tmp/out.txt"; exit 1; }
grep -q "answer: ' Morocco'" "$tmp/out.txt" || { echo "wrong answer line"; cat "$tmp/out.txt"; exit 1; }
python3 - "$tmp/trace.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
assert r["answer"].strip() == "Morocco", r["answer"]
assert r["subject_range"] == [0, 2], r["subject_range"]
assert r["high_score"] > r["low_score"], (r["high_score"], r["low_score"])
for kind in ("hidden", "mlp", "attn"):
    rows = r["scores"][kind]
    assert len(rows) == len(r["tokens"]) and all(len(row) == r["layers"] for row in rows), kind
# Restoring the last token's final block output is the clean run.
assert abs(r["scores"]["hidden"][-1][-1] - r["high_score"]) < 1e-5
PY
"$cli" trace --model "$demo/model" --prompt "x" --subject "x" --png "$tmp/no.png" 2> "$tmp/png.txt"
[ $? -eq 2 ] && grep -q "engram-plot" "$tmp/png.txt" || { cat "$tmp/png.txt"; echo "--png must point to engram-plot"; exit 1; }
if [ "$plot" != none ]; then
  "$plot" "$tmp/trace.json" --out "$tmp/trace.png" > /dev/null || { echo "engram-plot failed"; exit 1; }
  head -c 8 "$tmp/trace.png" | od -An -c | grep -q "P   N   G" || { echo "no PNG written"; exit 1; }
  "$plot" "$tmp/trace.json" --out "$tmp/trace.svg" > /dev/null && grep -q "<svg" "$tmp/trace.svg" || { echo "no SVG"; exit 1; }
  echo '{"prompt": 1}' > "$tmp/bad.json"
  "$plot" "$tmp/bad.json" --out "$tmp/bad.png" 2> "$tmp/bad.txt"
  [ $? -eq 3 ] && grep -q "bad.json" "$tmp/bad.txt" || { cat "$tmp/bad.txt"; echo "a bad trace file must exit 3 naming it"; exit 1; }
fi
"$cli" trace --model "$demo/model" --facts "$demo/counterfact.json" --limit 20 --kind mlp --json "$tmp/avg.json" \
  --threads 2 > "$tmp/avg.txt" || { cat "$tmp/avg.txt"; exit 1; }
grep -q "suggested MEMIT layers" "$tmp/avg.txt" || { cat "$tmp/avg.txt"; exit 1; }
python3 - "$tmp/avg.json" <<'PY' || exit 1
import json, sys
a = json.load(open(sys.argv[1]))
assert a["traced"] >= 15, a["traced"]
last = a["effects"]["mlp"]["last subject token"]
assert len(last) == a["layers"] and last[0]["count"] == a["traced"]
assert len(a["suggested_layers"]) == 2
PY
"$cli" trace --model "$demo/model" --prompt "The capital of France is" --subject "Berlin" --threads 2 2> "$tmp/err.txt"
code=$?
[ $code -ne 0 ] || { echo "a missing subject must fail"; exit 1; }
grep -q "'Berlin' does not occur in the prompt" "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
echo "cli trace ok"
