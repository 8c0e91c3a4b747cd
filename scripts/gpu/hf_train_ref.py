#!/usr/bin/env python3
"""Reference training throughput: Hugging Face DistilBertForMaskedLM in eager PyTorch with bf16
autocast, on the shapes of ChatBERT's imr_small (batch 32 x 321 tokens, the MLM loss on masked
response positions). With --batch-file (written by scripts/gpu/train_fixed.js) it trains on exactly
the batch ChatBERT's side trained on: the same tokens and masked positions. tokens/s = batch * seq *
timed steps / seconds, as train_fixed.js counts. Prints one JSON line. Runs on the GPU machine;
--check-only reads and checks the batch file and stops before importing torch (the dry run)."""
import argparse, json, time

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seq", type=int, default=321)
p.add_argument("--slot", type=int, default=64)
p.add_argument("--steps", type=int, default=50)
p.add_argument("--warmup", type=int, default=10)
p.add_argument("--batch-file", help="JSON from train_fixed.js: batch, seq, input_ids (flat), positions (flat), labels")
p.add_argument("--check-only", action="store_true")
a = p.parse_args()

fixed = None
if a.batch_file:
    with open(a.batch_file) as f:
        fixed = json.load(f)
    B, T = fixed["batch"], fixed["seq"]
    assert len(fixed["input_ids"]) == B * T, "input_ids is not batch * seq long"
    assert len(fixed["positions"]) == len(fixed["labels"]) > 0, "positions and labels differ in length"
    assert all(0 <= q < B * T for q in fixed["positions"]), "a position is outside the batch"
    assert all(fixed["input_ids"][q] == l for q, l in zip(fixed["positions"], fixed["labels"])), "labels are not the tokens at the positions"
    a.batch, a.seq = B, T
if a.check_only:
    print(json.dumps({"batch_file": a.batch_file, "batch": a.batch, "seq": a.seq, "masked": len(fixed["positions"]) if fixed else None, "check": "ok"}))
    raise SystemExit(0)

import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

torch.manual_seed(0)
dev = "cuda"
model = DistilBertForMaskedLM(DistilBertConfig()).to(dev).train()
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
if fixed:
    ids = torch.tensor(fixed["input_ids"], dtype=torch.long, device=dev).view(a.batch, a.seq)
    labels = torch.full_like(ids, -100)
    labels.view(-1)[torch.tensor(fixed["positions"], device=dev)] = torch.tensor(fixed["labels"], device=dev)
else:
    ids = torch.randint(1000, 30000, (a.batch, a.seq), device=dev)
    labels = torch.full_like(ids, -100)
    slot0 = a.seq - a.slot - 1
    # about half of the slot masked, as the IMR objective's average ratio
    sel = torch.rand(a.batch, a.slot, device=dev) < 0.55
    labels[:, slot0:slot0 + a.slot][sel] = ids[:, slot0:slot0 + a.slot][sel]
mask = torch.ones_like(ids)

def step():
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return out.loss

for _ in range(a.warmup):
    step()
torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.steps):
    loss = step()
torch.cuda.synchronize()
dt = time.perf_counter() - t0
print(json.dumps({"reference": "transformers DistilBertForMaskedLM eager bf16 autocast", "batch": a.batch, "seq": a.seq,
                  "masked": int((labels != -100).sum()), "steps": a.steps, "seconds": dt,
                  "tokens_per_second": a.batch * a.seq * a.steps / dt, "ms_per_step": dt * 1e3 / a.steps, "loss": float(loss),
                  "device": torch.cuda.get_device_name(), "torch": torch.__version__}))
