"""hfref: reference PyTorch models in the Hugging Face BERT / ESM layout.

Offline only; needs nothing but Debian's python3-torch and python3-numpy (no
transformers, no safetensors package).  Provides:

- st_save / st_load: the safetensors format, written and read from its
  specification (8-byte little-endian header length, JSON header padded with
  spaces to a multiple of 8, then the tensors' bytes, C order, little-endian).
- BertForMaskedLM, BertForSequenceClassification, EsmForMaskedLM,
  EsmForSequenceClassification (and the bare BertModel / EsmModel): torch.nn
  modules whose attribute names reproduce Hugging Face's, so state_dict()
  keys are the tensor names of published checkpoints.  Their forward follows
  transformers' modeling_bert.py / modeling_esm.py (and Nucleotide
  Transformer v2's custom gated feed-forward).
- vocabularies for the three DNA tokenizer families and reference tokenizers
  that follow the published rules (see docs/model.md).
- save_hf(): a model directory (config.json, model.safetensors, vocab.txt)
  that varvault's loader reads.

Used by tests/parity, bench/ and tools/train_demo_model.py.
"""

import itertools
import json
import math
import os
import struct
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------
# safetensors

_TORCH_TO_ST = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_ST_TO_TORCH = {v: k for k, v in _TORCH_TO_ST.items()}
_ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2,
            "I8": 1, "U8": 1, "BOOL": 1}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def st_encode(tensors, metadata=None):
    """Returns the bytes of a safetensors file holding tensors (name -> tensor).
    Tensors are laid out in name order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _TORCH_TO_ST:
            raise ValueError("%s: dtype %s cannot be stored" % (name, t.dtype))
        b = _tensor_bytes(t)
        header[name] = {"dtype": _TORCH_TO_ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def st_save(path, tensors, metadata=None):
    """Writes tensors (name -> torch.Tensor) to path in safetensors format."""
    with open(path, "wb") as f:
        f.write(st_encode(tensors, metadata))


def st_load(path):
    """Reads a safetensors file into a dict name -> torch.Tensor (copies)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = e["dtype"]
        raw = data[b:end]
        if dt == "BF16":
            arr = np.frombuffer(raw, dtype="<i2").copy()
            t = torch.from_numpy(arr).view(torch.bfloat16)
        else:
            npdt = torch.empty(0, dtype=_ST_TO_TORCH[dt]).numpy().dtype.newbyteorder("<")
            t = torch.from_numpy(np.frombuffer(raw, dtype=npdt).copy())
        out[name] = t.reshape(e["shape"])
    return out


# --------------------------------------------------------------------------
# vocabularies and reference tokenizers


def kmers(k, alphabet="ACGT"):
    return ["".join(p) for p in itertools.product(alphabet, repeat=k)]


def nt_vocab(k=6):
    """Nucleotide Transformer v2 layout: 6 specials, the k-mers in ATCG
    order, then the single nucleotides A T C G N (4107 tokens for k=6)."""
    return ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] + kmers(k, "ATCG") + \
        ["A", "T", "C", "G", "N"]


def dnabert_vocab(k=6):
    """DNABERT layout: BERT specials then every k-mer (4^k + 5 tokens)."""
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + kmers(k)


def char_vocab():
    """Single-nucleotide ESM-style vocabulary (the demo model's)."""
    return ["<cls>", "<pad>", "<eos>", "<unk>", "<mask>", "A", "C", "G", "T", "N"]


def tokenize_ref(seq, vocab, kind, k=1, add_eos=None):
    """Token ids of a DNA string under the published rules:
    kind 'char'  : one token per letter (ESM tokenizer on single letters);
    kind 'kmer'  : Nucleotide Transformer: greedy left to right, a k-mer of
                   ACGT where one starts, else one single-letter token;
    kind 'kmer_overlap': DNABERT seq2kmer: every k-mer at stride 1.
    Letters are upper-cased; unknown letters or k-mers give the unk token.
    The cls token comes first; eos/sep last for BERT and 'char' vocabularies."""
    return tokenize_spans(seq, vocab, kind, k, add_eos)[0]


