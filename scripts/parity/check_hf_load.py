#!/usr/bin/env python3
"""Check that Hugging Face transformers loads a checkpoint folder written by ChatBERT and reproduces the parity
fixture's logits.

    python scripts/parity/check_hf_load.py DIR [--fixture test/fixtures/parity] [--device cuda] [--tol 1e-4]

DIR is loaded with DistilBertForMaskedLM.from_pretrained, run on the fixture's inputs.json, and its logits are
compared with the fixture's expected.safetensors over every position. Key problems transformers reports
(missing, unexpected, mismatched) are printed. The last line is PASS or FAIL with the max abs difference; the
exit status is 0 only on PASS. Needs transformers (the GPU machine); DIR may also be the fixture folder itself.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixture import param_specs, read_safetensors  # noqa: E402  (same folder; no transformers needed)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_FIXTURE = os.path.join(REPO_ROOT, "test", "fixtures", "parity")
TIED = "vocab_projector.weight"


def fail(message, code=1):
    print(f"FAIL {message}")
    sys.exit(code)


def check_checkpoint_tensors(ckpt_dir):
    """Our own look at DIR/model.safetensors, independent of what transformers reports: which HF tensor names are
    missing or extra, and which dtypes are stored. Returns the list of missing names (None if not checked)."""
    path = os.path.join(ckpt_dir, "model.safetensors")
    cfg_path = os.path.join(ckpt_dir, "config.json")
    if not os.path.isfile(path):
        print(f"note: no {path} (sharded or other format); tensor names not checked here")
        return None
    with open(cfg_path, encoding="utf-8") as f:
        conf = json.load(f)
    try:
        cfg = {k: conf[k] for k in ("vocab_size", "dim", "hidden_dim", "n_layers", "max_position_embeddings")}
    except KeyError as exc:
        print(f"note: {cfg_path} lacks {exc}; tensor names not checked here")
        return None
    tensors, metadata = read_safetensors(path)
    wanted = {name: shape for name, shape in param_specs(cfg)}
    missing = sorted(set(wanted) - set(tensors))
    extra = sorted(set(tensors) - set(wanted) - {TIED})
    wrong_shape = sorted(n for n in set(wanted) & set(tensors) if tuple(tensors[n].shape) != tuple(wanted[n]))
    dtypes = sorted({str(a.dtype) for a in tensors.values()})
    print(
        f"checkpoint model.safetensors: {len(tensors)} tensors, dtypes {dtypes}, metadata {metadata}, "
        f"tied {TIED} {'present' if TIED in tensors else 'absent'}"
    )
    if missing:
        print(f"checkpoint is missing tensors: {missing}")
    if extra:
        print(f"checkpoint has extra tensors: {extra}")
    if wrong_shape:
        print(f"checkpoint tensors with unexpected shapes: {[(n, tensors[n].shape) for n in wrong_shape]}")
    return missing + wrong_shape


def main():
    ap = argparse.ArgumentParser(description="Load a ChatBERT-written checkpoint with transformers and compare with the parity fixture.")
    ap.add_argument("dir", help="checkpoint folder (config.json + model.safetensors)")
    ap.add_argument("--fixture", default=DEFAULT_FIXTURE, help="parity fixture folder (default: test/fixtures/parity)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs difference allowed on logits (default 1e-4)")
    args = ap.parse_args()

    try:
        import transformers
        from transformers import DistilBertForMaskedLM
    except Exception as exc:
        fail(f"cannot import transformers: {exc}")

    # TF32 matmuls would add about 1e-3 relative error; the expected values are float64-exact.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, device {device}{gpu}")

    with open(os.path.join(args.fixture, "inputs.json"), encoding="utf-8") as f:
        inputs = json.load(f)
    expected, _ = read_safetensors(os.path.join(args.fixture, "expected.safetensors"))
    input_ids = torch.tensor(inputs["input_ids"], dtype=torch.long)
    attention_mask = torch.tensor(inputs["attention_mask"], dtype=torch.long)
    want_logits = torch.from_numpy(expected["logits"]).to(torch.float64)

    bad_tensors = check_checkpoint_tensors(args.dir)

    # Ask for float32 explicitly: transformers 5 defaults to dtype="auto". The keyword was torch_dtype before 4.56.
    version = tuple(int(p) for p in transformers.__version__.split(".")[:2] if p.isdigit())
    dtype_kw = {"dtype": torch.float32} if version >= (4, 56) else {"torch_dtype": torch.float32}
    try:
        loaded = DistilBertForMaskedLM.from_pretrained(args.dir, output_loading_info=True, **dtype_kw)
    except Exception as exc:
        fail(f"transformers could not load {args.dir}: {type(exc).__name__}: {exc}")
    model, info = loaded if isinstance(loaded, tuple) else (loaded, {})
    model = model.to(device).eval()

    word = model.distilbert.embeddings.word_embeddings.weight
    tied = model.vocab_projector.weight.shape == word.shape and torch.equal(model.vocab_projector.weight, word)
    problems = []
    for key, value in (info or {}).items():
        items = sorted(str(v) for v in value) if isinstance(value, (list, set, tuple)) else ([str(value)] if value else [])
        if key == "missing_keys" and tied:
            items = [k for k in items if k != TIED]  # a tied weight absent from the file is expected
        if items:
            print(f"transformers reported {key}: {items}")
            if key in ("missing_keys", "mismatched_keys", "error_msgs"):
                problems.append(key)
    if not tied:
        print(f"note: {TIED} is not equal to the word embeddings after loading (weights not tied)")
    if bad_tensors:
        problems.append("checkpoint tensors missing or misshapen")

    with torch.no_grad():
        ids, mask = input_ids.to(device), attention_mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits.to(torch.float64).cpu()
        hidden = model.distilbert(input_ids=ids, attention_mask=mask)[0].to(torch.float64).cpu()

    if logits.shape != want_logits.shape:
        fail(f"logits shape {list(logits.shape)} != expected {list(want_logits.shape)} (dir={args.dir}); {', '.join(problems)}")
    diff = (logits - want_logits).abs()
    max_diff = float(diff.max())
    real = attention_mask.bool()
    max_diff_real = float(diff[real].max())
    hidden_diff = float((hidden - torch.from_numpy(expected["last_hidden_state"]).to(torch.float64)).abs().max())
    finite = bool(torch.isfinite(logits).all())
    ok = finite and max_diff < args.tol and not problems
    summary = (
        f"max_abs_diff={max_diff:.3e} tol={args.tol:g} (real positions {max_diff_real:.3e}, "
        f"last_hidden_state {hidden_diff:.3e}) dir={args.dir} device={device}"
    )
    if not finite:
        summary += " non-finite logits"
    if problems:
        summary += f" problems: {', '.join(problems)}"
    print(("PASS " if ok else "FAIL ") + summary)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
