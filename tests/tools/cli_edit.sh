#!/usr/bin/env bash
# engram-cli end to end on the embedded demo: statistics, MEMIT, AlphaEdit, ROME and FT-W edits of three
# records saved as patches, and generation with each patch saying the new objects.
set -u
cli=$1
demo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cli" stats --model "$demo/model" --corpus "$demo/corpus.txt" --layers 0,1,2 --max-docs 1000 \
  --out "$tmp/stats.safetensors" --threads 2 || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 3 --layers 0,1,2 --lambda 100 --v-lr 4 \
  --stats "$tmp/stats.safetensors" --out "$tmp/edit.patch" --threads 2 || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 3 --method rome --layer 0 --v-lr 4 \
  --stats "$tmp/stats.safetensors" --out "$tmp/rome.patch" --threads 2 || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 3 --method ftw --layer 0 --steps 60 \
  --lr 2e-2 --norm-constraint 0.05 --out "$tmp/ftw.patch" --threads 2 || exit 1
# AlphaEdit: the update confined to the statistics' null space, its dimension printed per layer;
# MEMIT's lambda is refused for it.
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 3 --method alphaedit --layers 0,1,2 \
  --v-lr 4 --null-space-threshold 0.1 --null-space-alpha 0.1 --stats "$tmp/stats.safetensors" --out "$tmp/alpha.patch" \
  --threads 2 > "$tmp/alpha.txt" || { cat "$tmp/alpha.txt"; exit 1; }
grep -qE "layer 1: .*null space [0-9]+ dimensions" "$tmp/alpha.txt" || { cat "$tmp/alpha.txt"; echo "no null space"; exit 1; }
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 1 --method alphaedit --lambda 5 \
  --stats "$tmp/stats.safetensors" --out "$tmp/bad.patch" > /dev/null 2>&1
[ $? -eq 2 ] || { echo "--lambda with alphaedit should be a usage error"; exit 1; }
# Statistics from a corpus through the cache: computed on the first edit, reused on the second.
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 1 --corpus "$demo/corpus.txt" \
  --max-docs 200 --cache-dir "$tmp/cache" --out "$tmp/cached.patch" --threads 2 | grep -q "computed layers 0" || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 1 --corpus "$demo/corpus.txt" \
  --max-docs 200 --cache-dir "$tmp/cache" --out "$tmp/cached.patch" --threads 2 | grep -q "from the cache" || exit 1
"$cli" stats --model "$demo/model" --corpus "$demo/corpus.txt" --layers 0 --max-docs 100 --accumulate fp32 \
  --out "$tmp/stats32.safetensors" --threads 2 > /dev/null || exit 1
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 1 --layers 0 --stats "$tmp/stats32.safetensors" \
  --out "$tmp/e32.patch" --threads 2 > /dev/null || exit 1
# Keeping known facts: the records' subjects' other relations (retention.json) become
# preservation prompts, the other subjects' facts protected keys; both recorded in the patch.
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 3 --layers 0 --lambda 100 --v-lr 4 \
  --stats "$tmp/stats.safetensors" --keep "$demo/retention.json" --protect-weight 0.01 --out "$tmp/keep.patch" \
  --threads 2 > "$tmp/keep.txt" || { cat "$tmp/keep.txt"; exit 1; }
grep -E "keep: 4050 facts .* [1-9][0-9]* preservation prompts for 3 edited subjects, [1-9][0-9]+ protected keys" \
  "$tmp/keep.txt" || { cat "$tmp/keep.txt"; echo "keep summary missing"; exit 1; }
head -c 65536 "$tmp/keep.patch" | grep -q 'preserve_prompts' || { echo "patch lacks preserve_prompts"; exit 1; }
"$cli" edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 1 --method ftw --keep "$demo/retention.json" \
  --out "$tmp/bad.patch" > /dev/null 2>&1 && { echo "ftw with --keep should be refused"; exit 1; }
"$cli" stats --merge "$tmp/stats.safetensors,$tmp/stats.safetensors" --out "$tmp/merged.safetensors" | grep -q "merged 2 files" || exit 1
python3 - "$demo/counterfact.json" > "$tmp/cases.tsv" <<'PY' || exit 77
import json, sys
for r in json.load(open(sys.argv[1]))[:3]:
    rw = r["requested_rewrite"]
    print(rw["prompt"].replace("{}", rw["subject"]) + "\t" + rw["target_new"]["str"] + "\t" + rw["target_true"]["str"])
PY
status=0
while IFS=$'\t' read -r prompt new old; do
  before=$("$cli" generate --model "$demo/model" --prompt "$prompt" --max-new-tokens 4 --threads 2)
  echo "before: $before"
  case "$before" in "$prompt $old"*) ;; *) echo "unedited model should say $old"; status=1 ;; esac
  for method in edit alpha rome ftw keep; do
    after=$("$cli" generate --model "$demo/model" --prompt "$prompt" --max-new-tokens 4 --patch "$tmp/$method.patch" --threads 2)
    echo "after ($method): $after"
    case "$after" in "$prompt $new"*) ;; *) echo "$method-edited model should say $new"; status=1 ;; esac
  done
done < "$tmp/cases.tsv"
exit $status
