#!/usr/bin/env bash
# engram-cli over a project on the embedded demo, as the README walkthrough does it: new,
# import, edit, eval, trace, history, revert/reapply, probe, export and the exported model saying
# the new objects; conflicts refused with exit 5; newer/garbage files refused untouched; and
# crash safety: kill -9 in the middle of an edit's commit and of an export, then the
# project is at its last committed state and no partial export is visible.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cli=$1
demo=$2
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export ENGRAM_CACHE_DIR="$tmp/cache"
p="$tmp/demo.engram"
fail() { echo "FAIL: $*"; exit 1; }

"$cli" project new "$p" --model "$demo/model" --corpus "$demo/corpus.txt" --max-docs 500 || fail "project new"
"$cli" project new "$p" --model "$demo/model" 2>&1 | grep -q "already exists" || fail "project new over a file"
# The walkthrough below is not about the health guard (its own section is): switched off here.
"$cli" project guard "$p" --min-retention 0 --min-es 0 | grep -q "^guard set: off" || fail "guard off"
"$cli" facts import "$p" --data "$demo/counterfact.json" --limit 12 --tags demo | grep -q "imported 12" || fail import
"$cli" facts list "$p" --tag demo --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==12 and d[0]["tags"]==["demo"]' \
  || fail "facts list --json"
"$cli" facts export "$p" --out "$tmp/facts.json" --tag demo | grep -q "exported 12" || fail "facts export"
"$cli" project new "$tmp/copy.engram" --model "$demo/model" > /dev/null || fail "project for the re-import"
"$cli" facts import "$tmp/copy.engram" --data "$tmp/facts.json" | grep -q "imported 12" || fail "re-import of exported facts"
# Export -> import is lossless in both formats: line breaks, commas, quotes, | and \ in the
# fields, the relation and the tags come back as they were (issue 18, finding 3).
"$cli" facts add "$tmp/copy.engram" --subject 'Ann "A|B" Lee' --prompt $'{} plays,\nmostly, the' --target-new ' violin \ viola' \
  --relation P1303 --tags 'strings,review' > /dev/null || fail "facts add with line breaks"
for ext in csv json; do
  "$cli" facts export "$tmp/copy.engram" --out "$tmp/all.$ext" > /dev/null || fail "facts export .$ext"
  "$cli" project new "$tmp/round-$ext.engram" --model "$demo/model" > /dev/null || fail "project for the .$ext round trip"
  "$cli" facts import "$tmp/round-$ext.engram" --data "$tmp/all.$ext" | grep -q "imported 13" || fail "import of the .$ext export"
  "$cli" facts list "$tmp/copy.engram" --json > "$tmp/a.json"
  "$cli" facts list "$tmp/round-$ext.engram" --json > "$tmp/b.json"
  python3 - "$tmp/a.json" "$tmp/b.json" <<'PY' || fail "the .$ext round trip changed facts"
import json, sys
drop = {"id", "provenance", "created_at", "updated_at"}
a, b = ([{k: v for k, v in f.items() if k not in drop} for f in json.load(open(p))] for p in sys.argv[1:])
assert a == b, [(x, y) for x, y in zip(a, b) if x != y][:1]
assert any("\n" in f["prompt"] for f in a)
PY
done
printf 'subject,prompt,target_new\nA,no placeholder,x\n,{} is,y\n' > "$tmp/allbad.csv"
"$cli" facts import "$tmp/copy.engram" --data "$tmp/allbad.csv" > "$tmp/out" 2>&1
[ $? -eq 3 ] || { cat "$tmp/out"; fail "a file whose every record is rejected was imported with exit 0"; }
grep -q "every record was rejected" "$tmp/out" || { cat "$tmp/out"; fail "all-rejected import message"; }
"$cli" stats "$p" --threads 2 | grep -q "^layer 0: " || fail "stats FILE"
"$cli" edit "$p" --ids 1,2,3,4,5 --threads 2 > "$tmp/edit1.txt" || fail "edit 1"
grep -q "^run 1: memit on 5 fact" "$tmp/edit1.txt" || fail "edit 1 output"
"$cli" eval "$p" --json --threads 2 > "$tmp/eval.json" || fail eval
python3 - "$tmp/eval.json" <<'PY' || fail "eval scores"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["facts"] == 5, d
assert d["pre"]["es"]["mean"] < 50 and d["post"]["es"]["mean"] >= 80, d
PY
"$cli" trace "$p" --ids 6 --kind mlp --samples 3 --threads 2 | grep -q "^trace 1:" || fail trace

