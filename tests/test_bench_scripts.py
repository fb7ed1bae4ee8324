"""The measurement scripts under bench/ that docs/benchmarks.md quotes for the saccade
world: bench/data_baselines.py --pose reads the fixation of a saccade dataset (and the
rotation of an objects3d one), from raw pixels by ridge and with a trained CNN, and
refuses a folder without a manifest, naming it; on a turntable (env.rotation = yaw) every
R^2 is a number, since the scripts leave a constant column out as the C probes do;
bench/retrieval_location_bound.py gives 1 for an exact location read, chance for a
read that says nothing, rises with the read's R^2, and refuses an R^2 outside (0, 1];
data_baselines.py --inverse trains an encoder from views and actions alone and saves it.
Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "py"))
from pycheck import ROOT, Checks, run, torch_or_exit  # noqa: E402

checks = Checks()
check = checks.check
PY = "/usr/bin/python3"
BASELINES = os.path.join(ROOT, "bench", "data_baselines.py")
BOUND = os.path.join(ROOT, "bench", "retrieval_location_bound.py")


def script(*args):
    return subprocess.run([PY, *args], capture_output=True, text=True, timeout=600)


def location_bound():
    p = script(BOUND, "--r2", "1", "0.001", "0.5", "0.9", "--n", "40000")
    check(p.returncode == 0, "retrieval_location_bound runs", p.stderr[-2000:])
    got = dict((float(a), float(b)) for a, b in re.findall(r"R\^2 ([0-9.]+): top-1 ([0-9.]+)", p.stdout))
    check(len(got) == 4, "a line for every R^2", p.stdout)
    if len(got) != 4:
        return
    check(got[1.0] == 1.0, "an exact location read retrieves every next view", str(got))
    check(abs(got[0.001] - 0.125) < 0.01, "a read that says nothing is at chance (1/8)", str(got))
    check(got[0.001] < got[0.5] < got[0.9] < got[1.0], "rises with the read's R^2", str(got))
    p = script(BOUND, "--r2", "1.5")
    check(p.returncode == 2 and "1.5" in p.stderr, "an R^2 above 1 refused, named", p.stderr)
    p = script(BOUND, "--k", "50")
    check(p.returncode == 2 and "--k 50" in p.stderr, "more distractors than the pool refused, named", p.stderr)
    p = script(BOUND, "--seen", "3", "--n", "4000")
    seen = [float(x) for x in re.findall(r"M = \d: ([0-9.]+) of the next glimpse", p.stdout)]
    check(p.returncode == 0 and len(seen) == 3 and 0.05 < seen[0] < seen[1] < seen[2] < 1,
          "--seen: the share seen before grows with M", p.stdout + p.stderr)
    p = script(BOUND, "--seen", "1", "--fovea", "0.01", "--n", "4000")
    tiny = [float(x) for x in re.findall(r"M = 1: ([0-9.]+) of the next glimpse", p.stdout)]
    check(p.returncode == 0 and tiny and tiny[0] < 0.01, "--seen with a point-sized fovea: nothing seen before",
          p.stdout + p.stderr)
    p = script(BOUND, "--n", "0")
    check(p.returncode == 2 and "--n 0" in p.stderr, "no sequences refused, named", p.stderr)


def baselines(tmp):
    torch_or_exit(checks)
    for world, cfg, what, extra in (("saccade", "configs/bench/saccade-tiny.ini", "fixation R^2", ()),
                                    ("objects3d", "configs/objects3d-quick.ini", "rotation-matrix R^2", ()),
                                    ("objects3d", "configs/objects3d-quick.ini", "rotation-matrix R^2",
                                     ("env.rotation=yaw",))):
        d = os.path.join(tmp, world + "".join(extra))
        r = run("gen", cfg, "--out", d, "--quiet", "gen.train_seqs=16", "gen.val_seqs=8", "gen.views=3",
                "gen.shard_size=16", *extra)
        check(r.returncode == 0, f"{world}: gen", r.stderr[-2000:])
        if r.returncode != 0:
            continue
        p = script(BASELINES, d, "--pose", "--epochs", "1", "--threads", "1")
        check(p.returncode == 0, f"{world}: data_baselines --pose runs", p.stderr[-2000:])
        check(f"{world}, 48 training views" in p.stdout and f"epoch 1: {what}" in p.stdout,
              f"{world}: reads the world's pose", p.stdout[-1000:])
        check(f"ridge from raw pixels (3072 values, penalty" in p.stdout and f"): {what}" in p.stdout,
              f"{world}: the raw pixels' linear read as well", p.stdout[-1000:])
        check("nan" not in p.stdout.lower() and "RuntimeWarning" not in p.stderr,
              f"{world} {' '.join(extra)}: every R^2 a number (a turntable's fixed rotation axis is left out)",
              p.stdout[-1000:] + p.stderr[-1000:])
    # --inverse: the encoder trained from consecutive views and their actions alone,
    # scored by a ridge to the absolute rotation, saved for bench/pose_init.py
    d = os.path.join(tmp, "objects3d")
    npz = os.path.join(tmp, "inv.npz")
    p = script(BASELINES, d, "--inverse", "--encoder-width", "4", "--epochs", "1", "--threads", "1",
               "--save-encoder", npz)
    check(p.returncode == 0, "data_baselines --inverse runs", p.stderr[-2000:])
    check("32 training pairs of consecutive views (16 sequences of 3)" in p.stdout
          and re.search(r"epoch 1: action rotation-matrix R\^2 -?\d\.\d{3} held-out", p.stdout)
          and re.search(r"absolute rotation matrix \(penalty [0-9.e+-]+\): pose R\^2 -?\d\.\d{3}", p.stdout),
          "--inverse: the action's read, then the encoder's pose read", p.stdout[-1000:])
    if os.path.exists(npz):
        import numpy as np
        enc = np.load(npz)
        check(enc["conv1.weight"].shape == (4, 3, 3, 3) and enc["layer4.1.bn2.weight"].shape == (32,)
              and not any(k.startswith(("0.", "1.", "fc")) for k in enc.files),
              "--inverse --save-encoder: the encoder's tensors alone, under torchvision's names", str(enc.files[:4]))
    else:
        check(False, "--inverse --save-encoder writes the NPZ", p.stdout[-500:])
    for args, want in (((os.path.join(tmp, "saccade"), "--inverse", "--encoder-width", "4"), "an objects3d dataset"),
                       ((d, "--inverse"), "--inverse needs --encoder-width"),
                       ((d, "--inverse", "--pose", "--encoder-width", "4"), "give one")):
        p = script(BASELINES, *args)
        check(p.returncode != 0 and want in p.stderr, f"--inverse refused: {want}", p.stderr[-500:])
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    p = script(BASELINES, empty, "--pose")
    check(p.returncode != 0 and os.path.join(empty, "manifest.json") in p.stderr,
          "a folder without a manifest refused, named", p.stderr)


def r2_rule():
    """The scripts' R^2 follows the C probes' sj_r2_score: columns that vary, averaged
    uniformly; constant ones left out; all constant: 1 if exact, else 0."""
    torch_or_exit(checks)
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import data_baselines
    import embed_probes
    y = np.array([[1, 7], [2, 7], [3, 7], [4, 7]], float)
    q = np.array([[1.5, 7], [1.5, 6], [3.5, 7], [3.5, 7]], float)
    c = np.full((4, 1), 7.0)
    for name, f in (("data_baselines", data_baselines.r2), ("embed_probes", embed_probes.r2)):
        check(abs(f(y, q) - 0.8) < 1e-12 and f(c, c) == 1.0 and f(c, c - 1) == 0.0,
              f"{name}.r2 leaves a constant column out", (f(y, q), f(c, c), f(c, c - 1)))
    # embed_probes.pairs: pair 1 -> 2 alone, or every consecutive pair, each row with the
    # relative rotation of its own action.
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4, 3))
    acts = rng.standard_normal((5, 3, 7))
    x1, y1 = embed_probes.pairs(z, acts, True)
    xa, ya = embed_probes.pairs(z, acts, False)
    check(x1.shape == (5, 6) and y1.shape == (5, 9) and xa.shape == (15, 6) and ya.shape == (15, 9),
          "embed_probes.pairs: one row per sequence, or per consecutive pair", (x1.shape, xa.shape))
    check(np.array_equal(xa[10:15], np.c_[z[:, 2], z[:, 3]]) and np.allclose(ya[10:15], embed_probes.qmat(acts[:, 2, :4])),
          "embed_probes.pairs: the rows of pair 3 -> 4 hold z_3, z_4 and a_3's rotation", "")


def main():
    r2_rule()
    location_bound()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        baselines(tmp)
    return checks.done()


sys.exit(main())
