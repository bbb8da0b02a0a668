#!/usr/bin/env python3
"""Writes the small hand-made seed inputs of the fuzz harnesses into fuzz/corpus/<harness>/.

Standard library only (no numpy). The outputs are committed; run this again after changing it:
    python3 fuzz/make_seeds.py
Project-file seeds are written by the fuzz_seeds program (fuzz/fuzz_seeds.cpp), and seeds from
real files (the demo model, tests/fixtures, $ENGRAM_FIXTURES) are gathered by scripts/fuzz.sh
at run time, cut down by fuzz/shrink_seed.py.
"""

import io
import json
import os
import sqlite3
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def write(harness, name, data):
    folder = os.path.join(CORPUS, harness)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, align=8):
    """tensors: list of (name, dtype, shape, bytes). Header padded to `align` (1: unpadded)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    data = b""
    for name, dtype, shape, raw in tensors:
        n = 1
        for d in shape:
            n *= d
        assert len(raw) == n * DTYPE_SIZE[dtype], name
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    while len(text) % align:
        text += b" "
    return struct.pack("<Q", len(text)) + text + data


def npy(descr, shape, raw, fortran=False, version=1):
    shape_text = f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(str(d) for d in shape) + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode("latin1") + raw


def npz(arrays, compressed=False):
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in arrays:
            z.writestr(name, data)
    return buf.getvalue()


def f32(*values):
    return struct.pack(f"<{len(values)}f", *values)


def f64(*values):
    return struct.pack(f"<{len(values)}d", *values)


def safetensors_seeds():
    h = "fuzz_safetensors"
    write(h, "seed-types.safetensors", safetensors([
        ("a.f32", "F32", [2, 2], f32(1, 2, 3, 4)),
        ("b.bf16", "BF16", [3], b"\x80\x3f\x00\x40\x40\x40"),
        ("c.i8", "I8", [], b"\x05"),
        ("d.bool", "BOOL", [0], b""),
        ("e.f64", "F64", [1, 1], f64(0.5)),
        ("f.i64", "I64", [1], struct.pack("<q", -7)),
        ("g.i32", "I32", [1], struct.pack("<i", 9)),
        ("h.i16", "I16", [2], struct.pack("<2h", 1, -1)),
        ("i.u8", "U8", [2, 1], b"\x00\xff"),
        ("j.f16", "F16", [1], b"\x00\x3c"),
    ], {"format": "pt"}))
    # Unpadded header: the data section starts misaligned (legal; tensors are copied).
    write(h, "seed-misaligned.safetensors", safetensors([("w", "F32", [3], f32(1, 2, 3))], {"format": "pt"}, align=1))
    write(h, "seed-empty.safetensors", safetensors([]))
    write(h, "seed-index.json", json.dumps({"metadata": {"total_size": 14},
                                            "weight_map": {"x": "a.safetensors", "y": "a.safetensors",
                                                           "z": "b.safetensors"}}, indent=2))


def regression_inputs():
    """Hand-made minimal versions of findings (the fuzzer's own reproducers are kept as they are)."""
    # A number beyond double range made nlohmann::json throw out_of_range (406), which escaped
    # the readers as a foreign exception instead of engram::Error.
    header = b'{"t":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}'
    write("fuzz_safetensors", "regress-number-beyond-double.safetensors",
          struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    write("fuzz_modelconfig", "regress-number-beyond-double.json",
          '{"model_type": "gpt2", "vocab_size": 8, "n_embd": 4, "n_layer": 1, "n_head": 1, '
          '"layer_norm_epsilon": -1e400}')
    write("fuzz_tokenizer_json", "regress-number-beyond-double.json",
          '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Strip", "start": 1e400}}')
    write("fuzz_vocab_merges", "regress-number-beyond-double.txt", '{"a": 0, "b": 1e400}\n#merges\na b\n')
    # .npy shapes: the element count overflowed int64 (UB), a deflated entry's stated size was
    # allocated before anything was checked (4 GiB here, from 10 compressed bytes).
    write("fuzz_npz", "regress-shape-count-overflow.npy", npy("<f4", [4294967296, 4294967296, 0], b""))
    entry = npy("<f4", [1], f32(1))
    archive = bytearray(npz([("mom2.mom2.npy", entry)], compressed=True))
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24:central + 28] = struct.pack("<I", 0xFFFFFFF0)
    write("fuzz_npz", "regress-deflate-stated-size-4gib.npz", bytes(archive))


def patch_seeds():
    h = "fuzz_patch"
    name = "transformer.h.0.mlp.c_proj.weight"
    meta = {"format": "engram-patch", "version": "1",
            "base_hashes": json.dumps({name: "cbf29ce484222325"}),
            "relative_norms": json.dumps({name: 0.0125}),
            "provenance": json.dumps({"method": "rome", "seed": 1, "facts": [{"subject": "Paris"}]})}
    write(h, "seed-one-delta.safetensors", safetensors([("delta." + name, "F32", [2, 3], f32(*range(6)))], meta))
    other = "model.layers.1.mlp.down_proj.weight"
    meta2 = dict(meta, base_hashes=json.dumps({name: "0000000000000001", other: "00000000000000ff"}),
                 relative_norms=json.dumps({name: 0.5, other: 1e-3}))
    write(h, "seed-two-deltas.safetensors", safetensors([
        ("delta." + name, "F32", [2, 3], f32(*range(6))),
        ("delta." + other, "F32", [1, 2], f32(-1, 1))], meta2))


def statistics_seeds():
    h = "fuzz_statistics"
    meta = {"format": "engram-second-moments", "counts": json.dumps({"3": 100, "5": 7}),
            "corpus": "corpus.txt", "model_hash": "0123456789abcdef"}
    write(h, "seed-two-layers.safetensors", safetensors([
        ("layer.3.sum", "F64", [2, 2], f64(1, 0, 0, 1)),
        ("layer.5.sum", "F32", [2, 2], f32(2, 1, 1, 2))], meta))
    write(h, "seed-published-stored.npz", npz([
        ("mom2.mom2.npy", npy("<f4", [2, 2], f32(4, 1, 1, 4))),
        ("mom2.count.npy", npy("<i8", [], struct.pack("<q", 100)))]))
    write(h, "seed-published-deflated.npz", npz([
        ("mom2.mom2.npy", npy("<f8", [2, 2], f64(4, 1, 1, 4), fortran=True)),
        ("mom2.count.npy", npy("<i8", [], struct.pack("<q", 3)))], compressed=True))


def npz_seeds():
    h = "fuzz_npz"
    write(h, "seed-f8-v1.npy", npy("<f8", [3], f64(1, 2, 3)))
    write(h, "seed-i2-fortran-v2.npy", npy("<i2", [2, 3], struct.pack("<6h", *range(6)), fortran=True, version=2))
    write(h, "seed-b1-v3.npy", npy("|b1", [2], b"\x01\x00", version=3))
    write(h, "seed-f2-scalar.npy", npy("<f2", [], b"\x00\x3c"))
    # An empty array: its tensor has no storage, so nothing may be copied into it (memcpy(nullptr, .., 0)).
    write(h, "regress-empty-array-memcpy-null.npy", npy("|u1", [0, 4], b""))
    write(h, "seed-stored.npz", npz([
        ("mom2.mom2.npy", npy("<f4", [2, 2], f32(4, 1, 1, 4))),
        ("mom2.count.npy", npy("<i8", [], struct.pack("<q", 100))),
        ("mean.npy", npy("<i4", [2], struct.pack("<2i", 1, 2)))]))
    write(h, "seed-deflated.npz", npz([
        ("mom2.mom2.npy", npy("<f8", [3, 2], f64(*range(6)), fortran=True)),
        ("mom2.count.npy", npy("<i1", [1], b"\x07"))], compressed=True))


def modelconfig_seeds():
    h = "fuzz_modelconfig"
    configs = {
        "gpt2": {"model_type": "gpt2", "vocab_size": 50, "n_embd": 8, "n_layer": 2, "n_head": 2, "n_positions": 16,
                 "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": 0,
                 "eos_token_id": 0, "scale_attn_by_inverse_layer_idx": True},
        "gptj": {"model_type": "gptj", "vocab_size": 50, "n_embd": 16, "n_layer": 1, "n_head": 2, "rotary_dim": 4,
                 "n_inner": None, "activation_function": "gelu_fast", "tie_word_embeddings": False},
        "gpt_neox": {"model_type": "gpt_neox", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "intermediate_size": 64, "rotary_pct": 0.5, "rotary_emb_base": 10000,
                     "use_parallel_residual": False, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
                     "rope_scaling": {"type": "linear", "factor": 2.0}},
        "llama3": {"model_type": "llama", "vocab_size": 128, "hidden_size": 16, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 32,
                   "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                   "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                   "bos_token_id": 1, "eos_token_id": [2, 3], "tie_word_embeddings": True, "head_dim": 4},
        "mistral": {"model_type": "mistral", "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1,
                    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32,
                    "sliding_window": 8, "hidden_act": "silu", "attention_bias": False, "mlp_bias": False},
        "qwen2": {"model_type": "qwen2", "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1,
                  "num_attention_heads": 2, "intermediate_size": 32, "use_sliding_window": True,
                  "sliding_window": 16, "rope_scaling": None},
    }
    for name, config in configs.items():
        write(h, f"seed-{name}.json", json.dumps(config, indent=1))


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


def tokenizer_seeds():
    alphabet = byte_alphabet()
    vocab = {alphabet[b]: b for b in range(256)}
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("o", "r"), ("Ġ", "w"), ("Ġw", "or"),
                 ("Ġwor", "l"), ("Ġworl", "d"), ("3", "3")]:
        merges.append(f"{a} {b}")
        vocab.setdefault(a + b, len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    byte_level = {
        "version": "1.0",
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "trim_offsets": False},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": merges},
    }
    write("fuzz_tokenizer_json", "seed-byte-level.json", json.dumps(byte_level, ensure_ascii=False))

    # SentencePiece style: Prepend/Replace normaliser, byte fallback, TemplateProcessing.
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab[f"<0x{b:02X}>"] = len(sp_vocab)
    for piece in ["▁", "H", "e", "l", "o", "▁H", "ll", "▁He", "▁Hell", "▁Hello", "w", "r", "d", "▁w", "or", "▁wor",
                  "▁world"]:
        sp_vocab[piece] = len(sp_vocab)
    sentencepiece = {
        "version": "1.0",
        "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
                         {"id": 2, "content": "</s>", "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                  "vocab": sp_vocab,
                  "merges": [["▁", "H"], ["l", "l"], ["▁H", "e"], ["▁He", "ll"], ["▁Hell", "o"], ["▁", "w"],
                             ["o", "r"], ["▁w", "or"], ["▁wor", "l"]]},
    }
    write("fuzz_tokenizer_json", "seed-sentencepiece.json", json.dumps(sentencepiece, ensure_ascii=False))

    # Llama-3 style: Split regex + ByteLevel without regex, NFC, Digits, Metaspace variants.
    split = dict(byte_level)
    split["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"},
                                                               {"type": "Strip", "strip_left": True,
                                                                "strip_right": False},
                                                               {"type": "Replace", "pattern": {"Regex": "\\s+"},
                                                                "content": " "}]}
    split["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"},
         "behavior": "Isolated", "invert": False},
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    split["model"] = dict(byte_level["model"], ignore_merges=True)
    write("fuzz_tokenizer_json", "seed-split-regex.json", json.dumps(split, ensure_ascii=False))

    metaspace = dict(sentencepiece)
    metaspace["normalizer"] = {"type": "NFKC"}
    metaspace["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}
    metaspace["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}
    write("fuzz_tokenizer_json", "seed-metaspace.json", json.dumps(metaspace, ensure_ascii=False))

    small = {k: v for k, v in vocab.items() if v < 300}
    text = json.dumps(small, ensure_ascii=False) + "\n#merges\n#version: 0.2\n" + "\n".join(merges) + "\n"
    write("fuzz_vocab_merges", "seed-gpt2-style.txt", text)


def dataset_seeds():
    h = "fuzz_dataset"
    counterfact = [{
        "case_id": 0, "pararel_idx": 2796,
        "requested_rewrite": {"prompt": "The mother tongue of {} is", "relation_id": "P103",
                              "target_new": {"str": "English", "id": "Q1860"},
                              "target_true": {"str": "French", "id": "Q150"}, "subject": "Danielle Darrieux"},
        "paraphrase_prompts": ["Shayna does this. Danielle Darrieux is a native speaker of"],
        "neighborhood_prompts": ["The mother tongue of L\u00e9on Blum is"],
        "attribute_prompts": ["J.\u00a0R.\u00a0R. Tolkien is a native speaker of"],
        "generation_prompts": ["Danielle Darrieux's mother tongue is"]}]
    write(h, "seed-counterfact.json", json.dumps(counterfact, indent=1))
    zsre = [{"subject": "Watts Humphrey", "src": "What university did Watts Humphrey attend?",
             "pred": "Trinity College", "rephrase": "What university did Watts Humphrey take part in?",
             "alt": "University of Michigan", "answers": ["Illinois Institute of Technology"],
             "loc": "nq question: who played desmond doss father in hacksaw ridge", "loc_ans": "Hugo Weaving",
             "cond": "Trinity College >> University of Michigan || What university did Watts Humphrey attend?"}]
    write(h, "seed-zsre.json", json.dumps(zsre, indent=1))
    known = [{"known_id": 0, "subject": "Vinson Massif", "attribute": "Antarctica",
              "template": "{} is located in the continent of", "prediction": " Antarctica",
              "prompt": "Vinson Massif is located in the continent of", "relation_id": "P30"},
             {"subject": "Paris", "prompt": "{} is the capital of", "object": "France"}]
    write(h, "seed-known-facts.json", json.dumps(known, indent=1))
    easyedit = [{"prompt": "Who was the designer of Lahti Town Hall?", "subject": "Lahti Town Hall",
                 "target_new": "Aarne Ervi", "ground_truth": "Eliel Saarinen",
                 "rephrase_prompt": "What architect designed Lahti Town Hall?",
                 "locality_prompt": "Who was the designer of Eiffel Tower?", "locality_ground_truth": "Gustave Eiffel",
                 "portability": {"Reasoning": [{"prompt": "x", "ground_truth": "y"}]}}]
    write(h, "seed-easyedit.json", json.dumps(easyedit, indent=1))
    write(h, "seed-basic.csv",
          "subject,prompt,target_new,target_true,paraphrases,neighborhood\n"
          "Paris,{} is the capital of,Italy,France,Paris is a city in|The capital {} is in,{} has a river\n"
          "\"Smith, John\",\"{} said \"\"hi\"\" in\",English,,,\n")
    write(h, "seed-minimal.csv", "subject,prompt,target_new\r\nEiffel Tower,{} is in,Rome\r\n")


def project_seeds():
    """A schema-1 project (the repository's tests/fixtures/project/v1.engram) with 1 KiB pages."""
    source = os.path.join(ROOT, "tests", "fixtures", "project", "v1.engram")
    target = os.path.join(CORPUS, "fuzz_project", "seed-v1-small-pages.engram")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.exists(target):
        os.remove(target)
    db = sqlite3.connect(source)
    try:
        db.execute("VACUUM INTO ?", (target,))
    finally:
        db.close()
    db = sqlite3.connect(target)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("PRAGMA page_size = 1024")
        db.execute("VACUUM")
    finally:
        db.close()


if __name__ == "__main__":
    regression_inputs()
    safetensors_seeds()
    patch_seeds()
    statistics_seeds()
    npz_seeds()
    modelconfig_seeds()
    tokenizer_seeds()
    dataset_seeds()
    project_seeds()
