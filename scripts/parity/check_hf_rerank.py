#!/usr/bin/env python3
"""Check that Hugging Face transformers reads a ChatBERT-RA cross-encoder as DistilBertForSequenceClassification
with one label and gives the scores ChatBERT gave.

    python scripts/parity/check_hf_rerank.py DIR [--device cuda] [--tol 1e-4]

DIR holds the checkpoint (config.json, model.safetensors) and scores.json written by ChatBERT:
{"inputs": [[ids...], ...], "scores": [...]}, one score per unpadded input. Each input is run alone (no padding),
in eval mode. The last line is PASS or FAIL with the max abs difference; the exit status is 0 only on PASS. Needs
transformers (the GPU machine).
"""

import argparse
import json
import os
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    from transformers import DistilBertForSequenceClassification

    model, info = DistilBertForSequenceClassification.from_pretrained(a.dir, num_labels=1, output_loading_info=True)
    missing = [k for k in info["missing_keys"] if k.startswith(("pre_classifier", "classifier", "distilbert."))]
    if missing:
        print(f"FAIL transformers found no weights for {missing}")
        sys.exit(1)
    model.to(a.device).eval()
    with open(os.path.join(a.dir, "scores.json")) as f:
        ref = json.load(f)
    worst = 0.0
    with torch.no_grad():
        for ids, want in zip(ref["inputs"], ref["scores"]):
            got = model(input_ids=torch.tensor([ids], device=a.device)).logits[0, 0].item()
            worst = max(worst, abs(got - want))
    print(f"{'PASS' if worst <= a.tol else 'FAIL'} {len(ref['scores'])} inputs, max abs difference {worst:.2e} (tol {a.tol:g})")
    sys.exit(0 if worst <= a.tol else 1)


if __name__ == "__main__":
    main()
