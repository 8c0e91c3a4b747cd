#!/usr/bin/env python3
"""Reference IMR generation speed: Hugging Face DistilBertForMaskedLM, eager PyTorch, the
straightforward loop (full forward, softmax, max, topk per row, commit) — the baseline ChatBERT's
`npm run bench -- generate` is compared with. Context 128, response 32, 10 iterations, bf16.
Prints one JSON line per batch size. Runs on the GPU machine."""
import argparse, json, time

import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

p = argparse.ArgumentParser()
p.add_argument("--context", type=int, default=128)
p.add_argument("--length", type=int, default=32)
p.add_argument("--iterations", type=int, default=10)
p.add_argument("--batches", default="1,64")
p.add_argument("--repeats", type=int, default=20)
a = p.parse_args()

dev = "cuda"
torch.manual_seed(0)
model = DistilBertForMaskedLM(DistilBertConfig()).to(dev).eval().to(torch.bfloat16)
MASK = 103

@torch.no_grad()
def generate(ctx):
    B = ctx.shape[0]
    slot = torch.full((B, a.length), MASK, device=dev)
    ids = torch.cat([ctx, slot], 1)
    masked = torch.ones(B, a.length, dtype=torch.bool, device=dev)
    per_iter = [a.length * (i + 1) // a.iterations - a.length * i // a.iterations for i in range(a.iterations)]
    for it in range(a.iterations):
        logits = model(input_ids=ids).logits[:, -a.length:].float()
        probs = torch.softmax(logits, -1)
        conf, pred = probs.max(-1)
        conf = conf.masked_fill(~masked, -1.0)
        for b in range(B):
            k = per_iter[it]
            idx = torch.topk(conf[b], k).indices
            ids[b, ctx.shape[1] + idx] = pred[b, idx]
            masked[b, idx] = False
    return ids

for B in [int(x) for x in a.batches.split(",")]:
    ctx = torch.randint(1000, 30000, (B, a.context), device=dev)
    for _ in range(3):
        generate(ctx)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.repeats):
        generate(ctx)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / a.repeats
    print(json.dumps({"reference": "transformers eager bf16, straightforward IMR loop", "batch": B, "ms_per_call": dt * 1e3,
                      "ms_per_reply": dt * 1e3 / B, "replies_per_second": B / dt, "device": torch.cuda.get_device_name()}))
