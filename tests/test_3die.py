"""`seqjepa gen --layout 3diebench` and `train/eval data=DIR` on that layout, end to end
as a user meets them: the tree read back with numpy alone (folders, file names, dtypes
and shapes of the index and latent files, latent ranges, JPEG sizes), the authors'
path rule, refusal of a non-empty folder, training and evaluation from the tree, and
damaged files named in the error. Needs OpenGL (objects3d); run by tests/run.sh."""
import os
import re
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import EXE, Checks, run  # noqa: E402

checks = Checks()
check = checks.check


CFG = "configs/objects3d-quick.ini"
# 4 classes x 6 instances, 2 held out: 16 training and 8 held-out objects of 50 views.
WORLD = ["env.size=32", "env.n_classes=4", "env.instances=6", "env.heldout=0.34", "gen.train_seqs=16",
         "gen.val_seqs=8", "gen.views=50", "gen.seed=3"]
TINY = ["model.width=4", "model.action_emb=16", "model.layers=1", "model.pred_hidden=32", "train.batch=8",
        "train.m_train=2", "train.log_every=2", "train.steps=4", "train.threads=2", "eval.m_max=3",
        "eval.train_seqs=16", "eval.test_seqs=8", "eval.mlp_hidden=16", "eval.mlp_epochs=2"]


def jpeg_size(b):
    """(height, width) from a JPEG's start-of-frame segment."""
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        m, n = b[i + 1], b[i + 2] << 8 | b[i + 3]
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return (b[i + 5] << 8 | b[i + 6], b[i + 7] << 8 | b[i + 8])
        i += 2 + n
    return None


