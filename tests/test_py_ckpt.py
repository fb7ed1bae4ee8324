"""Checkpoints and models from Python (python/seqjepa): load_checkpoint gives every
tensor and metadata entry of a checkpoint written by `seqjepa train`, Model.embed gives
what `seqjepa embed` writes, bad files and bad arrays raise clear exceptions; with torch,
the state dict loads with strict=True into the PyTorch reference model laid out as the
authors' classes (tests/ref/sj_ref.py), its state dict comes back unchanged, and it
computes the same z and z_AGG. Needs `make python`; run by tests/run.sh."""
import configparser
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import Checks, run  # noqa: E402

import seqjepa  # noqa: E402
import stio  # noqa: E402  (tests/ref: safetensors with numpy alone)

c = Checks()
tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
TINY = ["env.size=32", "model.width=4", "model.action_emb=16", "model.layers=2", "model.pred_hidden=32",
        "train.batch=8", "train.m_train=2", "train.steps=3", "train.log_every=1", "train.threads=2"]


def spec_of(meta):
    """The reference model's spec and action_dim from a checkpoint's metadata."""
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    ini.read_string(meta["config"])
    mc = ini["model"]
    enc, width = mc["encoder"].strip('"'), int(mc["width"])
    widths = [64, 128, 256, 512] if enc.startswith("resnet18") else [width << i for i in range(4)]
    emb = int(mc["action_emb"])
    action_dim = int(meta["shape"].split()[2])
    return {"widths": widths, "cifar": enc != "resnet18", "action_emb": emb, "layers": int(mc["layers"]),
            "heads": int(mc["heads"]), "ffn": int(mc["ffn_ratio"]) * (widths[3] + emb),
            "pred_hidden": int(mc["pred_hidden"]),
            "mean": [float(x) for x in meta["pixel_mean"].split()],
            "std": [float(x) for x in meta["pixel_std"].split()]}, action_dim


def torch_round_trip(world, sd, meta, views, acts, z, za):
    try:
        import torch
    except ImportError:
        print("torch is not installed: the strict load round trip is skipped")
        return
    from sj_ref import SeqJEPA, load_strict
    torch.set_num_threads(2)
    spec, action_dim = spec_of(meta)
    model = SeqJEPA(spec, action_dim)
    ok, why = load_strict(model, sd)
    c.check(ok, f"{world}: strict load_state_dict of seqjepa.load_checkpoint's dict", why)
    if not ok:
        return
    back = model.state_dict()
    c.check(set(back) == set(sd) and all(np.array_equal(back[k].numpy(), sd[k]) for k in sd),
            f"{world}: the module's state dict equals the checkpoint, tensor for tensor")
    model.eval()
    mean = torch.tensor(spec["mean"]).view(1, 1, 1, 1, 3)
    std = torch.tensor(spec["std"]).view(1, 1, 1, 1, 3)
    n, m = views.shape[:2]
    with torch.no_grad():  # the forward needs a target view and a last action: repeat and pad
        v = torch.from_numpy(np.concatenate([views, views[:, -1:]], 1))
        a = torch.from_numpy(np.concatenate([acts, np.zeros((n, 1, action_dim), np.float32)], 1))
        tz, tza, _, _, _ = model(v, a, m, mean, std)
    ez = np.linalg.norm(z - tz.view(n, m, -1).numpy()) / np.linalg.norm(z)
    eza = np.linalg.norm(za - tza.numpy()) / np.linalg.norm(za)
    print(f"{world}: Model.embed vs PyTorch: z relative error {ez:.2g}, z_AGG {eza:.2g}")
    c.check(ez < 1e-4 and eza < 1e-4, f"{world}: Model.embed matches the PyTorch module", f"{ez:.3g} {eza:.3g}")


def world(name, cfg, extra):
    out = os.path.join(tmp, name)
    r = run("train", cfg, *TINY, *extra, f"train.out={out}", "--quiet")
    if not c.check(r.returncode == 0, f"{name}: tiny training run", r.stderr[-2000:]):
        return
    ckpt = os.path.join(out, "checkpoint.safetensors")
    sd, meta = seqjepa.load_checkpoint(ckpt, with_metadata=True)
    ref, rmeta = stio.read(ckpt)
    c.check(list(sd) == list(seqjepa.load_checkpoint(ckpt)), f"{name}: load_checkpoint without metadata")
    c.check(set(sd) == set(ref) and all(sd[k].dtype == ref[k].dtype and np.array_equal(sd[k], ref[k]) for k in ref),
            f"{name}: every tensor as numpy reads it", f"{len(sd)} vs {len(ref)}")
    c.check(meta == rmeta and "config" in meta, f"{name}: metadata")
    c.check(any(k.startswith("encoder.") for k in sd) and "agg_token" in sd
            and any(k.startswith("target_encoder.") for k in sd), f"{name}: PyTorch module names")
    sd["agg_token"][...] = 0  # the arrays are the caller's copies
    c.check(np.array_equal(seqjepa.load_checkpoint(ckpt)["agg_token"], ref["agg_token"]),
            f"{name}: load_checkpoint returns copies")

    model = seqjepa.load_model(ckpt)
    A = model.action_dim
    c.check(model.image_size == (32, 32) and A == (4 if name == "objects3d" else 2) and model.step == 3,
            f"{name}: model info", str((model.image_size, A, model.step)))
    rng = np.random.default_rng(1)
    views = rng.integers(0, 256, (5, 3, 32, 32, 3), dtype=np.uint8)
    acts = rng.standard_normal((5, 2, A)).astype(np.float32)
    z, za = model.embed(views, acts)
    c.check(z.shape == (5, 3, model.enc_dim) and za.shape == (5, model.agg_dim), f"{name}: embed shapes")
    vp, ap, eo = (os.path.join(tmp, f"{name}-{x}") for x in ("V.npy", "A.npy", "emb"))
    np.save(vp, views)
    np.save(ap, acts)
    r = run("embed", "--ckpt", ckpt, "--views", vp, "--actions", ap, "--out", eo)
    if c.check(r.returncode == 0, f"{name}: seqjepa embed", r.stderr[-1000:]):
        cz, cza = np.load(os.path.join(eo, "z.npy")), np.load(os.path.join(eo, "z_agg.npy"))
        c.check(np.allclose(z, cz, rtol=1e-5, atol=1e-6) and np.allclose(za, cza, rtol=1e-5, atol=1e-6),
                f"{name}: Model.embed equals `seqjepa embed`",
                f"{np.abs(z - cz).max():.3g} {np.abs(za - cza).max():.3g}")
    z1, za1 = model.embed(views[2], acts[2])
    c.check(np.allclose(z1, z[2], atol=1e-5) and np.allclose(za1, za[2], atol=1e-5),
            f"{name}: one sequence without the batch axis")
    c.raises(TypeError, ["uint8"], lambda: model.embed(views.astype(np.float32), acts), f"{name}: float views")
    c.raises(ValueError, ["[N, M, 32, 32, 3]"], lambda: model.embed(views[:, :, :16], acts), f"{name}: view size")
    c.raises(ValueError, ["actions must have shape"], lambda: model.embed(views, acts[:, :1]),
             f"{name}: action count")
    c.raises(ValueError, ["need 2 actions"], lambda: model.embed(views), f"{name}: missing actions")
    torch_round_trip(name, seqjepa.load_checkpoint(ckpt), meta, views, acts, z, za)
    model.close()
    c.raises(RuntimeError, ["closed"], lambda: model.embed(views, acts), f"{name}: embed on a closed model")
    return ckpt


def bad_files(ckpt):
    c.raises(seqjepa.SeqJepaError, ["nosuch.safetensors"],
             lambda: seqjepa.load_checkpoint(os.path.join(tmp, "nosuch.safetensors")), "missing file")
    raw = open(ckpt, "rb").read()
    cut = os.path.join(tmp, "cut.safetensors")
    with open(cut, "wb") as f:
        f.write(raw[: len(raw) // 2])
    c.raises(seqjepa.SeqJepaError, ["cut.safetensors"], lambda: seqjepa.load_checkpoint(cut), "truncated file")
    c.raises(seqjepa.SeqJepaError, ["cut.safetensors"], lambda: seqjepa.load_model(cut), "truncated model")
    junk = os.path.join(tmp, "junk.safetensors")
    with open(junk, "wb") as f:
        f.write(b"\xff" * 64)
    c.raises(seqjepa.SeqJepaError, ["junk.safetensors"], lambda: seqjepa.load_checkpoint(junk), "garbage file")
    tensors, meta = stio.read(ckpt)
    del tensors["agg_token"]
    gone = os.path.join(tmp, "gone.safetensors")
    stio.write(gone, tensors, meta)
    c.check(len(seqjepa.load_checkpoint(gone)) == len(tensors), "any safetensors file loads as a dict")
    c.raises(seqjepa.SeqJepaError, ["agg_token"], lambda: seqjepa.load_model(gone), "model with a missing tensor")


ck = world("objects3d", "configs/objects3d-quick.ini", ["env.instances=4"])
world("saccade", "configs/saccade-quick.ini", ["env.n_scenes=40"])
if ck:
    bad_files(ck)
sys.exit(c.done())
