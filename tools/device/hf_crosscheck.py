"""Compares Engram's forward pass and greedy decoding with Hugging Face transformers.

Run by crosscheck.sh on a machine that has torch + transformers (the GPU machine). For each
family a seeded random checkpoint is written by our make_random_checkpoint, read by
transformers (eager attention, float32), and compared with our dump_logits on CPU and CUDA.
The GPT-2 tokenizer is compared with the `tokenizers` library on assorted strings.
Writes crosscheck.json (summary plus the reference logits) to --out.
"""
import argparse
import json
import os
import random
import shutil
import subprocess

import torch
from transformers import AutoModelForCausalLM

IDS = [3, 17, 5, 39, 0, 22, 8, 61, 12, 40]


def ours(bin_dir, model, ids, device):
    res = subprocess.run([f"{bin_dir}/tools/dump_logits", "--model", model, "--ids", " ".join(map(str, ids)),
                          "--device", device, "--greedy", "16"], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout)


def reference(model_dir, ids, steps=16):
    m = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0]
        seq = list(ids)
        for _ in range(steps):
            seq.append(int(m(torch.tensor([seq])).logits[0, -1].argmax()))
    return logits, seq[len(ids):]


def compare(name, model_dir, ids, args, report):
    entry = {"model": name, "ids": ids}
    try:
        ref_logits, ref_greedy = reference(model_dir, ids)
        entry["hf_greedy"] = ref_greedy
        entry["hf_logits_last"] = [round(float(x), 6) for x in ref_logits[-1]]
        entry["hf_logits_sum"] = float(ref_logits.double().sum())
        for device in ("cpu", "cuda"):
            o = ours(args.bin, model_dir, ids, device)
            diff = float((torch.tensor(o["logits"]) - ref_logits).abs().max())
            entry[f"{device}_max_abs_diff"] = diff
            entry[f"{device}_greedy_equal"] = o["greedy"] == ref_greedy
            entry[f"{device}_cache_equal"] = o["greedy"] == o["greedy_uncached"]
    except Exception as e:  # report and go on with the next model
        entry["error"] = str(e)[-2000:]
    print(json.dumps({k: v for k, v in entry.items() if k not in ("hf_logits_last",)}))
    report.append(entry)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    report = []
    for family in ("gpt2", "gptj", "gpt_neox", "llama"):
        d = os.path.join(args.work, family)
        subprocess.run([f"{args.bin}/tools/make_random_checkpoint", "--family", family, "--out", d, "--seed", "7"],
                       check=True)
        compare(family, d, IDS, args, report)
    # NeoX with the sequential residual, same weights.
    seq = os.path.join(args.work, "gpt_neox_sequential")
    shutil.copytree(os.path.join(args.work, "gpt_neox"), seq)
    cfg = json.load(open(os.path.join(seq, "config.json")))
    cfg["use_parallel_residual"] = False
    json.dump(cfg, open(os.path.join(seq, "config.json"), "w"))
    compare("gpt_neox_sequential", seq, IDS, args, report)
    compare("stories260k", os.path.join(args.fixtures, "stories260k-hf"), [1, 403, 407, 261, 378], args, report)

    # Tokenizer: GPT-2 byte-level BPE against the tokenizers library.
    from tokenizers import Tokenizer as HFTokenizer
    tok_dir = os.path.join(args.fixtures, "fake-gpt2-hf")
    hf_tok = HFTokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    rng = random.Random(3)
    pool = list("aZ \n\t7.'éßЖ中") + ["\u0301", "\U0001F999", "\u00a0", "  ", "'s", "'ll", "123", "<|endoftext|>"]
    texts = ["Hello world", " The Eiffel Tower is in", "Danielle Darrieux's mother tongue is", "3333333"]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(0, 20))) for _ in range(40)]
    mismatches = []
    for t in texts:
        res = subprocess.run([f"{args.bin}/app/engram-cli", "tokenize", "--model", tok_dir, "--text", t],
                             capture_output=True, text=True)
        got = [int(x) for x in res.stdout.split()]
        want = hf_tok.encode(t, add_special_tokens=True).ids
        if got != want:
            mismatches.append({"text": t, "ours": got, "hf": want})
    print(json.dumps({"tokenizer_strings": len(texts), "tokenizer_mismatches": mismatches[:10]}))
    json.dump({"models": report, "tokenizer_strings": len(texts), "tokenizer_mismatches": mismatches},
              open(os.path.join(args.out, "crosscheck.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
