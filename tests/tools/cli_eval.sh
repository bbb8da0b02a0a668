#!/usr/bin/env bash
# engram-cli eval end to end on the embedded demo: the paper-style table before and after a
# MEMIT patch of the same records, the JSON report, a zsRE file (when the fixtures are there)
# and a clear failure for a file that is not a dataset.
set -u
cli=$1
demo=$2
fixtures=${ENGRAM_FIXTURES:-$3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cli" stats --model "$demo/model" --corpus "$demo/corpus.txt" --layers 0,1,2,3 --max-docs 500 \
  --out "$tmp/stats.safetensors" --threads 2 > /dev/null || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 20 --stats "$tmp/stats.safetensors" \
  --out "$tmp/e.patch" --threads 2 > /dev/null || exit 1
# The first record's own prompt: generations must switch from its true to its new object.
python3 - "$demo/counterfact.json" "$tmp/prompts.txt" <<'PY' || exit 1
import json, sys
rw = json.load(open(sys.argv[1]))[0]["requested_rewrite"]
open(sys.argv[2], "w").write(rw["prompt"].replace("{}", rw["subject"]) + "\n")
PY
"$cli" eval --model "$demo/model" --data "$demo/counterfact.json" --limit 20 --patch "$tmp/e.patch" \
  --prompts "$tmp/prompts.txt" --json "$tmp/eval.json" --threads 2 > "$tmp/out.txt" || { cat "$tmp/out.txt"; exit 1; }
cat "$tmp/out.txt"
grep -q "^pre " "$tmp/out.txt" && grep -q "^post " "$tmp/out.txt" || exit 1
python3 - "$tmp/eval.json" "$demo/counterfact.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
rw = json.load(open(sys.argv[2]))[0]["requested_rewrite"]
pre, post = r["pre"], r["post"]
assert pre["records"] == 20 and len(r["records"]) == 20
assert pre["es"]["mean"] <= 10, pre["es"]
assert post["es"]["mean"] >= 80, post["es"]
assert pre["ns"]["mean"] >= 90
# Retention defaults to the records outside the patch's edits: all 20 were edited.
assert pre["retention"]["total"] == 0, pre["retention"]
for rec in r["records"]:
    assert rec["pre"]["es"] in (0, 1) and rec["post"]["es"] in (0, 1)
    assert abs(rec["delta"]["es"] - (rec["post"]["es"] - rec["pre"]["es"])) < 1e-12
g = r["generations"][0]
assert g["prompt"] == rw["prompt"].replace("{}", rw["subject"])
assert g["pre"].startswith(" " + rw["target_true"]["str"]) and g["post"].startswith(" " + rw["target_new"]["str"]), g
PY
if [ -f "$fixtures/zsre/zsre_1037.json" ]; then
  "$cli" eval --model "$demo/model" --data "$fixtures/zsre/zsre_1037.json" --limit 10 --threads 2 > "$tmp/zsre.txt" \
    || { cat "$tmp/zsre.txt"; exit 1; }
  grep -q "Efficacy" "$tmp/zsre.txt" && grep -q "10 zsRE records" "$tmp/zsre.txt" || { cat "$tmp/zsre.txt"; exit 1; }
fi
echo '[{"x": 1}]' > "$tmp/odd.json"
"$cli" eval --model "$demo/model" --data "$tmp/odd.json" 2> "$tmp/err.txt"
[ $? -eq 3 ] || { echo "an unknown format must exit 3"; cat "$tmp/err.txt"; exit 1; }
grep -q "no known format" "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
echo "cli eval ok"
