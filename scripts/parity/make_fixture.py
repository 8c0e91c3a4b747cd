#!/usr/bin/env python3
"""Make the DistilBertForMaskedLM parity fixture that ChatBERT's LibTorch model is tested against.

The fixture folder holds a tiny random DistilBERT checkpoint (config.json, model.safetensors, vocab.txt),
a padded input batch (inputs.json), and the reference outputs (expected.safetensors: `logits` [B,S,V] and
`last_hidden_state` [B,S,dim], float32), plus meta.json saying how they were made.

Two references compute the expected outputs:
  * transformers: Hugging Face's own DistilBertForMaskedLM (used by default when `import transformers` works);
  * builtin:      a pure-PyTorch re-implementation of HF's inference path in this file, for machines without
                  transformers. It writes the same tensor names, a config.json like HF's, and a safetensors file
                  with its own small writer.

Weights and inputs come from numpy's legacy RandomState, whose stream is frozen across numpy versions, so both
references (on any machine) produce bit-identical weights and inputs for the same --vocab-size/--seed. That is
what lets `--cross-check --compare-to test/fixtures/parity` on a transformers machine validate the committed,
builtin-made fixture.

Run with --self-test to check the builtin reference against itself and against torch.nn.TransformerEncoderLayer,
and to see which common implementation mistakes the fixture would catch.
"""

import argparse
import itertools
import json
import math
import os
import platform
import struct
import sys

import numpy as np
import torch

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))

# Shape of the test model; only the vocabulary size and the kind of position embeddings vary.
DIM, N_LAYERS, N_HEADS, HIDDEN_DIM, MAX_POS = 64, 2, 4, 256, 64

# The input batch: 3 rows padded to 12, real lengths 12, 7 and 3 (padding is at the end, as HF tokenizers do).
SEQ_LEN = 12
ROW_LENGTHS = [12, 7, 3]
MASK_POSITIONS = {0: [3, 8], 1: [2]}  # where [MASK] goes, per row
UNK_POSITIONS = {1: [4]}  # one [UNK], so special ids other than CLS/SEP/MASK appear too

LN_EPS = 1e-12  # HF DistilBERT uses 1e-12 for every LayerNorm (LibTorch's default would be 1e-5)

# Tolerances. Cross-check: HF float32 vs builtin float64 on the same weights. Self-test: float64 vs float64.
CROSS_CHECK_TOL = 1e-5
SELF_TOL = 1e-6
COMPARE_TOL = 1e-5


# --------------------------------------------------------------------------------------------------------------
# Configuration


def model_config(vocab_size, sinusoidal):
    """The DistilBertConfig keyword arguments for the test model."""
    return dict(
        vocab_size=vocab_size,
        dim=DIM,
        n_layers=N_LAYERS,
        n_heads=N_HEADS,
        hidden_dim=HIDDEN_DIM,
        max_position_embeddings=MAX_POS,
        sinusoidal_pos_embds=bool(sinusoidal),
        dropout=0.1,
        attention_dropout=0.1,
        pad_token_id=PAD_ID,
    )


def hf_config_json(cfg):
    """What transformers' save_pretrained writes to config.json for this config (minus transformers_version).

    tie_word_embeddings is the PretrainedConfig default, so HF itself leaves it out; it is written here anyway
    because model.safetensors has no vocab_projector.weight and a reader must know to tie it.
    """
    return {
        "activation": "gelu",
        "architectures": ["DistilBertForMaskedLM"],
        "attention_dropout": cfg["attention_dropout"],
        "dim": cfg["dim"],
        "dropout": cfg["dropout"],
        "dtype": "float32",
        "hidden_dim": cfg["hidden_dim"],
        "initializer_range": 0.02,
        "max_position_embeddings": cfg["max_position_embeddings"],
        "model_type": "distilbert",
        "n_heads": cfg["n_heads"],
        "n_layers": cfg["n_layers"],
        "pad_token_id": cfg["pad_token_id"],
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": cfg["sinusoidal_pos_embds"],
        "tie_weights_": True,
        "tie_word_embeddings": True,
        "vocab_size": cfg["vocab_size"],
    }


