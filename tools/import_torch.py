#!/usr/bin/env python3
"""Converts a seq-JEPA checkpoint saved with torch.save by the authors' code (their
SeqJEPA_Transforms / SeqJEPA_PLS module layout) into a seqjepa .safetensors checkpoint,
so that `seqjepa embed`, `seqjepa eval`, the viewer and seqjepa.load_model can use
published weights. Needs torch.

usage: /usr/bin/python3 tools/import_torch.py IN.pt OUT.safetensors --size PX
           [--heads 4] [--world objects3d|saccade] [--n-classes N]
           [--pixel-mean "R G B"] [--pixel-std "R G B"]

The architecture is read from the tensor shapes (encoder resnet18 with its 7x7 stem,
resnet18-cifar, or the small CIFAR-stem ResNet of any width; action embedding,
transformer layers and feed-forward ratio, predictor width); the attention heads cannot
be, so --heads gives them (the paper: 4). The state dict is found in the file as saved
(a bare state dict, a module, or a dict holding one under any key, e.g. "model");
"module." prefixes (DistributedDataParallel) are removed; a missing target_encoder is
copied from the encoder; the final norm is stored under the authors' name,
transformer_encoder.norm.*. Tensors of other modules (heads, probes, optimiser state)
are left out and listed. The pixel normalisation the weights were trained with must be
given when it is not seqjepa's default (0.5, 0.25)."""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

OURS = ("encoder.", "target_encoder.", "action_proj.", "transformer_encoder.", "predictor.", "agg_token")
NORM, OLD_NORM = "transformer_encoder.norm.", "transformer_encoder.transformer_encoder.norm."
_ST = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
       np.dtype(np.uint8): "U8", np.dtype(np.float64): "F64"}


class ImportError_(Exception):
    pass


def find_state_dict(obj, torch):
    """The first mapping in obj (searched breadth-first) that holds encoder.conv1.weight,
    with 'module.' prefixes removed."""
    todo = [obj]
    while todo:
        o = todo.pop(0)
        if isinstance(o, torch.nn.Module):
            o = o.state_dict()
        if isinstance(o, dict):
            keys = {re.sub(r"^(module\.|_orig_mod\.)+", "", str(k)): v for k, v in o.items()}
            if "encoder.conv1.weight" in keys and torch.is_tensor(keys["encoder.conv1.weight"]):
                return keys
            todo += [v for v in o.values() if isinstance(v, (dict, torch.nn.Module))]
    raise ImportError_("no state dict with encoder.conv1.weight in the file (is it a seq-JEPA checkpoint?)")


