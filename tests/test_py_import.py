"""tools/import_torch.py: a checkpoint saved with torch.save from a PyTorch module laid
out as the seq-JEPA authors' classes (tests/ref/sj_ref.py, randomly initialised, with
moved BatchNorm statistics, wrapped as DistributedDataParallel saves it) converts into a
seqjepa checkpoint that the C library loads and evaluates to the module's own z and
z_AGG; the converted tensors load back into the module with strict=True; bad files
give a message and a non-zero exit. Passes with nothing to check where torch is
missing. Needs `make python`."""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import ROOT, Checks, torch_or_exit  # noqa: E402

c = Checks()
torch = torch_or_exit(c)

import seqjepa  # noqa: E402
from sj_ref import SeqJEPA, load_strict  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "import_torch.py")
tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
torch.set_num_threads(2)


def tool(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=300)


def case(name, spec, action_dim, size, heads, wrap, mean_std=None):
    torch.manual_seed(len(name))
    model = SeqJEPA(spec, action_dim)
    with torch.no_grad():  # move every parameter and BatchNorm statistic off its init
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for k, b in model.named_buffers():
            if "running_mean" in k:
                b.copy_(0.1 * torch.randn_like(b))
            elif "running_var" in k:
                b.copy_(0.5 + torch.rand_like(b))
    sd = model.state_dict()
    if wrap == "ddp":
        saved = {"model": {"module." + k: v for k, v in sd.items()}, "epoch": 7, "optimizer": {"state": {}}}
    elif wrap == "no-target":
        saved = {k: v for k, v in sd.items() if not k.startswith("target_encoder.")}
        saved["linear_probe.weight"] = torch.zeros(3, 3)
    else:
        saved = sd
    src, dst = os.path.join(tmp, f"{name}.pt"), os.path.join(tmp, f"{name}.safetensors")
    torch.save(saved, src)
    extra = ["--pixel-mean", " ".join(map(str, mean_std[0])), "--pixel-std", " ".join(map(str, mean_std[1]))] \
        if mean_std else []
    r = tool(src, dst, "--size", str(size), "--heads", str(heads), *extra)
    if not c.check(r.returncode == 0, f"{name}: converts", r.stderr[-1500:]):
        return
    print(r.stdout.strip())
    if wrap == "no-target":
        c.check("copy of the encoder" in r.stdout and "linear_probe.weight" in r.stdout,
                f"{name}: says the target was copied and what was left out", r.stdout)
    conv, meta = seqjepa.load_checkpoint(dst, with_metadata=True)
    fresh = SeqJEPA(spec, action_dim)
    if wrap == "no-target":
        for k in list(conv):
            if k.startswith("target_encoder."):
                c.check(np.array_equal(conv[k], conv["encoder." + k[len("target_encoder."):]]),
                        f"{name}: {k} copied from the encoder")
                conv[k] = sd[k].numpy()  # compare the rest against the module
    ok, why = load_strict(fresh, conv)
    c.check(ok, f"{name}: the converted tensors load with strict=True", why)
    if ok:
        c.check(all(torch.equal(fresh.state_dict()[k], sd[k]) for k in sd) or wrap == "no-target",
                f"{name}: every tensor unchanged")
    c.check(meta.get("step") == ("7" if wrap == "ddp" else "0"), f"{name}: step from the saved epoch", meta.get("step"))
    m = seqjepa.load_model(dst)
    c.check(m.image_size == (size, size) and m.action_dim == action_dim, f"{name}: model info")
    rng = np.random.default_rng(2)
    views = rng.integers(0, 256, (4, 3, size, size, 3), dtype=np.uint8)
    acts = rng.standard_normal((4, 2, action_dim)).astype(np.float32)
    z, za = m.embed(views, acts)
    mean = torch.tensor(mean_std[0] if mean_std else [0.5] * 3).view(1, 1, 1, 1, 3)
    std = torch.tensor(mean_std[1] if mean_std else [0.25] * 3).view(1, 1, 1, 1, 3)
    model.eval()
    with torch.no_grad():
        v = torch.from_numpy(np.concatenate([views, views[:, -1:]], 1))
        a = torch.from_numpy(np.concatenate([acts, np.zeros((4, 1, action_dim), np.float32)], 1))
        tz, tza, _, _, _ = model(v, a, 3, mean, std)
    ez = np.linalg.norm(z - tz.view(4, 3, -1).numpy()) / np.linalg.norm(z)
    eza = np.linalg.norm(za - tza.numpy()) / np.linalg.norm(za)
    print(f"{name}: seqjepa on the converted weights vs the PyTorch module: z {ez:.2g}, z_AGG {eza:.2g}")
    c.check(ez < 1e-4 and eza < 1e-4, f"{name}: the C model computes the module's z and z_AGG", f"{ez:.3g} {eza:.3g}")
    m.close()


SMALL = {"widths": [8, 16, 32, 64], "cifar": True, "action_emb": 16, "layers": 2, "heads": 2, "ffn": 4 * 80,
         "pred_hidden": 48}
case("small-ddp", SMALL, 4, 32, 2, "ddp")
case("small-bare-saccade", dict(SMALL, layers=1, heads=4, ffn=2 * 80), 2, 32, 4, "bare", ([0.4, 0.45, 0.5], [0.2, 0.21, 0.22]))
case("small-no-target", SMALL, 4, 32, 2, "no-target")
R18 = {"widths": [64, 128, 256, 512], "cifar": False, "action_emb": 32, "layers": 1, "heads": 4, "ffn": 2 * 544,
       "pred_hidden": 64}
case("resnet18", R18, 4, 64, 4, "bare")

bad = os.path.join(tmp, "bad.pt")
torch.save({"weights": torch.zeros(3)}, bad)
r = tool(bad, os.path.join(tmp, "bad.safetensors"), "--size", "32")
c.check(r.returncode == 1 and "encoder.conv1.weight" in r.stderr and not os.path.exists(os.path.join(tmp, "bad.safetensors")),
        "not a seq-JEPA checkpoint: message, exit 1, nothing written", r.stderr)
r = tool(os.path.join(tmp, "small-ddp.pt"), os.path.join(tmp, "h.safetensors"), "--size", "32", "--heads", "3")
c.check(r.returncode == 1 and "--heads 3" in r.stderr, "heads that do not divide the width", r.stderr)
sys.exit(c.done())
