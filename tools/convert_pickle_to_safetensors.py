#!/usr/bin/python3
"""Converts a Hugging Face pickle checkpoint (pytorch_model.bin) into the
model.safetensors that varvault loads.  Run it OFFLINE, on a machine that is
not the appliance: torch.load() unpickles, and unpickling can run code from
the file, which is why the appliance refuses pickle checkpoints.

usage: convert_pickle_to_safetensors.py DIR [--dtype F32|F16|BF16] [--force]

Reads DIR/pytorch_model.bin, writes DIR/model.safetensors (F32 by default,
so that the appliance maps it and uses it in place), and keeps every tensor
under its own name (the loader ignores the ones the forward does not use).
Tied tensors (lm_head.decoder.weight = word embeddings) are stored once, as
transformers does.  Needs only python3-torch (tests/lib/hfref.py writes the
format).
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import hfref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    ap.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors")
    a = ap.parse_args()
    src = os.path.join(a.dir, "pytorch_model.bin")
    dst = os.path.join(a.dir, "model.safetensors")
    if os.path.exists(dst) and not a.force:
        sys.exit("%s exists (use --force)" % dst)
    try:
        sd = torch.load(src, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        sd = torch.load(src, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[a.dtype]
    out, seen = {}, {}
    for name, t in sd.items():
        if not torch.is_tensor(t):
            continue
        key = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        if t.numel() and key in seen:
            print("%s: shares storage with %s; stored once" % (name, seen[key]))
            continue
        seen[key] = name
        t = t.detach().contiguous()
        out[name] = t.to(dt) if t.is_floating_point() else t
    hfref.st_save(dst, out, {"format": "pt", "converted_from": "pytorch_model.bin"})
    print("wrote %s: %d tensors" % (dst, len(out)))


if __name__ == "__main__":
    main()