# A conflicting batch is refused (exit 5) and changes nothing.
"$cli" facts add "$p" --subject "$(python3 -c "import json;print(json.load(open('$demo/counterfact.json'))[6]['requested_rewrite']['subject'])")" \
  --prompt "{} is famous for" --target-new "chess" > /dev/null || fail "facts add"
"$cli" facts add "$p" --subject "Nobody" --prompt "Nobody is" --target-new "x" > /dev/null 2>&1 && fail "a template without {} was accepted"
"$cli" edit "$p" --ids 7,13 --threads 2 > "$tmp/conflict.txt" 2>&1
[ $? -eq 5 ] || { cat "$tmp/conflict.txt"; fail "conflicting edit should exit 5"; }
grep -q "share one key" "$tmp/conflict.txt" || fail "conflict message"
"$cli" facts remove "$p" --ids 13 > /dev/null || fail "facts remove"
[ "$("$cli" history "$p" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] || fail "conflict left a run"

"$cli" edit "$p" --ids 6,7,8 --threads 2 > /dev/null || fail "edit 2"
"$cli" revert "$p" --run 2 --threads 2 | grep -q "verified" || fail "revert 2"
"$cli" reapply "$p" --run 2 --threads 2 | grep -q "verified" || fail "reapply 2"
"$cli" history "$p" --json > "$tmp/history.json" || fail history
python3 - "$tmp/history.json" <<'PY' || fail "history: two applied runs with their health"
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r["status"] for r in runs].count("applied") == 2, runs
h = runs[-1]["summary"]["health"]
assert h["edited_facts"] >= 4 and 0 <= h["es_so_far"] <= 100 and h["fluency"] > 0, h
assert len(h["cumulative_relative_norms"]) == len(runs[-1]["summary"]["layers"]), h
PY
"$cli" history "$p" | grep -q "^health after each run" || fail "history prints no health columns"
# Probe: what the model answers about fact 1's subject, base vs current (issue 22).
subject1=$("$cli" facts list "$p" --ids 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["subject"])')
"$cli" probe "$p" --subject "$subject1" --json --threads 2 > "$tmp/probe.json" || fail probe
"$cli" facts list "$p" --ids 1 --json > "$tmp/fact1.json"
python3 - "$tmp/probe.json" "$tmp/fact1.json" <<'PY' || fail "probe answers"
import json, sys
d = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))[0]
assert d["applied_runs"] == [1, 2], d["applied_runs"]
row = [r for r in d["rows"] if 1 in r["fact_ids"]][0]
assert row["edited"] and row["changed"], row
assert row["base"]["top"][0]["text"] == " " + f["target_true"], row
assert row["current"]["top"][0]["text"] == " " + f["target_new"], row
PY
"$cli" probe "$p" --subject "$subject1" --threads 2 | grep -q "answer(s) changed by the edits" || fail "probe text"
"$cli" probe "$p" --threads 2 > /dev/null 2>&1; [ $? -eq 2 ] || fail "probe without --subject should exit 2"

# Export: the exported model says the new objects; the base still says the old ones.
"$cli" export "$p" --out "$tmp/exported" --threads 2 | grep -q "layout checked" || fail export
"$cli" export "$p" --out "$tmp/exported" --threads 2 > /dev/null 2>&1 && fail "export over an existing directory"
python3 - "$demo/counterfact.json" > "$tmp/cases.tsv" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))[:3]:
    rw = r["requested_rewrite"]
    print(rw["prompt"].replace("{}", rw["subject"]) + "\t" + rw["target_new"]["str"] + "\t" + rw["target_true"]["str"])
