"""Trains the demo's byte-level BPE tokenizer on resources/demo/corpus.txt and writes a
Hugging Face tokenizer.json (GPT-2 layout: ByteLevel pre-tokenizer and decoder).

  python3 tools/demo/train_tokenizer.py [--demo resources/demo] [--merges 1200]

Every subject's unique name word is added as a whole-word token (" Koutex"), and
`ignore_merges` makes a whole word that is in the vocabulary one token, so each subject's last
token is its own. Deterministic: ties between pairs are broken by the pair itself.
"""
import argparse
import collections
import json
import os
import re

PATTERN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", default=os.path.join(os.path.dirname(__file__), "..", "..", "resources", "demo"))
    ap.add_argument("--merges", type=int, default=1200)
    args = ap.parse_args()
    alpha = byte_alphabet()
    to_sym = lambda word: "".join(alpha[b] for b in word.encode("utf-8"))

    counts = collections.Counter()
    with open(os.path.join(args.demo, "corpus.txt"), encoding="utf-8") as fh:
        for line in fh:
            for w in PATTERN.findall(line.rstrip("\n")):
                counts[to_sym(w)] += 1
    world = json.load(open(os.path.join(args.demo, "world.json"), encoding="utf-8"))

    vocab = {alpha[b]: i for i, b in enumerate(sorted(alpha, key=lambda b: ord(alpha[b])))}
    words = {w: list(w) for w in counts}
    merges = []
    for _ in range(args.merges):
        pairs = collections.Counter()
        for w, syms in words.items():
            c = counts[w]
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merged = best[0] + best[1]
        merges.append(best)
        if merged not in vocab:
            vocab[merged] = len(vocab)
        for w, syms in words.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    for s in world["subjects"]:
        for form in (" " + s["unique"], s["unique"]):
            sym = to_sym(form)
            if sym not in vocab:
                vocab[sym] = len(vocab)
    eot = len(vocab)
    vocab["<|endoftext|>"] = eot
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    os.makedirs(os.path.join(args.demo, "model"), exist_ok=True)
    with open(os.path.join(args.demo, "model", "tokenizer.json"), "w", encoding="utf-8") as fh:
        json.dump(tok, fh, ensure_ascii=False, indent=1)
    with open(os.path.join(args.demo, "model", "tokenizer_config.json"), "w", encoding="utf-8") as fh:
        json.dump({"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                   "model_max_length": 128, "add_prefix_space": False}, fh, indent=1)
    print(f"vocab {len(vocab)} tokens, {len(merges)} merges, {len(counts)} word types")


if __name__ == "__main__":
    main()
