#!/usr/bin/env bash
# engram-cli refuses options a command does not take (exit 2, naming the closest known one)
# instead of running with defaults (issue 18, section 4.6): file and project commands.
set -u
cli=$1
demo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_usage() { # expect_usage NEEDLE COMMAND...
  local needle=$1; shift
  "$cli" "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
  local rc=$?
  [ $rc -eq 2 ] || { cat "$tmp/out.txt" "$tmp/err.txt"; fail "'$*' exited $rc, not 2"; }
  grep -qF -- "$needle" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "'$*' did not say: $needle"; }
  [ ! -s "$tmp/out.txt" ] || { cat "$tmp/out.txt"; fail "'$*' printed results"; }
}
expect_usage "unknown option --max-new-token for 'generate' (did you mean --max-new-tokens?)" \
  generate --model "$demo/model" --prompt "Oscar Koutex was born in" --max-new-token 5
expect_usage "unknown option --prompt for 'info'" info --model "$demo/model" --prompt x
expect_usage "unknown option --bogus" info --model "$demo/model" --bogus 5
expect_usage "(did you mean --lambda?)" edit --model "$demo/model" --facts "$demo/counterfact.json" --lamda 3 --out "$tmp/x.patch"
"$cli" project new "$tmp/p.engram" --model "$demo/model" > /dev/null || fail "project new"
expect_usage "(did you mean --ids?)" edit "$tmp/p.engram" --idss 1
expect_usage "unknown option --kind for 'history'" history "$tmp/p.engram" --kind mlp
# Numbers must be finite and in range (issue 18, section 4.4): never a NaN run or a backtrace.
expect_usage "--temperature must be a finite number" generate --model "$demo/model" --prompt "x" --temperature nan
expect_usage "--top-p must be in" generate --model "$demo/model" --prompt "x" --top-p 1.5
expect_usage "--lambda must be a finite number" edit --model "$demo/model" --facts "$demo/counterfact.json" --lambda inf \
  --stats "$tmp/none.safetensors" --out "$tmp/x.patch"
expect_usage "--lambda must be in [0," edit "$tmp/p.engram" --lambda -1
expect_usage "--v-lr must be in" edit "$tmp/p.engram" --v-lr 0
# 'info' reads every weight and the whole tokenizer: NaN weights and a tokenizer that does not
# load are reported (exit 3), not "none found" or a model that answers "!!!!".
mkdir -p "$tmp/broken"
cp "$demo/model/config.json" "$demo/model/model.safetensors" "$tmp/broken/"
echo '{"model": {"type": "BPE", "vocab": {}, "merges": []}}' > "$tmp/broken/tokenizer.json"
python3 - "$tmp/broken/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
name = sorted(k for k in header if k.endswith("h.2.mlp.c_proj.weight"))[0]
begin = 8 + n + header[name]["data_offsets"][0]
data[begin:begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(bytes(data))
PY
"$cli" info --model "$tmp/broken" > "$tmp/info.txt" 2>&1
[ $? -eq 3 ] || { cat "$tmp/info.txt"; fail "info on a NaN checkpoint did not exit 3"; }
grep -q "weights: *1 tensor(s) hold NaN or infinite values: transformer.h.2.mlp.c_proj.weight" "$tmp/info.txt" \
  || { cat "$tmp/info.txt"; fail "info did not name the NaN tensor"; }
grep -q "tokenizer: *does not load" "$tmp/info.txt" || { cat "$tmp/info.txt"; fail "info did not report the tokenizer"; }
"$cli" info --model "$demo/model" | grep -q "weights: *all finite" || fail "info on the demo"
# An option of another method is refused, not ignored (issue 17: the tables fill the method's params).
expect_usage "--lambda applies to --method memit" edit --model "$demo/model" --facts "$demo/counterfact.json" \
  --method rome --lambda 3 --out "$tmp/x.patch"
expect_usage "--steps applies to --method ftw" edit "$tmp/p.engram" --steps 3
expect_usage "--layer applies to rome, r-rome and ftw" edit "$tmp/p.engram" --layer 2
expect_usage "'generate' needs --prompt" generate --model "$demo/model"
expect_usage "option --greedy takes no value" generate --model "$demo/model" --prompt x --greedy=1
# The help is generated from the same tables: every option a command accepts is in its help,
# with the defaults of the params structs.
for cmd in info tokenize generate stats edit trace eval project facts history revert reapply export patch; do
  "$cli" "$cmd" --help > "$tmp/help.txt" || fail "$cmd --help"
  grep -q "^  $cmd" "$tmp/help.txt" || fail "$cmd --help has no usage line"
done
"$cli" generate --help | grep -E -- "--max-new-tokens N +new tokens \(default 32\)" > /dev/null \
  || fail "generate --help does not show the default of GenerationParams::maxNewTokens"
"$cli" edit --help | grep -q -- "--norm-constraint X" || fail "edit --help lacks the ftw options"
for opt in $("$cli" trace --help | sed '/^Commands on a project/,$d' | grep -oE '^    --[a-z-]+' | sort -u); do
  "$cli" trace "$opt" 2>&1 | grep -q "unknown option" && fail "trace --help lists $opt, trace refuses it"
done
expect_usage "unknown command 'frobnicate'" help frobnicate
# Known options still work, common ones included.
"$cli" info --model "$demo/model" --threads 1 | grep -q "layers: *6" || fail "info with --threads"
"$cli" history "$tmp/p.engram" --json | python3 -c 'import json,sys; assert json.load(sys.stdin) == []' || fail "history --json"
echo "cli options ok"
