#!/usr/bin/env python3
"""Checks a LoRA adapter written by engram-cli against the patched model it stands for, the
way PEFT merges it: W + (lora_alpha / r) * B @ A (transposed when fan_in_fan_out) must equal
the exported model's weight to float32 tolerance for every target module. Pure Python (no
numpy on the test machines).
Usage: check_lora.py ADAPTER_DIR BASE_MODEL_DIR PATCHED_MODEL_DIR"""
import json
import os
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (path, name, info["dtype"])
        begin, end = info["data_offsets"]
        values = struct.unpack("<%df" % ((end - begin) // 4), data[begin:end])
        tensors[name] = (info["shape"], values)
    return tensors


def model_tensors(directory):
    out = {}
    for file in sorted(os.listdir(directory)):
        if file.endswith(".safetensors"):
            out.update(read_safetensors(os.path.join(directory, file)))
    return out


adapter_dir, base_dir, patched_dir = sys.argv[1:4]
config = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM", config
adapter = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
base, patched = model_tensors(base_dir), model_tensors(patched_dir)
r, scaling, transpose = config["r"], config["lora_alpha"] / config["r"], config["fan_in_fan_out"]
worst = 0.0
for module in config["target_modules"]:
    (a_shape, a), (b_shape, b) = (adapter["base_model.model.%s.lora_%s.weight" % (module, x)] for x in "AB")
    assert a_shape[0] == r and b_shape[1] == r, (module, a_shape, b_shape)
    out_features, in_features = b_shape[0], a_shape[1]
    w_shape, w = base[module + ".weight"]
    _, w_patched = patched[module + ".weight"]
    assert w_shape == ([in_features, out_features] if transpose else [out_features, in_features]), (module, w_shape)
    scale = max(abs(v) for v in w) + max(abs(u - v) for u, v in zip(w_patched, w))
    for o in range(out_features):
        b_row = b[o * r:(o + 1) * r]
        for i in range(in_features):
            delta = scaling * sum(b_row[k] * a[k * in_features + i] for k in range(r))
            index = i * out_features + o if transpose else o * in_features + i
            worst = max(worst, abs(w[index] + delta - w_patched[index]) / scale)
    print("%s: rank %d, %d x %d" % (module, r, out_features, in_features))
print("largest difference from the patched weights: %.2e of the weights' scale" % worst)
sys.exit(0 if worst < 1e-5 else 1)
