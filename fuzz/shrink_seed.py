#!/usr/bin/env python3
"""Cuts a real file down to a small fuzzing seed of the same kind (scripts/fuzz.sh calls it).

  shrink_seed.py safetensors IN OUT      first tensors, every dimension at most 2, real names/metadata
  shrink_seed.py tokenizer IN OUT        tokenizer.json with the first ids of the vocabulary and the
                                         merges among them; the pipeline sections unchanged
  shrink_seed.py vocab-merges VOCAB MERGES OUT
                                         the same for a vocab.json + merges.txt pair, joined with the
                                         "\\n#merges\\n" line that fuzz_vocab_merges splits at
  shrink_seed.py json-list IN OUT        the first records of a JSON list
Standard library only.
"""

import json
import struct
import sys

MAX_TENSORS = 6
MAX_IDS = 400
MAX_MERGES = 200
MAX_RECORDS = 3


def shrink_safetensors(src, dst):
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        start = 8 + n
        sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
        out, data = {}, b""
        if "__metadata__" in header:
            out["__metadata__"] = header["__metadata__"]
        names = [k for k in header if k != "__metadata__"][:MAX_TENSORS]
        for name in names:
            entry = header[name]
            shape = [min(d, 2) for d in entry["shape"]]
            count = 1
            for d in shape:
                count *= d
            size = count * sizes[entry["dtype"]]
            f.seek(start + entry["data_offsets"][0])
            raw = f.read(size)
            out[name] = {"dtype": entry["dtype"], "shape": shape, "data_offsets": [len(data), len(data) + size]}
            data += raw
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def kept_merges(merges, vocab):
    out = []
    for m in merges:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            out.append(m)
        if len(out) >= MAX_MERGES:
            break
    return out


def shrink_tokenizer(src, dst):
    with open(src, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok.get("model", {})
    vocab = {k: v for k, v in model.get("vocab", {}).items() if v < MAX_IDS}
    model["vocab"] = vocab
    model["merges"] = kept_merges(model.get("merges", []), vocab)
    tok["added_tokens"] = tok.get("added_tokens", [])[:8]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


def shrink_vocab_merges(vocab_path, merges_path, dst):
    with open(vocab_path, encoding="utf-8") as f:
        vocab = {k: v for k, v in json.load(f).items() if v < MAX_IDS}
    with open(merges_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    version = [lines[0]] if lines and lines[0].startswith("#version") else []
    merges = kept_merges([line for line in lines[len(version):] if " " in line], vocab)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, ensure_ascii=False) + "\n#merges\n" + "\n".join(version + merges) + "\n")


def shrink_json_list(src, dst):
    with open(src, encoding="utf-8") as f:
        records = json.load(f)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(records[:MAX_RECORDS] if isinstance(records, list) else records, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    {"safetensors": shrink_safetensors, "tokenizer": shrink_tokenizer, "vocab-merges": shrink_vocab_merges,
     "json-list": shrink_json_list}[kind](*args)
