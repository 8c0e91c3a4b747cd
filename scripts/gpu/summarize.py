#!/usr/bin/env python3
"""Markdown tables for scripts/gpu/core.sh's summary, from the benches' outputs (standard library
only: runs on the CPU machine's dry run too). A missing or unreadable side shows as "-".
  summarize.py generate BENCH_GENERATE_MD HF_GENERATE_JSONL   ChatBERT-IMR vs transformers, per batch
  summarize.py train CHATBERT_JSON HF_JSON                     training tokens/s on the same batch
"""
import json, sys


def json_lines(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return rows


def md_table(path, must_have):
    """The first Markdown table of the file whose header has all of must_have, as a list of dicts."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and all(m in cells for m in must_have):
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append(dict(zip(cells, [c.strip() for c in body.strip().strip("|").split("|")])))
            return rows
    return []


def num(x):
    try:
        return float(str(x).replace(",", ""))
    except (TypeError, ValueError):
        return None


def fmt(x, digits=2):
    return "-" if x is None else f"{x:,.{digits}f}"


def generate(bench_md, hf_jsonl):
    ours = md_table(bench_md, ["batch", "loop", "ms / reply"])
    hf = {int(r["batch"]): r for r in json_lines(hf_jsonl) if "batch" in r}
    print("IMR generation, 10 iterations, response 32, context 128 (ms per reply; speedup = transformers / ChatBERT)")
    print()
    print("| batch | ChatBERT loop | ChatBERT ms / reply | ChatBERT replies / s | transformers eager ms / reply | speedup |")
    print("|---:|---|---:|---:|---:|---:|")
    batches = sorted({int(num(r["batch"])) for r in ours if num(r.get("batch")) is not None} | set(hf))
    for b in batches:
        mine = [r for r in ours if num(r.get("batch")) == b] or [{}]
        ref = num(hf.get(b, {}).get("ms_per_reply"))
        for r in mine:
            ms = num(r.get("ms / reply"))
            speed = ref / ms if ref and ms else None
            print(f"| {b} | {r.get('loop', '-')} | {fmt(ms)} | {r.get('replies / s', '-')} | {fmt(ref)} | {fmt(speed, 1)}{'x' if speed else ''} |")


def train(ours_json, hf_json):
    ours = (json_lines(ours_json) or [{}])[-1]
    hf = (json_lines(hf_json) or [{}])[-1]
    print("Training throughput on the same batch (tokens/s = batch x seq x timed steps / seconds)")
    print()
    print("| side | batch x seq | masked | steps | ms / step | tokens / s | vs transformers |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ref = num(hf.get("tokens_per_second"))
    for name, r in (("ChatBERT MlmTrainer", ours), ("transformers DistilBertForMaskedLM", hf)):
        tps = num(r.get("tokens_per_second"))
        ratio = tps / ref if tps and ref else None
        shape = f"{r['batch']} x {r['seq']}" if "batch" in r else "-"
        print(f"| {name} ({r.get('device', '-')}) | {shape} | {r.get('masked', '-')} | {r.get('steps', '-')} | {fmt(num(r.get('ms_per_step')), 1)} | "
              f"{fmt(tps, 0)} | {fmt(ratio, 2)}{'x' if ratio else ''} |")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("generate", "train"):
        sys.exit(__doc__)
    {"generate": generate, "train": train}[sys.argv[1]](sys.argv[2], sys.argv[3])