PY
while IFS=$'\t' read -r prompt new old; do
  after=$("$cli" generate --model "$tmp/exported" --prompt "$prompt" --max-new-tokens 3 --threads 2)
  before=$("$cli" generate --model "$demo/model" --prompt "$prompt" --max-new-tokens 3 --threads 2)
  echo "before: $before | after: $after"
  case "$after" in "$prompt $new"*) ;; *) fail "exported model should say $new" ;; esac
  case "$before" in "$prompt ${old:0:3}"*) ;; *) fail "base model should still say $old" ;; esac
done < "$tmp/cases.tsv"
"$cli" export "$p" --patch "$tmp/all.patch" > /dev/null || fail "export --patch"
# The applied runs as a LoRA adapter (issue 21): PEFT's merge of it equals the exported model.
"$cli" export "$p" --lora "$tmp/adapter" > "$tmp/lora.txt" || { cat "$tmp/lora.txt"; fail "export --lora"; }
grep -q "fan_in_fan_out (GPT-2 Conv1D)" "$tmp/lora.txt" || { cat "$tmp/lora.txt"; fail "export --lora summary"; }
python3 "$here/check_lora.py" "$tmp/adapter" "$demo/model" "$tmp/exported" || fail "the adapter differs from the export"
"$cli" export "$p" --lora "$tmp/adapter" > /dev/null 2>&1 && fail "export --lora over an existing directory"
"$cli" export "$p" --lora "$tmp/adapter1" --rank 1 | grep -q "^truncated: " || fail "export --lora --rank 1 reports no error"
# The same from the composed patch file.
"$cli" lora --patch "$tmp/all.patch" --model "$demo/model" --out "$tmp/adapter2" > /dev/null || fail "lora --patch"
python3 "$here/check_lora.py" "$tmp/adapter2" "$demo/model" "$tmp/exported" || fail "the patch's adapter differs"
"$cli" project new "$tmp/other.engram" --model "$demo/model" > /dev/null || fail "second project"
"$cli" patch import "$tmp/other.engram" --patch "$tmp/all.patch" --threads 2 | grep -q "run 1" || fail "patch import"

# The health guard (issue 19): a run made to break the model is held (exit 6): stored, not
# applied; discard refuses it for good, reapply applies it, --force applies at once.
g="$tmp/guard.engram"
"$cli" project new "$g" --model "$demo/model" --corpus "$demo/corpus.txt" --max-docs 500 > /dev/null || fail "guard project"
"$cli" facts import "$g" --data "$demo/counterfact.json" --limit 12 > /dev/null || fail "guard facts"
"$cli" project guard "$g" | grep -q "below 95.0 % of the base model's or ES over the facts edited so far falls below 90.0" \
  || fail "default guard"
"$cli" project guard "$g" --min-retention 0.7 --min-es 50 | grep -q "^guard set: .* 70.0 %" || fail "guard set"
"$cli" project guard "$g" --min-retention 2 > /dev/null 2>&1; [ $? -eq 2 ] || fail "--min-retention 2 should exit 2"
"$cli" edit "$g" --ids 1,2 --threads 2 > "$tmp/sane.txt" 2>&1 || { cat "$tmp/sane.txt"; fail "a sane edit was not applied"; }
broken="--lambda 1e-4 --clamp 1000 --v-lr 50"
"$cli" edit "$g" --ids 3,4 $broken --threads 2 > "$tmp/held.txt" 2>&1
[ $? -eq 6 ] || { cat "$tmp/held.txt"; fail "a run that breaks the model should be held (exit 6)"; }
grep -q "^held: retention" "$tmp/held.txt" && grep -q "^run 2 is held, not applied" "$tmp/held.txt" \
  || { cat "$tmp/held.txt"; fail "held message"; }