def infer(sd):
    """The [model] keys and (action_dim, D, E) from the tensor shapes."""
    conv1 = sd["encoder.conv1.weight"].shape
    w0 = conv1[0]
    widths = [sd[f"encoder.layer{i}.0.conv1.weight"].shape[0] for i in range(1, 5)]
    if widths != [w0 << i for i in range(4)]:
        raise ImportError_(f"encoder stage widths {widths} are not w, 2w, 4w, 8w")
    if tuple(conv1[2:]) == (7, 7):
        if w0 != 64:
            raise ImportError_(f"a 7x7-stem encoder must be ResNet-18 (width 64), got width {w0}")
        enc = "resnet18"
    elif tuple(conv1[2:]) == (3, 3):
        enc = "resnet18-cifar" if w0 == 64 else "small"
    else:
        raise ImportError_(f"encoder.conv1.weight has shape {list(conv1)}: neither a 7x7 nor a 3x3 stem")
    for i in range(1, 5):
        if f"encoder.layer{i}.2.conv1.weight" in sd or f"encoder.layer{i}.1.conv1.weight" not in sd:
            raise ImportError_(f"encoder.layer{i} does not have the 2 blocks of a ResNet-18")
    if "action_proj.0.weight" not in sd:
        raise ImportError_("no action_proj.0.weight: only action-conditioned models are supported")
    emb, action_dim = sd["action_proj.0.weight"].shape
    D = widths[3]
    E = D + emb
    layers = 0
    while f"transformer_encoder.transformer_encoder.layers.{layers}.linear1.weight" in sd:
        layers += 1
    if layers == 0:
        raise ImportError_("no transformer_encoder.transformer_encoder.layers.0.*")
    ffn = sd["transformer_encoder.transformer_encoder.layers.0.linear1.weight"].shape[0]
    if ffn % E:
        raise ImportError_(f"feed-forward width {ffn} is not a multiple of the token width {E}")
    if tuple(sd["agg_token"].shape) != (1, 1, E):
        raise ImportError_(f"agg_token has shape {list(sd['agg_token'].shape)}, expected [1, 1, {E}]")
    pred = sd["predictor.0.weight"].shape
    if tuple(pred[1:]) != (E + emb,):
        raise ImportError_(f"predictor.0.weight has shape {list(pred)}, expected [H, {E + emb}]")
    model = {"encoder": enc, "width": w0 if enc == "small" else 32, "action_emb": emb, "layers": layers,
             "ffn_ratio": ffn // E, "pred_hidden": pred[0]}
    return model, action_dim


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in sorted(tensors.items(), key=lambda kv: -kv[1].dtype.itemsize):
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": _ST[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((-len(text)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def convert(src, dst, size, heads=4, world="objects3d", n_classes=16, pixel_mean="0.5 0.5 0.5",
            pixel_std="0.25 0.25 0.25", log=print):
    import torch
    obj = torch.load(src, map_location="cpu")
    sd = find_state_dict(obj, torch)
    if OLD_NORM + "weight" in sd and NORM + "weight" not in sd:
        sd = {(NORM + k[len(OLD_NORM):] if k.startswith(OLD_NORM) else k): v for k, v in sd.items()}
    left = sorted(k for k in sd if not k.startswith(OURS))
    sd = {k: v for k, v in sd.items() if k.startswith(OURS) and torch.is_tensor(v)}
    model, action_dim = infer(sd)
    E = sd["agg_token"].shape[-1]
    if E % heads:
        raise ImportError_(f"--heads {heads} does not divide the token width {E}")
    if not any(k.startswith("target_encoder.") for k in sd):
        log("no target_encoder.* in the file: the target encoder is a copy of the encoder")
        sd.update({"target_encoder." + k[len("encoder."):]: v.clone() for k, v in list(sd.items())
                   if k.startswith("encoder.")})
    for k in ("pixel_mean", "pixel_std"):
        vals = (pixel_mean if k == "pixel_mean" else pixel_std).split()
        if len(vals) != 3:
            raise ImportError_(f"--{k.replace('_', '-')} needs 3 numbers, got {vals}")
    out = {}
    for k, v in sd.items():
        a = v.detach().cpu().numpy()
        if np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        elif a.dtype not in _ST:
            a = a.astype(np.int64)
        out[k] = a
    step = 0
    if isinstance(obj, dict):
        for key in ("step", "global_step", "epoch"):
            if isinstance(obj.get(key), int):
                step = obj[key]
                break
    cfg = ["[env]", f"kind = {world}", f"size = {size}"]
    if world == "objects3d":
        cfg.append(f"n_classes = {n_classes}")
    cfg += ["", "[model]"] + [f"{k} = {v}" for k, v in model.items()]
    cfg += [f"heads = {heads}", f'pixel_mean = "{pixel_mean}"', f'pixel_std = "{pixel_std}"', ""]
    meta = {"format": "seqjepa-checkpoint-1", "config": "\n".join(cfg), "step": str(step),
            "pixel_mean": pixel_mean, "pixel_std": pixel_std,
            "shape": f"{size} {size} {action_dim} {n_classes}", "imported_from": os.path.basename(src)}
    write_safetensors(dst, out, meta)
    log(f"{dst}: {len(out)} tensors; " + ", ".join(f"{k} {v}" for k, v in model.items())
        + f", heads {heads}, action_dim {action_dim}" + (f"; left out: {', '.join(left[:8])}"
                                                          + (" ..." if len(left) > 8 else "") if left else ""))
    return model, action_dim


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--size", type=int, required=True, help="view side in pixels the weights expect")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--world", choices=("objects3d", "saccade"), default="objects3d")
    p.add_argument("--n-classes", type=int, default=16)
    p.add_argument("--pixel-mean", default="0.5 0.5 0.5")
    p.add_argument("--pixel-std", default="0.25 0.25 0.25")
    a = p.parse_args(argv)
    try:
        convert(a.src, a.dst, a.size, a.heads, a.world, a.n_classes, a.pixel_mean, a.pixel_std)
    except KeyError as e:
        print(f"import_torch: {a.src}: the state dict has no tensor {e}", file=sys.stderr)
        return 1
    except (ImportError_, OSError, RuntimeError, ValueError) as e:
        print(f"import_torch: {a.src}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