def main():
    tmp = tempfile.mkdtemp()
    try:
        d = os.path.join(tmp, "die")
        r = run("gen", CFG, "--layout", "3diebench", "--out", d, "--quiet", *WORLD)
        check(r.returncode == 0, "gen --layout 3diebench", r.stderr)
        if r.returncode:
            return
        check("16 train + 8 val objects of 50 views" in r.stdout, "gen summary", r.stdout)
        check(not [f for f in os.listdir(tmp) if f.startswith(".")], "no temporary folder left", os.listdir(tmp))

        # The index files as the authors' loaders read them (np.load, no pickle).
        rows, labels = {}, {}
        for split, n in (("train", 16), ("val", 8)):
            im = np.load(os.path.join(d, f"{split}_images.npy"))
            lab = np.load(os.path.join(d, f"{split}_labels.npy"))
            check(im.dtype == np.dtype("<U43") and im.shape == (n,), f"{split}_images dtype/shape", f"{im.dtype} {im.shape}")
            check(lab.dtype == np.int64 and lab.shape == (n,), f"{split}_labels dtype/shape", f"{lab.dtype} {lab.shape}")
            check(all(re.fullmatch(r"/\d{8}/[0-9a-f]{32}/", s) for s in im), f"{split} rows are /SYNSET/OBJECT/", im[:2])
            rows[split], labels[split] = list(im), lab
        synsets = sorted({s.split("/")[1] for s in rows["train"] + rows["val"]})
        check(len(synsets) == 4, "four synsets", synsets)
        for split in ("train", "val"):
            check([synsets.index(s.split("/")[1]) for s in rows[split]] == list(labels[split]),
                  f"{split} labels are the synsets' ranks")
        check(not set(rows["train"]) & set(rows["val"]), "no object in both splits")
        check(len(set(rows["train"])) == 16 and len(set(rows["val"])) == 8, "objects listed once")
        # Held-out objects are the world's last instances.
        inst = lambda s: int(s.split("/")[2], 16)
        check(max(map(inst, rows["train"])) < min(map(inst, rows["val"])), "val holds the held-out instances")

        # Every object folder: image_{i}.jpg and latent_{i}.npy for i < 50, nothing else.
        want = {f"image_{i}.jpg" for i in range(50)} | {f"latent_{i}.npy" for i in range(50)}
        lat = []
        sizes = set()
        for s in rows["train"] + rows["val"]:
            folder = os.path.join(d, s[1:])  # the authors' rule: root / row[1:]
            check(set(os.listdir(folder)) == want, f"files of {s}")
            for i in range(50):
                a = np.load(os.path.join(folder, f"latent_{i}.npy"))
                check(a.dtype == np.float64 and a.shape == (7,), f"{s}latent_{i} dtype/shape", f"{a.dtype} {a.shape}")
                lat.append(a)
            for i in (0, 49):
                sizes.add(jpeg_size(open(os.path.join(folder, f"image_{i}.jpg"), "rb").read()))
        check(sizes == {(32, 32)}, "views are 32x32 JPEGs", sizes)
        lat = np.array(lat)
        # Latent order and ranges: Euler XYZ in [-pi/2, pi/2], floor hue in [0, 1],
        # spot theta in [0, pi/4], spot phi in [0, 2 pi], spot hue in [0, 1]; each drawn
        # afresh per view, so the spreads fill the ranges.
        lo = np.array([-np.pi / 2] * 3 + [0, 0, 0, 0])
        hi = np.array([np.pi / 2] * 3 + [1, np.pi / 4, 2 * np.pi, 1])
        check(((lat >= lo - 1e-9) & (lat <= hi + 1e-9)).all(), "latents within the 3DIEBench ranges")
        check((lat.max(0) - lat.min(0) > 0.9 * (hi - lo)).all(), "latents spread over their ranges",
              lat.max(0) - lat.min(0))
        check(np.unique(lat[:, 0]).size == lat.shape[0], "every view draws its rotation")

        # A non-empty folder is refused, and the tree stays whole; --force replaces it.
        before = sorted(os.listdir(d))
        r = run("gen", CFG, "--layout", "3diebench", "--out", d, "--quiet", *WORLD)
        check(r.returncode == 1 and "not empty" in r.stderr, "non-empty folder refused", r.stderr)
        check(sorted(os.listdir(d)) == before, "refused folder untouched")
        small = os.path.join(tmp, "small")
        few = [*WORLD, "gen.train_seqs=2", "gen.val_seqs=1", "gen.views=2"]
        r = run("gen", CFG, "--layout", "3diebench", "--out", small, "--quiet", *few)
        check(r.returncode == 0 and "note: the authors' dataset classes draw views from 50" in r.stdout,
              "fewer than 50 views noted", r.stdout + r.stderr)
        first = np.load(os.path.join(small, rows["train"][0][1:], "latent_0.npy"))
        check(np.array_equal(first, lat[0]), "a view's latent depends on the seed, class, instance and view alone")
        r = run("gen", CFG, "--layout", "3diebench", "--out", small, "--quiet", "--force", *few, "gen.seed=4")
        check(r.returncode == 0, "--force replaces a tree in the layout", r.stderr)
        a = np.load(os.path.join(small, rows["train"][0][1:], "latent_0.npy"))
        check(not np.allclose(a, lat[0]), "the replacing tree is the new seed's")
        check(not [f for f in os.listdir(tmp) if f.startswith(".")], "no temporary or set-aside folder left",
              os.listdir(tmp))
        other = os.path.join(tmp, "other")
        os.makedirs(other)
        open(os.path.join(other, "keep.txt"), "w").write("x")
        r = run("gen", CFG, "--layout", "3diebench", "--out", other, "--quiet", "--force", *WORLD)
        check(r.returncode == 1 and "holds other files" in r.stderr and os.listdir(other) == ["keep.txt"],
              "--force leaves a folder of other files alone", r.stderr)
        r = run("gen", CFG, "--layout", "3diebench", "--out", os.path.join(tmp, "big"), *WORLD, "gen.train_seqs=17")
        check(r.returncode == 1 and "holds 16 objects" in r.stderr, "more objects than the split holds", r.stderr)

        # Training and evaluation from the tree.
        run_dir = os.path.join(tmp, "run")
        r = run("train", CFG, f"data={d}", f"train.out={run_dir}", "--quiet", *WORLD, *TINY)
        check(r.returncode == 0 and "trained after 4 steps" in r.stdout, "train data=DIR", r.stderr[-2000:])
        check("16 sequences of 50 views" in r.stderr, "train reads 16 objects of 50 views", r.stderr[-800:])
        ck = os.path.join(run_dir, "checkpoint.safetensors")
        r = run("eval", CFG, "--ckpt", ck, f"data={d}", *WORLD, *TINY)
        check(r.returncode == 0, "eval data=DIR", r.stderr[-2000:])
        check("16 + 8 sequences of 4 views" in r.stderr, "eval reads train and val objects", r.stderr[-800:])
        # A smaller view side resamples the JPEGs.
        r = run("train", CFG, f"data={d}", f"train.out={run_dir}16", "--quiet", *WORLD, *TINY, "env.size=16")
        check(r.returncode == 0, "train at 16 px from 32 px views", r.stderr[-1000:])

        # Damaged files: the error names the file.
        obj0 = os.path.join(d, rows["train"][0][1:])
        jpg = os.path.join(obj0, "image_7.jpg")
        raw = open(jpg, "rb").read()
        open(jpg, "wb").write(raw[: len(raw) // 2])
        r = run("train", CFG, f"data={d}", f"train.out={run_dir}x", "--quiet", *WORLD, *TINY)
        check(r.returncode == 1 and jpg in r.stderr and "truncated" in r.stderr, "truncated JPEG named", r.stderr[-600:])
        open(jpg, "wb").write(raw)
        bad = os.path.join(d, rows["train"][2][1:], "latent_1.npy")
        np.save(bad, np.zeros(9))
        r = run("eval", CFG, "--ckpt", ck, f"data={d}", *WORLD, *TINY)
        check(r.returncode == 1 and bad in r.stderr and "float64 [7]" in r.stderr, "latent of the wrong shape named",
              r.stderr[-600:])
        check("Traceback" not in r.stderr and "assert" not in r.stderr.lower(), "no crash on the wrong latent")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(checks.done())
