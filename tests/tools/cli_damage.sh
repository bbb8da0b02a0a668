#!/usr/bin/env bash
# A real demo project (10 facts, one MEMIT run) damaged on disk at several places, as a failing
# disk or a bad copy leaves it: inside a stored weight delta (start, middle, end), 100 random
# bytes across the file's middle, and a zeroed page. Every command must refuse the damaged copy
# (non-zero exit, a message naming the damage) and leave its bytes unchanged; no export folder
# may appear. The undamaged project passes `project check` and answers as before (issue 18).
set -u
cli=$1
demo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ENGRAM_CACHE_DIR="$tmp/cache"
fail() { echo "FAIL: $*"; exit 1; }
p="$tmp/good.engram"

"$cli" project new "$p" --model "$demo/model" --corpus "$demo/corpus.txt" --max-docs 300 > /dev/null || fail "project new"
"$cli" facts import "$p" --data "$demo/counterfact.json" --limit 12 > /dev/null || fail "facts import"
"$cli" edit "$p" --ids 1,2,3,4,5,6,7,8,9,10 --threads 2 > /dev/null 2>&1 || fail "edit"
"$cli" project check "$p" > /dev/null || fail "the undamaged project fails its check"
subject=$(python3 -c "import json;print(json.load(open('$demo/counterfact.json'))[0]['requested_rewrite']['subject'])")

# Where to damage: offsets inside run 1's first stored delta (found by its bytes), the file's
# middle, and the page holding the middle.
python3 - "$p" > "$tmp/offsets" <<'PY' || fail "finding offsets"
import sqlite3, sys
path = sys.argv[1]
db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
blob = db.execute("SELECT delta FROM patch_tensor WHERE run_id = 1 ORDER BY rowid LIMIT 1").fetchone()[0]
db.close()
data = open(path, "rb").read()
found = []
for frac in (0.02, 0.5, 0.97):
    at = int(len(blob) * frac) // 64 * 64
    chunk = blob[at:at + 64]
    pos = data.find(chunk)
    assert pos >= 0, f"delta bytes at {at} not found in the file"
    found.append(("random", pos))
found.append(("random", len(data) // 2))
found.append(("zeros", len(data) // 2 // 4096 * 4096))
for kind, pos in found:
    print(kind, pos)
PY

while read -r kind offset; do
  d="$tmp/damaged.engram"
  cp "$p" "$d"
  python3 - "$d" "$kind" "$offset" <<'PY'
import random, sys
path, kind, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(offset)
junk = bytes(4096) if kind == "zeros" else bytes(random.randrange(256) for _ in range(100))
with open(path, "r+b") as f:
    f.seek(offset)
    f.write(junk)
PY
  before=$(sha256sum "$d" | cut -d' ' -f1)
  where="$kind bytes at $offset"
  "$cli" project check "$d" > "$tmp/out" 2>&1
  [ $? -eq 3 ] || { cat "$tmp/out"; fail "project check did not report $where"; }
  run_refused() {
    local what=$1
    shift
    "$@" > "$tmp/out" 2>&1 && { cat "$tmp/out"; fail "'$what' accepted the project with $where"; }
    grep -qi "damaged\|malformed\|recorded hash\|changed since" "$tmp/out" \
      || { cat "$tmp/out"; fail "'$what' on $where did not say the project is damaged"; }
    [ "$(sha256sum "$d" | cut -d' ' -f1)" = "$before" ] || fail "'$what' changed the project with $where"
  }
  run_refused "facts add" "$cli" facts add "$d" --subject "Zed Quorrel" --prompt "{} plays the" --target-new " harp"
  run_refused "facts disable" "$cli" facts disable "$d" --ids 11
  run_refused "revert" "$cli" revert "$d" --run 1 --threads 2
  run_refused "edit" "$cli" edit "$d" --ids 11 --threads 2
  run_refused "eval" "$cli" eval "$d" --threads 2
  run_refused "generate" "$cli" generate "$d" --prompt "$subject is" --max-new-tokens 3 --threads 2
  run_refused "probe" "$cli" probe "$d" --subject "$subject" --threads 2
  run_refused "export" "$cli" export "$d" --out "$tmp/export" --threads 2
  [ ! -e "$tmp/export" ] || fail "export of the project with $where left $tmp/export"
  echo "ok: $where refused by every command, file unchanged"
done < "$tmp/offsets"

# The undamaged original still works.
"$cli" generate "$p" --prompt "$subject is" --max-new-tokens 3 --threads 2 > /dev/null || fail "generate on the original"
echo "cli_damage: ok"