def param_specs(cfg):
    """(name, shape) of every tensor HF saves for DistilBertForMaskedLM, in module order.

    vocab_projector.weight is absent on purpose: it is tied to the word embeddings and HF does not save it.
    """
    D, F, V = cfg["dim"], cfg["hidden_dim"], cfg["vocab_size"]
    specs = [
        ("distilbert.embeddings.word_embeddings.weight", (V, D)),
        ("distilbert.embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], D)),
        ("distilbert.embeddings.LayerNorm.weight", (D,)),
        ("distilbert.embeddings.LayerNorm.bias", (D,)),
    ]
    for i in range(cfg["n_layers"]):
        pre = f"distilbert.transformer.layer.{i}."
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            specs += [(pre + f"attention.{lin}.weight", (D, D)), (pre + f"attention.{lin}.bias", (D,))]
        specs += [(pre + "sa_layer_norm.weight", (D,)), (pre + "sa_layer_norm.bias", (D,))]
        specs += [(pre + "ffn.lin1.weight", (F, D)), (pre + "ffn.lin1.bias", (F,))]
        specs += [(pre + "ffn.lin2.weight", (D, F)), (pre + "ffn.lin2.bias", (D,))]
        specs += [(pre + "output_layer_norm.weight", (D,)), (pre + "output_layer_norm.bias", (D,))]
    specs += [
        ("vocab_transform.weight", (D, D)),
        ("vocab_transform.bias", (D,)),
        ("vocab_layer_norm.weight", (D,)),
        ("vocab_layer_norm.bias", (D,)),
        ("vocab_projector.bias", (V,)),
    ]
    return specs


# --------------------------------------------------------------------------------------------------------------
# Weights, vocabulary, inputs


def sinusoidal_table(n_pos, dim):
    """HF's create_sinusoidal_embeddings, computed the same way (float64 numpy, then rounded to float32)."""
    position_enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = np.zeros((n_pos, dim), dtype=np.float32)
    out[:, 0::2] = np.sin(position_enc[:, 0::2])
    out[:, 1::2] = np.cos(position_enc[:, 1::2])
    return out


def _is_layer_norm(name):
    return "layernorm" in name.lower().replace("_", "")  # LayerNorm, sa_layer_norm, vocab_layer_norm, ...


def _init_std(name, shape):
    """Standard deviation for a weight; chosen so each part of the network visibly moves the logits.

    HF's own init (std 0.02, LayerNorm 1/0, biases 0) would leave biases and LayerNorm affine terms inert and
    attention nearly uniform, so a test could pass with those parts wrong.
    """
    if name.endswith("word_embeddings.weight") or name.endswith("position_embeddings.weight"):
        # Also the tied output projection. Logits get a std near 1: large enough that mistakes show in absolute
        # terms, small enough that float32 rounding (about 2e-6 here) stays well under the 1e-5 cross-check.
        return 0.12
    if name == "vocab_transform.weight":
        # Deliberately small: the vocab_layer_norm input then has a variance of about 2e-3, where LayerNorm eps 1e-5
        # instead of 1e-12 shifts the logits by far more than the test tolerance.
        return 0.01
    if name == "vocab_projector.bias":
        return 0.2
    if name.endswith(".bias"):
        return 0.05
    if _is_layer_norm(name) and name.endswith(".weight"):
        return 0.1  # around 1.0, see init_params
    fan_in = shape[1]
    if name.endswith(("q_lin.weight", "k_lin.weight")):
        # Attention scores of order 1: attention is peaked, so scale, mask and head-split mistakes show.
        return 1.0 / math.sqrt(fan_in)
    if name.endswith("lin1.weight"):
        # Pre-GELU values of order 1.5, where exact-erf and tanh-approximate GELU differ most.
        return 1.5 / math.sqrt(fan_in)
    return 1.0 / math.sqrt(fan_in)


def init_params(cfg, seed):
    """All saved tensors of the test model as float32 numpy arrays, keyed by HF name.

    numpy's RandomState is used (not torch's RNG) because its stream is frozen across versions, so every
    machine and both references get bit-identical weights.
    """
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in param_specs(cfg):
        noise = rng.normal(0.0, 1.0, size=shape)  # always drawn, so the --sinusoidal variant shares other weights
        std = _init_std(name, shape)
        if _is_layer_norm(name) and name.endswith(".weight"):
            value = 1.0 + std * noise
        else:
            value = std * noise
        params[name] = value.astype(np.float32)
    # HF keeps the padding_idx row of the word embeddings at zero (nn.Embedding(padding_idx=...) and _init_weights);
    # doing the same means nothing changes if a loader re-zeroes it.
    params["distilbert.embeddings.word_embeddings.weight"][cfg["pad_token_id"]] = 0.0
    if cfg["sinusoidal_pos_embds"]:
        params["distilbert.embeddings.position_embeddings.weight"] = sinusoidal_table(
            cfg["max_position_embeddings"], cfg["dim"]
        )
    return params


_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this from or had by not
word but what some we can out other were all there when up use your how said an each she which do their time if
will way about many then them write would like so these her long make thing see him two has look more day could
go come did number sound no most people my over know water than call first who may down side been now find any
new work part take get place made live where after back little only round man year came show every good me give
our under name very through just form sentence great think say help low line differ turn cause much mean before
move right boy old too same tell does set three want air well also play small end put home read hand port large
spell add even land here must big high such follow act why ask men change went light kind off need house picture
try us again animal point mother world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state keep eye never last let thought
city tree cross farm hard start might story saw far sea draw left late run while press close night real life few
north hello chat talk model question reply friend today happy
""".split()


def build_vocab(vocab_size):
    """A WordPiece-style vocabulary: special tokens at ids 0-4, then punctuation, digits, letters, ## pieces and
    lowercase words, padded with made-up syllable words (and some ## forms of them) up to vocab_size."""
    tokens = list(SPECIAL_TOKENS)
    tokens += list(".,!?'-:")
    tokens += [str(d) for d in range(10)]
    tokens += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##tion", "##ness", "##ment", "##able"]
    tokens += _WORDS
    seen = set()
    vocab = []
    for t in tokens:
        if t not in seen:
            seen.add(t)
            vocab.append(t)
    # Made-up lowercase words from consonant-vowel syllables (baba, babe, ...); every fourth also as a ## piece.
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    for n, parts in enumerate(itertools.chain(itertools.product(syllables, repeat=2), itertools.product(syllables, repeat=3))):
        if len(vocab) >= vocab_size:
            break
        word = "".join(parts)
        for t in (word, "##" + word) if n % 4 == 3 else (word,):
            if t not in seen:
                seen.add(t)
                vocab.append(t)
    return vocab[:vocab_size]


def make_inputs(vocab_size, seed):
    """The padded batch: int64 input_ids and attention_mask (1 = attend, 0 = pad), both [3, 12]."""
    rng = np.random.RandomState(seed + 1)  # separate stream from the weights
    batch = len(ROW_LENGTHS)
    input_ids = np.full((batch, SEQ_LEN), PAD_ID, dtype=np.int64)
    attention_mask = np.zeros((batch, SEQ_LEN), dtype=np.int64)
    for b, length in enumerate(ROW_LENGTHS):
        row = [CLS_ID] + list(rng.randint(len(SPECIAL_TOKENS), vocab_size, size=length - 2)) + [SEP_ID]
        for p in MASK_POSITIONS.get(b, []):
            row[p] = MASK_ID
        for p in UNK_POSITIONS.get(b, []):
            row[p] = UNK_ID
        input_ids[b, :length] = row
        attention_mask[b, :length] = 1
    return input_ids, attention_mask


# --------------------------------------------------------------------------------------------------------------
# safetensors (https://github.com/huggingface/safetensors#format), written by hand so no package is needed

_ST_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_NP_TO_ST = {np.dtype(v): k for k, v in _ST_DTYPES.items()}  # numpy dtype -> safetensors code


def write_safetensors(path, tensors, metadata=None):
    """8-byte little-endian header length, JSON header (keys sorted, data_offsets relative to the data area),
    padded with spaces to a multiple of 8 bytes, then each tensor's raw little-endian bytes in key order."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        code = _NP_TO_ST.get(arr.dtype)
        if code is None:
            raise ValueError(f"{name}: dtype {arr.dtype} has no safetensors code here")
        data = arr.tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        # transformers refuses safetensors whose metadata format is not one it knows; "pt" is what torch writers use
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Returns ({name: numpy array}, metadata or None). Handles the dtypes above plus BF16 (widened to float32)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buf = raw[base + start : base + end]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if info["dtype"] == "BF16":
            if len(buf) != 2 * count:
                raise ValueError(f"{path}: {name}: {len(buf)} bytes for shape {shape} BF16")
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            dt = np.dtype(_ST_DTYPES[info["dtype"]])
            if len(buf) != dt.itemsize * count:
                raise ValueError(f"{path}: {name}: {len(buf)} bytes for shape {shape} {info['dtype']}")
            arr = np.frombuffer(buf, dtype=dt)
        out[name] = arr.reshape(shape).copy()  # copy: writable, native byte order for torch.from_numpy
    return out, metadata


# --------------------------------------------------------------------------------------------------------------
# The builtin reference: HF DistilBertForMaskedLM inference (eval mode, so dropout is the identity)

MUTATIONS = {
    # name: what a buggy implementation would do; used only by --self-test to show what the fixture catches
    "ln_eps_1e-5": "LayerNorm eps 1e-5 (LibTorch default) instead of 1e-12",
    "gelu_tanh": "tanh-approximate GELU instead of exact erf GELU",
    "scale_by_dim": "attention scores divided by sqrt(dim) instead of sqrt(dim / n_heads)",
    "no_attention_mask": "attention mask ignored",
    "heads_no_transpose": "heads split/merged with a plain reshape (no transpose)",
    "no_projector_bias": "vocab_projector bias left out",
    "no_head_gelu": "GELU in the MLM head left out",
    "positions_from_1": "position ids start at 1 instead of 0",
    "no_embedding_layernorm": "embedding LayerNorm left out",
}


def builtin_forward(params, cfg, input_ids, attention_mask, dtype=torch.float64, mutations=()):
    """Returns (logits [B,S,V], last_hidden_state [B,S,dim]) as torch tensors of `dtype`.

    Written from HF's modeling_distilbert: embeddings = LayerNorm(word + position); per layer
    x = sa_layer_norm(out_lin(attention(x)) + x); x = output_layer_norm(lin2(gelu(lin1(x))) + x);
    MLM head = vocab_projector(vocab_layer_norm(gelu(vocab_transform(x)))), projector weight = word embeddings.
    `mutations` (names from MUTATIONS) deliberately break it, for the self-test only.
    """
    unknown = set(mutations) - set(MUTATIONS)
    if unknown:
        raise ValueError(f"unknown mutations {sorted(unknown)}")
    mut = set(mutations)
    p = {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in params.items()}
    ids = torch.as_tensor(np.asarray(input_ids), dtype=torch.long)
    keep = torch.as_tensor(np.asarray(attention_mask)) != 0  # True = real token; HF masks keys where mask == 0
    B, S = ids.shape
    D, H = cfg["dim"], cfg["n_heads"]
    dh = D // H
    eps = 1e-5 if "ln_eps_1e-5" in mut else LN_EPS

    def layer_norm(x, name):
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased variance, as torch.nn.LayerNorm
        return (x - mean) / torch.sqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]

    def linear(x, name):
        return x @ p[name + ".weight"].t() + p[name + ".bias"]  # torch Linear weights are [out, in]

    def gelu(x):
        if "gelu_tanh" in mut:
            return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # HF "gelu" = exact erf form

    def split_heads(t):  # [B,S,D] -> [B,H,S,dh]
        if "heads_no_transpose" in mut:
            return t.reshape(B, H, S, dh)
        return t.view(B, S, H, dh).transpose(1, 2)

    def merge_heads(t):  # [B,H,S,dh] -> [B,S,D]
        if "heads_no_transpose" in mut:
            return t.reshape(B, S, D)
        return t.transpose(1, 2).reshape(B, S, D)

    # Embeddings: position ids are 0..S-1 for every row (HF's position_ids buffer), whatever the padding.
    start = 1 if "positions_from_1" in mut else 0
    x = p["distilbert.embeddings.word_embeddings.weight"][ids]
    x = x + p["distilbert.embeddings.position_embeddings.weight"][start : start + S].unsqueeze(0)
    if "no_embedding_layernorm" not in mut:
        x = layer_norm(x, "distilbert.embeddings.LayerNorm")

    for i in range(cfg["n_layers"]):
        pre = f"distilbert.transformer.layer.{i}."
        q = split_heads(linear(x, pre + "attention.q_lin"))
        k = split_heads(linear(x, pre + "attention.k_lin"))
        v = split_heads(linear(x, pre + "attention.v_lin"))
        scale = math.sqrt(D if "scale_by_dim" in mut else dh)
        scores = (q @ k.transpose(-1, -2)) / scale  # [B,H,S,S]
        if "no_attention_mask" not in mut:
            # HF fills masked keys with the dtype's most negative value before softmax (not -inf, not -10000)
            scores = scores.masked_fill(~keep[:, None, None, :], torch.finfo(dtype).min)
        weights = torch.softmax(scores, dim=-1)
        attn = linear(merge_heads(weights @ v), pre + "attention.out_lin")
        x = layer_norm(attn + x, pre + "sa_layer_norm")
        ffn = linear(gelu(linear(x, pre + "ffn.lin1")), pre + "ffn.lin2")
        x = layer_norm(ffn + x, pre + "output_layer_norm")
    hidden = x

    h = linear(hidden, "vocab_transform")
    if "no_head_gelu" not in mut:
        h = gelu(h)
    h = layer_norm(h, "vocab_layer_norm")
    logits = h @ p["distilbert.embeddings.word_embeddings.weight"].t()  # tied vocab_projector.weight
    if "no_projector_bias" not in mut:
        logits = logits + p["vocab_projector.bias"]
    return logits, hidden


def torch_layers_forward(params, cfg, input_ids, attention_mask, dtype=torch.float64):
    """An independent second implementation for the self-test: the encoder layers are
    torch.nn.TransformerEncoderLayer (post-LN, exact GELU, per-head scaling by sqrt(head_dim)), which computes the
    same function as a DistilBERT block; LayerNorm and GELU come from torch.nn.functional."""
    D, H, F = cfg["dim"], cfg["n_heads"], cfg["hidden_dim"]
    t = {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in params.items()}
    ids = torch.as_tensor(np.asarray(input_ids), dtype=torch.long)
    pad = torch.as_tensor(np.asarray(attention_mask)) == 0  # key_padding_mask: True = ignore
    S = ids.shape[1]
    x = t["distilbert.embeddings.word_embeddings.weight"][ids] + t["distilbert.embeddings.position_embeddings.weight"][:S]
    x = torch.nn.functional.layer_norm(
        x, (D,), t["distilbert.embeddings.LayerNorm.weight"], t["distilbert.embeddings.LayerNorm.bias"], LN_EPS
    )
    # Grad stays enabled and parameters require grad so PyTorch takes the plain (not the "fast path") code,
    # which treats padded query rows exactly like HF does.
    for i in range(cfg["n_layers"]):
        pre = f"distilbert.transformer.layer.{i}."
        layer = torch.nn.TransformerEncoderLayer(
            D, H, dim_feedforward=F, dropout=0.0, activation="gelu", layer_norm_eps=LN_EPS, batch_first=True,
            norm_first=False,
        ).to(dtype)
        layer.eval()
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(
                torch.cat([t[pre + f"attention.{n}.weight"] for n in ("q_lin", "k_lin", "v_lin")], dim=0)
            )
            layer.self_attn.in_proj_bias.copy_(
                torch.cat([t[pre + f"attention.{n}.bias"] for n in ("q_lin", "k_lin", "v_lin")], dim=0)
            )
            layer.self_attn.out_proj.weight.copy_(t[pre + "attention.out_lin.weight"])
            layer.self_attn.out_proj.bias.copy_(t[pre + "attention.out_lin.bias"])
            layer.linear1.weight.copy_(t[pre + "ffn.lin1.weight"])
            layer.linear1.bias.copy_(t[pre + "ffn.lin1.bias"])
            layer.linear2.weight.copy_(t[pre + "ffn.lin2.weight"])
            layer.linear2.bias.copy_(t[pre + "ffn.lin2.bias"])
            layer.norm1.weight.copy_(t[pre + "sa_layer_norm.weight"])
            layer.norm1.bias.copy_(t[pre + "sa_layer_norm.bias"])
            layer.norm2.weight.copy_(t[pre + "output_layer_norm.weight"])
            layer.norm2.bias.copy_(t[pre + "output_layer_norm.bias"])
        x = layer(x, src_key_padding_mask=pad)
    hidden = x.detach()
    h = torch.nn.functional.linear(hidden, t["vocab_transform.weight"], t["vocab_transform.bias"])
    h = torch.nn.functional.gelu(h)
    h = torch.nn.functional.layer_norm(h, (D,), t["vocab_layer_norm.weight"], t["vocab_layer_norm.bias"], LN_EPS)
    logits = torch.nn.functional.linear(h, t["distilbert.embeddings.word_embeddings.weight"], t["vocab_projector.bias"])
    return logits, hidden


# --------------------------------------------------------------------------------------------------------------
# The transformers reference


def have_transformers():
    try:
        import transformers  # noqa: F401
    except Exception:
        return False
    return True


def build_hf_model(cfg, params, seed):
    """A transformers DistilBertForMaskedLM with exactly `params` loaded, in eval mode, float32."""
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(seed)
    model = DistilBertForMaskedLM(DistilBertConfig(**cfg))
    state = {k: torch.from_numpy(np.asarray(v).copy()) for k, v in params.items()}
    # Pass the tied weight too, so the values are right whether or not this version ties by sharing the tensor.
    state["vocab_projector.weight"] = state["distilbert.embeddings.word_embeddings.weight"].clone()
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]  # non-persistent buffer
    if missing or result.unexpected_keys:
        raise SystemExit(
            f"transformers' DistilBertForMaskedLM does not have the tensor names this script uses: "
            f"missing={missing} unexpected={list(result.unexpected_keys)}"
        )
    model.eval()
    word = model.distilbert.embeddings.word_embeddings.weight
    if not torch.equal(model.vocab_projector.weight, word):
        raise SystemExit("vocab_projector.weight is not equal to the word embeddings after loading")
    return model


def hf_forward(model, input_ids, attention_mask):
    """(logits, last_hidden_state) from a transformers model on CPU, in the model's dtype."""
    ids = torch.as_tensor(np.asarray(input_ids), dtype=torch.long)
    mask = torch.as_tensor(np.asarray(attention_mask), dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        hidden = model.distilbert(input_ids=ids, attention_mask=mask)[0]
    return logits, hidden


def hf_forward_float64(model, input_ids, attention_mask):
    """The same model run in float64 (a copy); None, with the reason printed, if this version cannot."""
    import copy

    try:
        model64 = copy.deepcopy(model).to(torch.float64)
        return hf_forward(model64, input_ids, attention_mask)
    except Exception as exc:  # keep going in float32 rather than fail an unattended run
        print(f"note: transformers model could not run in float64 ({type(exc).__name__}: {exc})")
        return None


def save_hf(model, out_dir):
    """save_pretrained as safetensors; transformers 5 removed the safe_serialization argument (always on)."""
    import inspect

    kwargs = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    model.save_pretrained(out_dir, **kwargs)


def check_saved_weights(out_dir, cfg, params):
    """The file transformers wrote must hold exactly the builtin's tensor names and values (this is what pins the
    builtin writer's names to HF's); a saved tied vocab_projector.weight is allowed."""
    saved, _ = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    expected = {name for name, _ in param_specs(cfg)}
    extra = set(saved) - expected
    missing = expected - set(saved)
    if "vocab_projector.weight" in extra:
        print("note: transformers saved vocab_projector.weight (tied); the builtin writer leaves it out")
        if not np.array_equal(saved["vocab_projector.weight"], params["distilbert.embeddings.word_embeddings.weight"]):
            raise SystemExit("saved vocab_projector.weight differs from the word embeddings")
        extra.discard("vocab_projector.weight")
    if extra or missing:
        raise SystemExit(f"transformers saved different tensor names: extra={sorted(extra)} missing={sorted(missing)}")
    for name in expected:
        if saved[name].dtype != np.float32 or not np.array_equal(saved[name], params[name]):
            raise SystemExit(f"transformers saved {name} with other values or dtype ({saved[name].dtype})")
    print(f"ok: transformers' model.safetensors has the builtin's {len(expected)} tensor names and identical values")


def max_abs(a, b):
    a = a.detach().to(torch.float64).cpu() if torch.is_tensor(a) else torch.from_numpy(np.asarray(a, np.float64))
    b = b.detach().to(torch.float64).cpu() if torch.is_tensor(b) else torch.from_numpy(np.asarray(b, np.float64))
    return float((a - b).abs().max())


def cross_check(cfg, params, input_ids, attention_mask, seed, hf_model=None):
    """transformers vs builtin on the same weights; exits non-zero if any difference reaches CROSS_CHECK_TOL."""
    import transformers

    model = hf_model if hf_model is not None else build_hf_model(cfg, params, seed)
    ref_logits, ref_hidden = builtin_forward(params, cfg, input_ids, attention_mask)
    failures = []
    runs = [("float32", hf_forward(model, input_ids, attention_mask))]
    out64 = hf_forward_float64(model, input_ids, attention_mask)
    if out64 is not None:
        runs.append(("float64", out64))
    for label, (logits, hidden) in runs:
        d_logits, d_hidden = max_abs(logits, ref_logits), max_abs(hidden, ref_hidden)
        ok = d_logits < CROSS_CHECK_TOL and d_hidden < CROSS_CHECK_TOL
        print(
            f"cross-check transformers {transformers.__version__} {label} vs builtin float64: "
            f"logits max|diff|={d_logits:.3e}  last_hidden_state max|diff|={d_hidden:.3e}  "
            f"(tol {CROSS_CHECK_TOL:g}) {'ok' if ok else 'FAILED'}"
        )
        if not ok:
            failures.append(label)
    if failures:
        raise SystemExit(f"cross-check FAILED ({', '.join(failures)})")
    print("cross-check passed")


# --------------------------------------------------------------------------------------------------------------
# Self-test of the builtin reference


def self_test(cfg, params, input_ids, attention_mask, seed):
    """Checks the builtin reference for internal consistency and against torch.nn.TransformerEncoderLayer, then
    reports how much each common mistake moves the logits. Exits non-zero on a consistency failure."""
    failures = []

    def check(label, value, tol):
        ok = value < tol
        print(f"self-test {label}: {value:.3e} (tol {tol:g}) {'ok' if ok else 'FAILED'}")
        if not ok:
            failures.append(label)

    logits, hidden = builtin_forward(params, cfg, input_ids, attention_mask)
    logits2, hidden2 = builtin_forward(params, cfg, input_ids, attention_mask)
    again = init_params(cfg, seed)
    same_weights = all(np.array_equal(again[k], params[k]) for k in params)
    deterministic = torch.equal(logits, logits2) and torch.equal(hidden, hidden2) and same_weights
    print(f"self-test deterministic weights and outputs: {'ok' if deterministic else 'FAILED'}")
    if not deterministic:
        failures.append("determinism")

    # A padded row's real positions must equal the same row run alone without padding.
    lengths = np.asarray(attention_mask).sum(axis=1)
    worst = 0.0
    for b, length in enumerate(lengths):
        if length == input_ids.shape[1]:
            continue
        ids_b = input_ids[b : b + 1, :length]
        l_b, h_b = builtin_forward(params, cfg, ids_b, np.ones_like(ids_b))
        worst = max(worst, max_abs(l_b[0], logits[b, :length]), max_abs(h_b[0], hidden[b, :length]))
    check("padded rows vs same rows unpadded (max|diff|)", worst, SELF_TOL)

    # What sits in padded positions must not matter to real positions.
    keep_np = np.asarray(attention_mask) != 0
    keep = torch.from_numpy(keep_np)
    scrambled = np.where(keep_np, input_ids, np.random.RandomState(seed + 2).randint(0, cfg["vocab_size"], input_ids.shape))
    l_s, _ = builtin_forward(params, cfg, scrambled, attention_mask)
    check("other token ids in padded positions (max|diff| at real positions)", max_abs(l_s[keep], logits[keep]), SELF_TOL)

    # Each row alone (still padded) equals its row in the batch: no mixing across the batch.
    worst = 0.0
    for b in range(input_ids.shape[0]):
        l_b, _ = builtin_forward(params, cfg, input_ids[b : b + 1], attention_mask[b : b + 1])
        worst = max(worst, max_abs(l_b[0], logits[b]))
    check("rows run one at a time vs batched (max|diff|)", worst, SELF_TOL)

    # A second implementation built from torch.nn.TransformerEncoderLayer.
    t_logits, t_hidden = torch_layers_forward(params, cfg, input_ids, attention_mask)
    check(
        "torch.nn.TransformerEncoderLayer implementation (max|diff|, all positions)",
        max(max_abs(t_logits, logits), max_abs(t_hidden, hidden)),
        1e-9,
    )

    # float32 noise must sit well below the consumers' tolerance (1e-4) and the cross-check's (1e-5).
    l32, h32 = builtin_forward(params, cfg, input_ids, attention_mask, dtype=torch.float32)
    check("builtin float32 vs float64 (max|diff|)", max(max_abs(l32, logits), max_abs(h32, hidden)), CROSS_CHECK_TOL)

    print(
        f"logits: mean {float(logits.mean()):+.3f} std {float(logits.std()):.3f} "
        f"max|x| {float(logits.abs().max()):.3f}; last_hidden_state std {float(hidden.std()):.3f}"
    )
    print("what the fixture catches (max|diff| of logits at real positions; the tests' tolerance is 1e-4):")
    for name, what in MUTATIONS.items():
        l_m, _ = builtin_forward(params, cfg, input_ids, attention_mask, mutations=[name])
        d = max_abs(l_m[keep], logits[keep])
        verdict = "caught" if d > 1e-3 else ("barely caught" if d > 1e-4 else "NOT caught")
        print(f"  {d:9.3e}  {verdict:13s}  {what}")

    if failures:
        raise SystemExit(f"self-test FAILED: {', '.join(failures)}")
    print("self-test passed")


# --------------------------------------------------------------------------------------------------------------
# Writing and comparing fixtures


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_inputs(path, input_ids, attention_mask):
    """inputs.json with one row per line, so diffs stay readable."""

    def rows(a):
        return "[\n" + ",\n".join("    " + json.dumps([int(x) for x in r]) for r in a) + "\n  ]"

    with open(path, "w", encoding="utf-8") as f:
        f.write('{\n  "input_ids": ' + rows(input_ids) + ',\n  "attention_mask": ' + rows(attention_mask) + "\n}\n")


def compare_fixture(new_dir, old_dir):
    """Checks a freshly made fixture against another one (e.g. the committed, builtin-made one): identical
    weights, inputs and vocabulary, expected outputs within COMPARE_TOL. Exits non-zero on a mismatch."""
    problems = []
    new_w, _ = read_safetensors(os.path.join(new_dir, "model.safetensors"))
    old_w, _ = read_safetensors(os.path.join(old_dir, "model.safetensors"))
    tied = "vocab_projector.weight"
    names_new, names_old = set(new_w) - {tied}, set(old_w) - {tied}
    if names_new != names_old:
        problems.append(f"tensor names differ: only new {sorted(names_new - names_old)}, only old {sorted(names_old - names_new)}")
    for name in sorted(names_new & names_old):
        if new_w[name].shape != old_w[name].shape or not np.array_equal(new_w[name], old_w[name]):
            problems.append(f"weights differ: {name}")
    for fname in ("inputs.json", "vocab.txt"):
        with open(os.path.join(new_dir, fname), encoding="utf-8") as a, open(os.path.join(old_dir, fname), encoding="utf-8") as b:
            same = json.load(a) == json.load(b) if fname.endswith(".json") else a.read() == b.read()
        if not same:
            problems.append(f"{fname} differs")
    new_e, _ = read_safetensors(os.path.join(new_dir, "expected.safetensors"))
    old_e, _ = read_safetensors(os.path.join(old_dir, "expected.safetensors"))
    for name in ("logits", "last_hidden_state"):
        if new_e[name].shape != old_e[name].shape:
            problems.append(f"expected {name} shapes differ: {new_e[name].shape} vs {old_e[name].shape}")
            continue
        d = max_abs(new_e[name], old_e[name])
        print(f"compare {name}: max|diff| = {d:.3e} (tol {COMPARE_TOL:g})")
        if not d < COMPARE_TOL:
            problems.append(f"expected {name} differs by {d:.3e}")
    # config.json: reported, not enforced (transformers adds its version and may add keys over time).
    with open(os.path.join(new_dir, "config.json"), encoding="utf-8") as a, open(os.path.join(old_dir, "config.json"), encoding="utf-8") as b:
        cn, co = json.load(a), json.load(b)
    for key in sorted(set(cn) | set(co)):
        if key != "transformers_version" and cn.get(key, "<absent>") != co.get(key, "<absent>"):
            print(f"note: config.json {key}: new {cn.get(key, '<absent>')!r} vs old {co.get(key, '<absent>')!r}")
    if problems:
        raise SystemExit("compare FAILED against " + old_dir + ":\n  " + "\n  ".join(problems))
    print(f"compare: {new_dir} matches {old_dir}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="fixture folder to write (created if missing)")
    ap.add_argument(
        "--reference",
        choices=["transformers", "builtin"],
        default=None,
        help="what computes the expected outputs (default: transformers if it can be imported, else builtin)",
    )
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--sinusoidal", action="store_true", help="sinusoidal position embeddings (a variant fixture)")
    ap.add_argument("--cross-check", action="store_true", help="also run transformers and builtin on the same weights; fail if they differ by 1e-5 or more")
    ap.add_argument("--compare-to", metavar="DIR", help="then check the new fixture against the one in DIR (same weights/inputs, expected within 1e-5)")
    ap.add_argument("--self-test", action="store_true", help="check the builtin reference first (see self_test)")
    args = ap.parse_args(argv)

    if args.vocab_size < 100:
        ap.error("--vocab-size must be at least 100")
    reference = args.reference or ("transformers" if have_transformers() else "builtin")
    if (reference == "transformers" or args.cross_check) and not have_transformers():
        ap.error("transformers cannot be imported here; use --reference builtin without --cross-check")

    cfg = model_config(args.vocab_size, args.sinusoidal)
    params = init_params(cfg, args.seed)
    vocab = build_vocab(args.vocab_size)
    input_ids, attention_mask = make_inputs(args.vocab_size, args.seed)
    assert len(vocab) == args.vocab_size and len(set(vocab)) == len(vocab)
    assert vocab[:len(SPECIAL_TOKENS)] == SPECIAL_TOKENS

    if args.self_test:
        self_test(cfg, params, input_ids, attention_mask, args.seed)

    hf_model = None
    if reference == "transformers" or args.cross_check:
        hf_model = build_hf_model(cfg, params, args.seed)
    if args.cross_check:
        cross_check(cfg, params, input_ids, attention_mask, args.seed, hf_model)

    # Expected outputs come from a float64 run, so the reference itself adds no float32 rounding noise.
    os.makedirs(args.out, exist_ok=True)
    meta = {
        "reference": reference,
        "seed": args.seed,
        "vocab_size": args.vocab_size,
        "sinusoidal_pos_embds": bool(args.sinusoidal),
        "torch_version": torch.__version__,
        "transformers_version": None,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "stored_dtype": "float32",
        "weights": "numpy RandomState(seed), see init_params in scripts/parity/make_fixture.py",
        "inputs": "numpy RandomState(seed + 1); attention_mask 1 = attend, 0 = padding; padding id 0",
        "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)},
        "expected_covers": "every position, padded ones included (as HF computes them: pad queries attend to the real keys)",
        "command": " ".join(["scripts/parity/make_fixture.py"] + (argv if argv is not None else sys.argv[1:])),
    }
    if reference == "builtin":
        logits, hidden = builtin_forward(params, cfg, input_ids, attention_mask, dtype=torch.float64)
        meta["compute_dtype"] = "float64"
        write_safetensors(os.path.join(args.out, "model.safetensors"), params, metadata={"format": "pt"})
        write_json(os.path.join(args.out, "config.json"), hf_config_json(cfg))
    else:
        import transformers

        meta["transformers_version"] = transformers.__version__
        out64 = hf_forward_float64(hf_model, input_ids, attention_mask)
        if out64 is not None:
            logits, hidden = out64
            meta["compute_dtype"] = "float64"
        else:
            logits, hidden = hf_forward(hf_model, input_ids, attention_mask)
            meta["compute_dtype"] = "float32"
        save_hf(hf_model, args.out)
        check_saved_weights(args.out, cfg, params)

    expected = {
        "logits": logits.detach().cpu().to(torch.float32).numpy(),
        "last_hidden_state": hidden.detach().cpu().to(torch.float32).numpy(),
    }
    write_safetensors(os.path.join(args.out, "expected.safetensors"), expected, metadata={"format": "pt"})
    write_inputs(os.path.join(args.out, "inputs.json"), input_ids, attention_mask)
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    write_json(os.path.join(args.out, "meta.json"), meta)
    print(
        f"wrote {args.out}: reference={reference} ({meta['compute_dtype']}), V={args.vocab_size}, seed={args.seed}, "
        f"sinusoidal={bool(args.sinusoidal)}, logits {list(expected['logits'].shape)}"
    )

    if args.compare_to:
        compare_fixture(args.out, args.compare_to)


if __name__ == "__main__":
    main()
