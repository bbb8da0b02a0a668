#!/usr/bin/env bash
# Every engram-cli command that prints JSON with --json prints only JSON on stdout (human
# lines such as the preset go to stderr): each output is parsed strictly (issue 17).
set -u
cli=$1
demo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ENGRAM_CACHE_DIR="$tmp/cache"
p="$tmp/demo.engram"
fail() { echo "FAIL: $*"; exit 1; }
parse() { # parse FILE WHAT PYTHON-CHECK
  python3 - "$1" "$3" <<'PY' || { echo "--- $2 stdout:"; cat "$1"; fail "$2 --json is not valid JSON"; }
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text)  # strict: the whole of stdout must be one JSON document
exec(sys.argv[2])
PY
}
"$cli" project new "$p" --model "$demo/model" --corpus "$demo/corpus.txt" --max-docs 200 > /dev/null || fail "project new"
"$cli" facts import "$p" --data "$demo/counterfact.json" --limit 4 > /dev/null || fail import

"$cli" project info "$p" --json > "$tmp/info.json" || fail "project info"
parse "$tmp/info.json" "project info" 'assert d["facts"] == 4 and d["enabled_facts"] == 4'
"$cli" facts list "$p" --json > "$tmp/facts.json" || fail "facts list"
parse "$tmp/facts.json" "facts list" 'assert len(d) == 4 and all("subject" in f for f in d)'
"$cli" edit "$p" --ids 1,2 --threads 2 --json > "$tmp/edit.json" 2> "$tmp/edit.err" || { cat "$tmp/edit.err"; fail edit; }
parse "$tmp/edit.json" "edit" 'assert d["run"] == 1 and d["method"] == "memit" and d["facts"] == 2'
grep -q "^preset: " "$tmp/edit.err" || fail "the preset line belongs on stderr with --json"
"$cli" eval "$p" --threads 2 --json > "$tmp/eval.json" 2> "$tmp/eval.err" || { cat "$tmp/eval.err"; fail eval; }
parse "$tmp/eval.json" "eval" '
for phase in ("pre", "post"):
    for k in ("records", "score", "es", "ps", "ns", "em", "pm", "nm", "fluency", "retention"):
        assert k in d[phase], (phase, k)
assert d["post"]["es"]["mean"] >= 50 and d["facts"] == 2'
"$cli" history "$p" --json > "$tmp/history.json" || fail history
parse "$tmp/history.json" "history" '
assert len(d) == 1 and d[0]["method"] == "memit" and d[0]["summary"]["layers"] == d[0]["params"]["layers"]
assert len(d[0]["summary"]["relative_norms"]) == len(d[0]["summary"]["layers"])'
echo "cli json ok"
