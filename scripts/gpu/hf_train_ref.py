#!/usr/bin/env python3
"""Reference training throughput: Hugging Face DistilBertForMaskedLM in eager PyTorch with bf16
autocast, on the shapes of ChatBERT's imr_small (batch 32 x 321 tokens, the MLM loss on masked
response positions). Prints one JSON line: {"tokens_per_second": ..., ...}. Runs on the GPU machine."""
import argparse, json, time

import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seq", type=int, default=321)
p.add_argument("--slot", type=int, default=64)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
a = p.parse_args()

torch.manual_seed(0)
dev = "cuda"
model = DistilBertForMaskedLM(DistilBertConfig()).to(dev).train()
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
ids = torch.randint(1000, 30000, (a.batch, a.seq), device=dev)
mask = torch.ones_like(ids)
labels = torch.full_like(ids, -100)
slot0 = a.seq - a.slot - 1
# about half of the slot masked, as the IMR objective's average ratio
sel = torch.rand(a.batch, a.slot, device=dev) < 0.55
labels[:, slot0:slot0 + a.slot][sel] = ids[:, slot0:slot0 + a.slot][sel]

def step():
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)

for _ in range(a.warmup):
    step()
torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.steps):
    step()
torch.cuda.synchronize()
dt = time.perf_counter() - t0
print(json.dumps({"reference": "transformers DistilBertForMaskedLM eager bf16 autocast", "batch": a.batch, "seq": a.seq,
                  "steps": a.steps, "seconds": dt, "tokens_per_second": a.batch * a.seq * a.steps / dt,
                  "device": torch.cuda.get_device_name(), "torch": torch.__version__}))
