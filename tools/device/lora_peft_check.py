#!/usr/bin/env python3
"""Loads Engram's LoRA adapter on the base model the way a serving stack does (PEFT when
installed; otherwise W + scaling * B @ A, transposed for fan_in_fan_out, by hand) and compares
next-token logits with the exported patched checkpoint. Usage: BASE ADAPTER EXPORTED"""
import json
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

base_dir, adapter_dir, exported_dir = sys.argv[1:4]
tok = AutoTokenizer.from_pretrained(base_dir)
prompts = ["The most popular sport in Port Broubrair is", "The working language at Casa Vofaim is",
           "Oscar Koutex was born in", "The favourite sport of Ines Drukreth is"]
batch = [tok(p, return_tensors="pt").input_ids for p in prompts]
exported = AutoModelForCausalLM.from_pretrained(exported_dir, torch_dtype=torch.float32).eval()
try:
    from peft import PeftModel
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32),
                                      adapter_dir).eval()
    how = "PEFT %s" % __import__("peft").__version__
except ImportError:
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32).eval()
    config = json.load(open(adapter_dir + "/adapter_config.json"))
    weights = load_file(adapter_dir + "/adapter_model.safetensors")
    scaling = config["lora_alpha"] / config["r"]
    params = dict(model.named_parameters())
    with torch.no_grad():
        for module in config["target_modules"]:
            a = weights["base_model.model.%s.lora_A.weight" % module]
            b = weights["base_model.model.%s.lora_B.weight" % module]
            delta = scaling * (b @ a)
            params[module + ".weight"] += delta.T if config["fan_in_fan_out"] else delta
    how = "merged by hand (PEFT absent)"
worst, agree = 0.0, 0
with torch.no_grad():
    for ids in batch:
        x, y = model(ids).logits[0, -1], exported(ids).logits[0, -1]
        worst = max(worst, (x - y).abs().max().item())
        agree += int(x.argmax() == y.argmax())
print("adapter via %s: largest logit difference %.2e, same next token on %d of %d prompts"
      % (how, worst, agree, len(batch)))
sys.exit(0 if worst < 1e-3 and agree == len(batch) else 1)