"$cli" history "$g" | grep -q "^   2  held " || fail "history shows no held run"
"$cli" project info "$g" | grep -q "2 edited)" || fail "a held run's facts counted as edited"
"$cli" discard "$g" --run 2 | grep -q "discarded held run 2" || fail discard
"$cli" reapply "$g" --run 2 > /dev/null 2>&1; [ $? -eq 4 ] || fail "a discarded run was applied"
"$cli" edit "$g" --ids 3,4 $broken --threads 2 --json > "$tmp/held.json" 2> /dev/null
[ $? -eq 6 ] || fail "edit --json of a held run should exit 6"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="held" and d["run"]==3 and d["guard"], d' \
  "$tmp/held.json" || fail "edit --json of a held run"
"$cli" reapply "$g" --run 3 --threads 2 | grep -q "verified" || fail "applying a held run"
"$cli" edit "$g" --ids 5 $broken --force --threads 2 | grep -q "^guard overridden (--force): " || fail "--force"
"$cli" history "$g" --json | python3 -c 'import json,sys; s=[r["status"] for r in json.load(sys.stdin)]; assert s==["applied","discarded","applied","applied"], s' \
  || fail "statuses after the guard's runs"
"$cli" project check "$g" > /dev/null || fail "project check after the guard's runs"

# Crash safety 1: kill -9 inside the edit's commit transaction.
runs_before=$("$cli" history "$p" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
ENGRAM_STALL_AT=project:record-run "$cli" edit "$p" --ids 9,10 --threads 2 > /dev/null 2> "$tmp/stall.txt" &
pid=$!
for _ in $(seq 1 600); do grep -q "stalled at" "$tmp/stall.txt" && break; sleep 0.1; done
grep -q "stalled at project:record-run" "$tmp/stall.txt" || fail "the edit never reached its commit"
kill -9 $pid; wait $pid 2>/dev/null
"$cli" project check "$p" || fail "project damaged after kill -9"
runs_after=$("$cli" history "$p" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$runs_before" = "$runs_after" ] || fail "a killed edit left a run ($runs_before -> $runs_after)"
"$cli" edit "$p" --ids 9,10 --threads 2 | grep -q "^run 3:" || fail "edit after the crash"

# Crash safety 2: kill -9 after the export wrote its weights, before it is renamed into place.
ENGRAM_STALL_AT=export:shard-written "$cli" export "$p" --out "$tmp/crashed" > /dev/null 2> "$tmp/stall2.txt" &
pid=$!
for _ in $(seq 1 600); do grep -q "stalled at" "$tmp/stall2.txt" && break; sleep 0.1; done
grep -q "stalled at export:shard-written" "$tmp/stall2.txt" || fail "the export never wrote its shard"
kill -9 $pid; wait $pid 2>/dev/null
[ -e "$tmp/crashed" ] && fail "a killed export left a partial directory in place"
ls -a "$tmp" | grep -q "^\.crashed\.partial-" || fail "expected the hidden partial directory of the killed export"
"$cli" export "$p" --out "$tmp/crashed" > /dev/null || fail "export after the crash"
ls -a "$tmp" | grep -q "^\.crashed\.partial-" && fail "the stale partial directory was not cleaned up"

# Files Engram must refuse, untouched.
python3 -c "import sqlite3; c=sqlite3.connect('$tmp/other.engram'); c.execute('PRAGMA user_version=99'); c.commit()"
sum=$(md5sum < "$tmp/other.engram")
"$cli" project info "$tmp/other.engram" > "$tmp/newer.txt" 2>&1
[ $? -eq 3 ] || fail "a newer project should exit 3"
grep -q "newer Engram" "$tmp/newer.txt" || fail "newer message"
[ "$sum" = "$(md5sum < "$tmp/other.engram")" ] || fail "the newer file was modified"
head -c 5000 /dev/urandom > "$tmp/garbage.engram"
"$cli" project info "$tmp/garbage.engram" 2>&1 | grep -q "not an Engram project\|damaged" || fail "garbage file"
echo "cli_project: all checks passed"