def tokenize_spans(seq, vocab, kind, k=1, add_eos=None):
    """(ids, spans) as tokenize_ref; spans[i] is the (start, length) of the
    bases token i stands for, or None for a special token."""
    ids = {t: i for i, t in enumerate(vocab)}
    bert = "[CLS]" in ids
    cls = ids["[CLS]"] if bert else ids["<cls>"]
    unk = ids["[UNK]"] if bert else ids["<unk>"]
    eos = ids.get("[SEP]") if bert else ids.get("<eos>")
    if add_eos is None:
        add_eos = bert or kind == "char"
    s = seq.upper()
    out, spans = [cls], [None]
    if kind == "char":
        out += [ids.get(c, unk) for c in s]
        spans += [(i, 1) for i in range(len(s))]
    elif kind == "kmer":
        i = 0
        while i < len(s):
            w = s[i:i + k]
            if len(w) == k and set(w) <= set("ACGT"):
                out.append(ids[w])
                spans.append((i, k))
                i += k
            else:
                out.append(ids.get(s[i], unk))
                spans.append((i, 1))
                i += 1
    elif kind == "kmer_overlap":
        out += [ids.get(s[i:i + k], unk) for i in range(len(s) - k + 1)]
        spans += [(i, k) for i in range(len(s) - k + 1)]
    else:
        raise ValueError(kind)
    if add_eos and eos is not None:
        out.append(eos)
        spans.append(None)
    return out, spans


# --------------------------------------------------------------------------
# common pieces


def gelu(x):
    """Exact GELU, as ESM and BERT's "gelu" compute it."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def extended_mask(attention_mask, dtype=torch.float32):
    """HF's additive attention mask: 0 where attended, finfo.min elsewhere."""
    m = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - m) * torch.finfo(dtype).min


def _act(name):
    if name == "gelu":
        return gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return torch.relu
    if name in ("silu", "swish"):
        return torch.nn.functional.silu
    raise ValueError(name)


# --------------------------------------------------------------------------
# BERT (transformers/models/bert/modeling_bert.py)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])[None, :]
        e = self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
        e = e + self.position_embeddings(pos)
        return self.LayerNorm(e)


class _SelfAttention(nn.Module):
    """query / key / value projections and the masked softmax product shared
    by BERT's and ESM's self-attention; they differ in how q is scaled and
    whether it is rotated."""

    def __init__(self, c):
        super().__init__()
        self.h = c.num_attention_heads
        self.dh = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def split(self, x):
        b, l, _ = x.shape
        return x.view(b, l, self.h, self.dh).permute(0, 2, 1, 3)

    def attend(self, scores, v, x):
        p = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape[0], x.shape[1], -1)


class BertSelfAttention(_SelfAttention):
    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        return self.attend(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + mask, v, x)


class _DenseResidual(nn.Module):
    """dense(h) + x, then a LayerNorm where norm is true (BertSelfOutput,
    BertOutput; EsmSelfOutput, EsmOutput without it)."""

    def __init__(self, c, n_in, norm, bias=True):
        super().__init__()
        self.dense = nn.Linear(n_in, c.hidden_size, bias=bias)
        if norm:
            self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.norm = norm

    def forward(self, h, x):
        y = self.dense(h) + x
        return self.LayerNorm(y) if self.norm else y


class BertSelfOutput(_DenseResidual):
    def __init__(self, c):
        super().__init__(c, c.hidden_size, norm=True)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = _act(c.hidden_act)

    def forward(self, x):
        return self.act(self.dense(x))


