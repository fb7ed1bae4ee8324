"""bench/pose_init.py puts an encoder trained on pixels / 255 into a checkpoint whose
model normalises pixels with pixel_mean / pixel_std: the online and the target encoder
get its tensors, nothing else changes, and `seqjepa embed` then computes what the
encoder computed on pixels / 255, up to the first layer's zero padding, which in the
checkpoint's normalised space stands for pixels of the mean value (here emulated in
PyTorch by padding pixels / 255 with the mean). A checkpoint of another width and a
missing file are refused with the file named, the checkpoint left as it was. Run by
tests/run.sh (SEQJEPA_EXE names the binary)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "ref"))
import stio  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "py"))
from pycheck import Checks, run, torch_or_exit  # noqa: E402

checks = Checks()
check = checks.check
SCRIPT = os.path.join(HERE, "..", "bench", "pose_init.py")
TINY = ["env.size=32", "env.instances=4", "model.width=4", "model.action_emb=16", "model.layers=2",
        "model.pred_hidden=32", "train.batch=8", "train.m_train=1", "train.steps=2", "train.threads=2",
        "model.pixel_mean=0.4 0.5 0.6", "model.pixel_std=0.2 0.25 0.3"]


def pose_init(npz, ckpt):
    return subprocess.run(["/usr/bin/python3", SCRIPT, npz, ckpt], capture_output=True, text=True)


def main():
    torch = torch_or_exit(checks)
    from nn_ref import ResNet
    torch.manual_seed(3)
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    out = os.path.join(tmp, "run")
    r = run("train", "configs/objects3d-quick.ini", *TINY, f"train.out={out}", "--quiet")
    check(r.returncode == 0, "tiny training run", r.stderr[-2000:])
    if r.returncode:
        return checks.done()
    ckpt = os.path.join(out, "checkpoint.safetensors")
    before, meta = stio.read(ckpt)

    # an encoder "trained on pixels / 255": random weights and batch-norm statistics
    net = ResNet([4, 8, 16, 32], [2, 2, 2, 2], True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.eval()
    npz = os.path.join(tmp, "enc.npz")
    np.savez(npz, **{k: v.numpy() for k, v in net.state_dict().items()})

    p = pose_init(npz, ckpt)
    check(p.returncode == 0, "pose_init runs", p.stderr)
    after, meta2 = stio.read(ckpt)
    check(meta2 == meta, "metadata kept")
    check(set(after) == set(before), "the same tensors")
    enc_keys = set(net.state_dict())
    moved = [k for k in after if not np.array_equal(after[k], before[k])]
    check(all(k.split(".", 1)[0] in ("encoder", "target_encoder") for k in moved),
          "only the online and target encoder changed", str([k for k in moved if "encoder" not in k][:5]))
    same = all(np.array_equal(after["encoder." + k], after["target_encoder." + k]) for k in enc_keys)
    check(same, "online and target encoder hold the same tensors")
    check(np.array_equal(after["encoder.layer2.0.conv1.weight"], net.layer2[0].conv1.weight.detach().numpy()),
          "a deeper tensor put in as it was")

    # seqjepa embed against the encoder on pixels / 255, padded with the mean pixel
    rng = np.random.default_rng(5)
    views = rng.integers(0, 256, (5, 2, 32, 32, 3), dtype=np.uint8)
    acts = rng.standard_normal((5, 1, 4)).astype(np.float32)
    vp, ap, eo = os.path.join(tmp, "V.npy"), os.path.join(tmp, "A.npy"), os.path.join(tmp, "emb")
    np.save(vp, views)
    np.save(ap, acts)
    r = run("embed", "--ckpt", ckpt, "--views", vp, "--actions", ap, "--out", eo)
    check(r.returncode == 0, "embed runs on the patched checkpoint", r.stderr[-2000:])
    if r.returncode == 0:
        z = np.load(os.path.join(eo, "z.npy")).reshape(10, -1)
        x = torch.from_numpy(views.reshape(10, 32, 32, 3)).permute(0, 3, 1, 2).float() / 255
        mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
        xp = torch.nn.functional.pad(x - mean, (1, 1, 1, 1)) + mean  # the border at the mean pixel
        net.conv1.padding = (0, 0)
        with torch.no_grad():
            ref = net(xp).numpy()
        err = float(np.linalg.norm(z - ref) / np.linalg.norm(ref))
        print(f"embed z against the encoder on pixels / 255: relative error {err:.2g}")
        check(z.shape == ref.shape and err < 1e-4, "embed computes the encoder put in", f"{err:.3g}")

    # refusals: another width, a missing file; the checkpoint is left as it was
    wide = ResNet([8, 16, 32, 64], [2, 2, 2, 2], True)
    npz8 = os.path.join(tmp, "enc8.npz")
    np.savez(npz8, **{k: v.numpy() for k, v in wide.state_dict().items()})
    with open(ckpt, "rb") as f:
        bytes_before = f.read()
    p = pose_init(npz8, ckpt)
    check(p.returncode != 0 and "encoder.conv1.weight" in p.stderr and ckpt in p.stderr,
          "another width refused, the tensor and file named", p.stderr)
    p = pose_init(os.path.join(tmp, "none.npz"), ckpt)
    check(p.returncode != 0 and "none.npz" in p.stderr, "a missing file refused, named", p.stderr)
    with open(ckpt, "rb") as f:
        check(f.read() == bytes_before, "the checkpoint left as it was")
    return checks.done()


sys.exit(main())
