"""Checkpoints written by `seqjepa train` load into PyTorch modules laid out as the
authors' model classes (tests/ref/sj_ref.py: SeqJEPA_Transforms for objects3d,
SeqJEPA_PLS for saccades) with a strict load_state_dict, and those modules give the
z and z_AGG that `seqjepa embed` writes. A checkpoint that names the final norm as
files written before did (transformer_encoder.transformer_encoder.norm.*) still loads
and gives the same numbers. Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import stio  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import EXE, Checks, run  # noqa: E402

checks = Checks()
check = checks.check
NEW, OLD = "transformer_encoder.norm.", "transformer_encoder.transformer_encoder.norm."


TINY = ["env.size=32", "model.width=4", "model.action_emb=16", "model.layers=2", "model.pred_hidden=32",
        "train.batch=8", "train.m_train=2", "train.steps=3", "train.log_every=1", "train.threads=2"]
WORLDS = [("objects3d", "configs/objects3d-quick.ini", ["env.instances=4"]),
          ("saccade", "configs/saccade-quick.ini", ["env.n_scenes=40"])]


def embed(ckpt, v, a, out):
    r = run("embed", "--ckpt", ckpt, "--views", v, "--actions", a, "--out", out)
    if r.returncode:
        return None, r.stderr
    return (np.load(os.path.join(out, "z.npy")), np.load(os.path.join(out, "z_agg.npy"))), ""


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def main():
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to compare against")
        checks.done()
        return 0
    from sj_ref import SeqJEPA, load_strict, spec_from_checkpoint
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    for world, cfg, extra in WORLDS:
        out = os.path.join(tmp, world)
        r = run("train", cfg, *TINY, *extra, f"train.out={out}", "--quiet")
        check(r.returncode == 0, f"{world}: tiny training run", r.stderr[-2000:])
        ckpt = os.path.join(out, "checkpoint.safetensors")
        if r.returncode:
            continue
        tensors, meta = stio.read(ckpt)
        # The stored config lists what this world reads, numbers in their shortest form.
        text = meta["config"]
        own, other = (("instances", "max_angle"), ("scene_size", "max_shift"))[::1 if world == "objects3d" else -1]
        check(all(f"\n{k} = " in text for k in own) and not any(f"\n{k} = " in text for k in other),
              f"{world}: stored config lists its world's keys only", text)
        check("heldout = 0.2\n" in text and not re.search(r"\d{12}", text) and "[bench]" not in text
              and "[gen]" not in text, f"{world}: stored config in shortest numbers, no unused sections", text)
        names = set(tensors)
        check({NEW + "weight", NEW + "bias"} <= names, f"{world}: final norm saved as {NEW}*")
        check(not any(n.startswith(OLD) for n in names), f"{world}: no tensor under {OLD}*")
        spec, action_dim = spec_from_checkpoint(meta)
        check(action_dim == (4 if world == "objects3d" else 2), f"{world}: action_dim", str(action_dim))
        model = SeqJEPA(spec, action_dim)
        ok, why = load_strict(model, tensors)
        check(ok, f"{world}: strict load_state_dict of the trained checkpoint", why)
        if not ok:
            continue
        model.eval()

        rng = np.random.default_rng(1)
        views = rng.integers(0, 256, (6, 3, 32, 32, 3), dtype=np.uint8)
        acts = rng.standard_normal((6, 2, action_dim)).astype(np.float32)
        vp, ap = os.path.join(tmp, f"{world}-V.npy"), os.path.join(tmp, f"{world}-A.npy")
        np.save(vp, views)
        np.save(ap, acts)
        mine, err = embed(ckpt, vp, ap, os.path.join(tmp, f"{world}-emb"))
        check(mine is not None, f"{world}: embed runs", err)
        if mine is None:
            continue
        mean = torch.tensor(spec["mean"]).view(1, 1, 1, 1, 3)
        std = torch.tensor(spec["std"]).view(1, 1, 1, 1, 3)
        z, za = model.embed(torch.from_numpy(views), torch.from_numpy(acts), mean, std)
        ez, eza = rel(mine[0], z.numpy()), rel(mine[1], za.numpy())
        print(f"{world}: action_dim {action_dim}, {len(tensors)} tensors; embed vs PyTorch: "
              f"z relative error {ez:.2g}, z_AGG {eza:.2g}")
        check(mine[0].shape == tuple(z.shape) and ez < 1e-4, f"{world}: z matches PyTorch", f"{ez:.3g}")
        check(mine[1].shape == tuple(za.shape) and eza < 1e-4, f"{world}: z_AGG matches PyTorch", f"{eza:.3g}")

        # The same weights under the old name of the final norm: loads, same numbers.
        old = {(OLD + k[len(NEW):] if k.startswith(NEW) else k): v for k, v in tensors.items()}
        check(sum(k.startswith(OLD) for k in old) == 2, f"{world}: old-named copy made")
        old_ckpt = os.path.join(tmp, f"{world}-old.safetensors")
        stio.write(old_ckpt, old, meta)
        prev, err = embed(old_ckpt, vp, ap, os.path.join(tmp, f"{world}-emb-old"))
        check(prev is not None, f"{world}: a checkpoint with the old norm name loads", err)
        if prev is not None:
            check(np.array_equal(prev[0], mine[0]) and np.array_equal(prev[1], mine[1]),
                  f"{world}: old-named checkpoint gives the same z and z_AGG")
        # Neither name: the error names the tensor that is missing.
        gone = {k: v for k, v in tensors.items() if not k.startswith(NEW)}
        gone_ckpt = os.path.join(tmp, f"{world}-gone.safetensors")
        stio.write(gone_ckpt, gone, meta)
        _, err = embed(gone_ckpt, vp, ap, os.path.join(tmp, f"{world}-emb-gone"))
        check("transformer_encoder.norm.weight" in err and "missing" in err,
              f"{world}: missing final norm named", err)

    return checks.done()


sys.exit(main())