class BertOutput(_DenseResidual):
    def __init__(self, c):
        super().__init__(c, c.intermediate_size, norm=True)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, pooler=True):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if pooler else None

    def forward(self, ids, attention_mask):
        return self.encoder(self.embeddings(ids), extended_mask(attention_mask))


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.act = _act(c.hidden_act)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, x):
        return self.decoder(self.transform(x)) + self.bias


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = BertLMPredictionHead(c)


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c, pooler=False)
        self.cls = BertOnlyMLMHead(c)
        if c.tie_word_embeddings:
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, ids, attention_mask):
        h = self.bert(ids, attention_mask)
        return {"hidden": h, "logits": self.cls.predictions(h)}


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c, pooler=True)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, ids, attention_mask):
        h = self.bert(ids, attention_mask)
        return {"hidden": h, "logits": self.classifier(self.bert.pooler(h))}


# --------------------------------------------------------------------------
# ESM / Nucleotide Transformer (transformers/models/esm/modeling_esm.py)


def create_position_ids(ids, padding_idx):
    mask = ids.ne(padding_idx).int()
    return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + padding_idx


class EsmEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps) if c.emb_layer_norm_before else None
        self.position_embedding_type = c.position_embedding_type
        if c.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size,
                                                    padding_idx=c.pad_token_id)
        self.padding_idx = c.pad_token_id
        self.token_dropout = c.token_dropout
        self.mask_token_id = c.mask_token_id

    def forward(self, ids, attention_mask):
        e = self.word_embeddings(ids)
        if self.token_dropout:
            e = e.masked_fill((ids == self.mask_token_id).unsqueeze(-1), 0.0)
            mask_ratio_train = 0.15 * 0.8
            src_lengths = attention_mask.sum(-1)
            observed = (ids == self.mask_token_id).sum(-1).float() / src_lengths
            e = (e * (1 - mask_ratio_train) / (1 - observed)[:, None, None]).to(e.dtype)
        if self.position_embedding_type == "absolute":
            e = e + self.position_embeddings(create_position_ids(ids, self.padding_idx))
        if self.layer_norm is not None:
            e = self.layer_norm(e)
        return (e * attention_mask.unsqueeze(-1)).to(e.dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, q, k):
        t = torch.arange(k.shape[-2]).type_as(self.inv_freq)
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class EsmSelfAttention(_SelfAttention):
    def __init__(self, c):
        super().__init__(c)
        self.rotary_embeddings = RotaryEmbedding(self.dh) if c.position_embedding_type == "rotary" else None

    def forward(self, x, mask):
        q = self.split(self.query(x)) * self.dh ** -0.5
        k, v = self.split(self.key(x)), self.split(self.value(x))
        if self.rotary_embeddings is not None:
            q, k = self.rotary_embeddings(q, k)
        return self.attend(torch.matmul(q, k.transpose(-1, -2)) + mask, v, x)


class EsmSelfOutput(_DenseResidual):
    def __init__(self, c):
        super().__init__(c, c.hidden_size, norm=False)


class EsmAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = EsmSelfAttention(c)
        self.output = EsmSelfOutput(c)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x, mask):
        return self.output(self.self(self.LayerNorm(x), mask), x)


class EsmIntermediate(nn.Module):
    """Stock ESM: dense + GELU.  NT-v2 (gated): dense to 2*I, silu(x1) * x2."""

    def __init__(self, c):
        super().__init__()
        self.gated = c.gated_ffn
        width = c.intermediate_size * (2 if self.gated else 1)
        self.dense = nn.Linear(c.hidden_size, width, bias=c.add_bias_fnn)

    def forward(self, x):
        x = self.dense(x)
        if self.gated:
            x1, x2 = x.split(x.shape[-1] // 2, -1)
            return torch.nn.functional.silu(x1) * x2
        return gelu(x)


class EsmOutput(_DenseResidual):
    def __init__(self, c):
        super().__init__(c, c.intermediate_size, norm=False, bias=c.add_bias_fnn)


class EsmLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = EsmAttention(c)
        self.intermediate = EsmIntermediate(c)
        self.output = EsmOutput(c)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(self.LayerNorm(a)), a)


class EsmEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([EsmLayer(c) for _ in range(c.num_hidden_layers)])
        self.emb_layer_norm_after = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return self.emb_layer_norm_after(x)


class EsmModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = EsmEmbeddings(c)
        self.encoder = EsmEncoder(c)

    def forward(self, ids, attention_mask):
        return self.encoder(self.embeddings(ids, attention_mask), extended_mask(attention_mask))


class EsmLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, x):
        return self.decoder(self.layer_norm(gelu(self.dense(x)))) + self.bias


class EsmClassificationHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.out_proj = nn.Linear(c.hidden_size, c.num_labels)

    def forward(self, h):
        return self.out_proj(torch.tanh(self.dense(h[:, 0, :])))


class EsmForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.esm = EsmModel(c)
        self.lm_head = EsmLMHead(c)
        if c.tie_word_embeddings:
            self.lm_head.decoder.weight = self.esm.embeddings.word_embeddings.weight

    def forward(self, ids, attention_mask):
        h = self.esm(ids, attention_mask)
        return {"hidden": h, "logits": self.lm_head(h)}


class EsmForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.esm = EsmModel(c)
        self.classifier = EsmClassificationHead(c)

    def forward(self, ids, attention_mask):
        h = self.esm(ids, attention_mask)
        return {"hidden": h, "logits": self.classifier(h)}


# --------------------------------------------------------------------------
# configs, construction and saving

_DEFAULTS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=128, layer_norm_eps=1e-12, hidden_act="gelu",
                 tie_word_embeddings=True, num_labels=2)


def make_config(arch, head, vocab, **kw):
    """A namespace of hyperparameters.  arch: 'bert' or 'esm'; head: 'mlm',
    'cls' or None.  ESM options: position_embedding_type ('rotary' or
    'absolute'), gated_ffn (NT-v2), add_bias_fnn, token_dropout,
    emb_layer_norm_before."""
    c = dict(_DEFAULTS)
    c.update(arch=arch, head=head, vocab_size=len(vocab))
    ids = {t: i for i, t in enumerate(vocab)}
    if arch == "bert":
        c.update(type_vocab_size=2, pad_token_id=ids.get("[PAD]", 0), position_embedding_type="absolute")
    else:
        c.update(pad_token_id=ids["<pad>"], mask_token_id=ids["<mask>"], position_embedding_type="rotary",
                 gated_ffn=False, add_bias_fnn=True, token_dropout=False, emb_layer_norm_before=False)
    c.update(kw)
    if arch == "esm" and c["gated_ffn"] is False:
        c["add_bias_fnn"] = True
    return SimpleNamespace(**c)


def build(c):
    """The torch module for config c."""
    if c.arch == "bert":
        if c.head == "mlm":
            return BertForMaskedLM(c)
        if c.head == "cls":
            return BertForSequenceClassification(c)
        return _Bare(BertModel(c, pooler=False), "bert")
    if c.head == "mlm":
        return EsmForMaskedLM(c)
    if c.head == "cls":
        return EsmForSequenceClassification(c)
    return _Bare(EsmModel(c), "esm")


class _Bare(nn.Module):
    """A base model saved without a prefix (like a bare BertModel/EsmModel)."""

    def __init__(self, inner, arch):
        super().__init__()
        self.inner = inner
        self.arch = arch

    def forward(self, ids, attention_mask):
        return {"hidden": self.inner(ids, attention_mask)}


def randomize(model, seed=0, scale=1.0):
    """Random weights of a useful size (HF's 0.02 init makes tiny models
    nearly constant): Linear ~ N(0, 1/in), biases and LayerNorm offsets
    ~ N(0, 0.1), LayerNorm gains ~ 1 + N(0, 0.1), embeddings ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embeddings" in name:
                p.copy_(scale * torch.randn(p.shape, generator=g))
            else:
                p.copy_(scale * torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
    return model


def round_weights(model, dtype):
    """Rounds every parameter through dtype (torch.float16 / bfloat16) so the
    float32 reference uses exactly the values a converted file holds."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())
    return model


def hf_config(c):
    """config.json contents as transformers (or NT-v2's custom code) writes them."""
    if c.arch == "bert":
        arch = {"mlm": "BertForMaskedLM", "cls": "BertForSequenceClassification"}.get(c.head, "BertModel")
        d = {"model_type": "bert", "architectures": [arch], "vocab_size": c.vocab_size,
             "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
             "num_attention_heads": c.num_attention_heads, "intermediate_size": c.intermediate_size,
             "hidden_act": c.hidden_act, "max_position_embeddings": c.max_position_embeddings,
             "type_vocab_size": c.type_vocab_size, "layer_norm_eps": c.layer_norm_eps,
             "pad_token_id": c.pad_token_id, "position_embedding_type": "absolute",
             "tie_word_embeddings": c.tie_word_embeddings, "hidden_dropout_prob": 0.1,
             "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
    else:
        arch = {"mlm": "EsmForMaskedLM", "cls": "EsmForSequenceClassification"}.get(c.head, "EsmModel")
        d = {"model_type": "esm", "architectures": [arch], "vocab_size": c.vocab_size,
             "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
             "num_attention_heads": c.num_attention_heads, "intermediate_size": c.intermediate_size,
             "hidden_act": "gelu", "max_position_embeddings": c.max_position_embeddings,
             "layer_norm_eps": c.layer_norm_eps, "pad_token_id": c.pad_token_id,
             "mask_token_id": c.mask_token_id, "position_embedding_type": c.position_embedding_type,
             "emb_layer_norm_before": c.emb_layer_norm_before, "token_dropout": c.token_dropout,
             "tie_word_embeddings": c.tie_word_embeddings, "is_folding_model": False,
             "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
        if c.gated_ffn:
            # NT-v2's published config: custom code, no model_type.
            del d["model_type"]
            d["add_bias_fnn"] = c.add_bias_fnn
            d["auto_map"] = {"AutoConfig": "esm_config.EsmConfig",
                             "AutoModelForMaskedLM": "modeling_esm.EsmForMaskedLM"}
    if c.head == "cls":
        d["id2label"] = {str(i): "LABEL_%d" % i for i in range(c.num_labels)}
        d["label2id"] = {"LABEL_%d" % i: i for i in range(c.num_labels)}
    d["_name_or_path"] = getattr(c, "name", "hfref-random")
    return d


def state_tensors(model):
    """HF tensor names -> tensors, dropping the tied decoder copy as
    transformers does when it saves."""
    sd = model.state_dict()
    c = getattr(model, "config", None)
    out = {}
    for k, v in sd.items():
        if k.startswith("inner."):
            k = k[len("inner."):]
        if c is not None and c.head == "mlm" and c.tie_word_embeddings and \
                k in ("lm_head.decoder.weight", "cls.predictions.decoder.weight"):
            continue
        out[k] = v
    return out


def save_hf(path, model, c, vocab, dtype="F32", extra=None, tokenizer_config=None):
    """Writes a Hugging Face model directory.  dtype: F32, F16 or BF16 for the
    floating tensors; extra: more tensors to store (name -> tensor)."""
    os.makedirs(path, exist_ok=True)
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    tensors = {}
    for k, v in state_tensors(model).items():
        tensors[k] = v.to(tdt) if v.is_floating_point() else v
    if extra:
        tensors.update(extra)
    st_save(os.path.join(path, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(hf_config(c), f, indent=2)
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    if tokenizer_config is not None:
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump(tokenizer_config, f)


def pad_batch(seqs, pad_id):
    """(ids [B, L] LongTensor, attention_mask [B, L]) for lists of ids."""
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask
