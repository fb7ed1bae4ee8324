"""`seqjepa gen` end to end on the objects3d world (OpenGL) and the saccade world, as a
user meets it: datasets read back with numpy alone (shapes, dtypes, checksums, the
latent algebra, the split by object), previews, SIGKILL and Ctrl-C then the same
command again, mismatch refusal, unwritable and full folders, and training and
evaluation from a dataset. Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import EXE, Checks, run  # noqa: E402

checks = Checks()
check = checks.check


O3 = ["env.kind=objects3d", "env.size=32", "env.n_classes=6", "env.instances=5", "env.heldout=0.4",
      "gen.train_seqs=60", "gen.val_seqs=20", "gen.views=4", "gen.shard_size=16", "gen.lanes=16"]
SAC = ["env.kind=saccade", "env.size=16", "env.scene_size=48", "env.fovea=16", "env.n_scenes=40",
       "gen.train_seqs=30", "gen.val_seqs=10", "gen.views=5", "gen.shard_size=8"]
TINY_MODEL = ["model.width=4", "model.action_emb=16", "model.layers=1", "model.pred_hidden=32", "train.batch=8",
              "train.m_train=2", "train.log_every=2", "train.steps=6", "train.threads=2", "eval.m_max=3",
              "eval.train_seqs=40", "eval.test_seqs=16", "eval.mlp_hidden=32", "eval.mlp_epochs=3", "eval.retr_seqs=16"]


def tree(d):
    """Relative path -> bytes of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def qmul(a, b):
    w1, x1, y1, z1 = np.moveaxis(a, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(b, -1, 0)
    return np.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], -1)


def read_dataset(d):
    """Loads every array of a dataset with numpy, checking the manifest's shapes, dtypes,
    sizes and CRC-32 on the way; returns (manifest, {split: {name: concatenated array}})."""
    m = json.load(open(os.path.join(d, "manifest.json")))
    data = {}
    for split in ("train", "val"):
        arrays = {}
        for sh in m["splits"][split]["shards"]:
            for f in sh["files"]:
                p = os.path.join(d, split, sh["name"], f["name"])
                raw = open(p, "rb").read()
                check(len(raw) == f["bytes"] and zlib.crc32(raw) == f["crc32"], f"{split}/{sh['name']}/{f['name']} crc")
                a = np.load(p, mmap_mode="r")
                check(list(a.shape) == f["shape"] and str(a.dtype) == f["dtype"], f"{p} shape/dtype",
                      f"{a.shape} {a.dtype} vs {f['shape']} {f['dtype']}")
                arrays.setdefault(f["name"][:-4], []).append(np.array(a))
        data[split] = {k: np.concatenate(v) for k, v in arrays.items()}
    return m, data


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    cfg = os.path.join(tmp, "tiny.ini")
    open(cfg, "w").write("[env]\nkind = objects3d\n[train]\nlog_every = 2\n")

    r = run("--help")
    check(r.returncode == 0 and "gen" in r.stdout, "--help lists gen")
    r = run("gen", "--help")
    check(r.returncode == 0 and "usage: seqjepa gen" in r.stdout and "manifest.json" in r.stdout, "gen --help")
    r = run("gen", cfg)
    check(r.returncode == 2 and "--out DIR is required" in r.stderr, "gen without --out exits 2", r.stderr)
    r = run("gen", cfg, "--out", os.path.join(tmp, "x"), "gen.views=1")
    check(r.returncode == 1 and "views" in r.stderr and "out of range" in r.stderr, "gen.views=1 refused", r.stderr)

    # objects3d: a dataset read back with numpy alone.
    d1 = os.path.join(tmp, "o3")
    r = run("gen", cfg, "--out", d1, *O3, "--preview", "--quiet")
    check(r.returncode == 0 and "60 train + 20 val" in r.stdout, "objects3d gen", r.stderr[-2000:])
    m, data = read_dataset(d1)
    check(m["format"] == "seqjepa-dataset" and m["version"] == 1 and m["views"] == 4 and m["agent"] == "iid",
          "manifest header", str({k: m[k] for k in ("format", "version", "views", "agent")}))
    env = m["env"]
    check(env["kind"] == "objects3d" and env["height"] == 32 and env["action_dim"] == 4 and env["latent_dim"] == 11
          and env["action_names"] == ["dq_w", "dq_x", "dq_y", "dq_z"] and env["latent_names"][:4] == ["q_w", "q_x", "q_y", "q_z"],
          "manifest env spec", str(env))
    check(m["config"]["gen"]["train_seqs"] == 60 and m["config"]["env"]["size"] == 32 and "[gen]" in m["config_ini"],
          "manifest config")
    check(m["splits"]["train"]["sequences"] == 60 and len(m["splits"]["train"]["shards"]) == 4
          and len(m["splits"]["val"]["shards"]) == 2, "shard counts")
    tr, va = data["train"], data["val"]
    check(tr["images"].shape == (60, 4, 32, 32, 3) and tr["images"].dtype == np.uint8, "images [N,T,H,W,3] uint8")
    check(tr["actions"].shape == (60, 3, 4) and tr["actions"].dtype == np.float32, "actions [N,T-1,A] float32")
    check(tr["latents"].shape == (60, 4, 11) and tr["labels"].shape == (60,) and tr["labels"].dtype == np.int32,
          "latents and labels")
    check(tr["images"].std() > 10, "views are not blank")
    check(np.all((tr["labels"] >= 0) & (tr["labels"] < 6)), "labels in range")
    # The action is the relative rotation: q_{t+1} = q_t * a_t (up to sign).
    q = tr["latents"][..., :4].astype(np.float64)
    a = tr["actions"].astype(np.float64)
    pred = qmul(q[:, :-1], a)
    err = np.minimum(np.abs(pred - q[:, 1:]).max(-1), np.abs(pred + q[:, 1:]).max(-1))
    check(err.max() < 1e-5, "latent rotation composes with the actions", f"max error {err.max()}")
    check(np.allclose(np.linalg.norm(a, axis=-1), 1, atol=1e-5), "unit quaternion actions")
    # Splits by object instance, never by view.
    check(not set(tr["instances"].tolist()) & set(va["instances"].tolist()), "train and val objects are disjoint")
    pngs = sorted(os.listdir(os.path.join(d1, "preview")))
    check(pngs == ["train-shard-0000%d.png" % i for i in range(4)] + ["val-shard-00000.png", "val-shard-00001.png"],
          "a preview per shard", str(pngs))
    check(open(os.path.join(d1, "preview", pngs[0]), "rb").read(8) == b"\x89PNG\r\n\x1a\n", "previews are PNG")

    # Determinism: other threads and lanes give the same bytes (previews aside).
    d2 = os.path.join(tmp, "o3b")
    r = run("gen", cfg, "--out", d2, *O3, "gen.threads=1", "gen.lanes=5", "--quiet")
    t1 = {k: v for k, v in tree(d1).items() if not k.startswith("preview")}
    check(r.returncode == 0 and t1 == tree(d2), "regenerated with 1 thread: the same bytes", r.stderr[-1000:])

    # SIGKILL at a random moment, then the same command: equal to the uninterrupted run.
    big = O3 + ["gen.train_seqs=240", "gen.val_seqs=48", "gen.shard_size=24"]
    ref = os.path.join(tmp, "ref")
    t0 = time.time()
    r = run("gen", cfg, "--out", ref, *big, "--quiet")
    full = time.time() - t0
    check(r.returncode == 0, "reference run", r.stderr[-1000:])
    kd = os.path.join(tmp, "killed")
    rnd = random.Random()
    for k in range(2):
        p = subprocess.Popen([EXE, "gen", cfg, "--out", kd, *big, "--quiet"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        # The first kill as soon as a shard is complete, the second at a random moment.
        def complete():
            return sum(1 for s in ("train", "val") if os.path.isdir(os.path.join(kd, s))
                       for n in os.listdir(os.path.join(kd, s)) if n.startswith("shard-"))

        t0 = time.time()
        while complete() <= k and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.005)
        time.sleep(0 if k == 0 else rnd.uniform(0, 0.5) * full)
        p.send_signal(signal.SIGKILL)
        p.wait()
        print(f"killed after {complete()} of 12 shards", file=sys.stderr)
    r = run("gen", cfg, "--out", kd, *big, "--quiet")
    check(r.returncode == 0, "resumed run", r.stderr[-1000:])
    check(tree(kd) == tree(ref), "killed twice and resumed: equal to the uninterrupted run byte for byte")

    # Ctrl-C: exit 130, a message, no manifest; the same command then finishes.
    cd = os.path.join(tmp, "ctrlc")
    p = subprocess.Popen([EXE, "gen", cfg, "--out", cd, *big], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    # Signal only once the run is under way (its handler is installed after start-up,
    # which includes a re-exec to pick OpenBLAS kernels): a shard folder appears.
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 60 and not any(
            os.path.isdir(os.path.join(cd, s)) and os.listdir(os.path.join(cd, s)) for s in ("train", "val")):
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=120)
    if p.returncode == 0:
        print("the run finished before Ctrl-C", file=sys.stderr)
    else:
        check(p.returncode == 130 and "run the same command again" in se
              and not os.path.exists(os.path.join(cd, "manifest.json")), "Ctrl-C stops cleanly", f"{p.returncode} {se[-500:]}")
    r = run("gen", cfg, "--out", cd, *big, "--quiet")
    check(r.returncode == 0 and tree(cd) == tree(ref), "finished after Ctrl-C: equal to the uninterrupted run")

    # Another config in the same folder: refused, the differences named, nothing touched.
    before = tree(ref)
    r = run("gen", cfg, "--out", ref, *big, "gen.views=5", "env.size=48", "--quiet")
    check(r.returncode == 1 and "gen.views is 4 there, 5 here" in r.stderr and "env.size is 32 there, 48 here" in r.stderr,
          "mismatch refused with the keys", r.stderr)
    check(tree(ref) == before, "a refused run changes nothing")
    # Keys that only change the speed are not a mismatch.
    r = run("gen", cfg, "--out", ref, *big, "gen.threads=1", "gen.lanes=7", "--quiet")
    check(r.returncode == 0 and "0 made, 12 kept" in r.stdout and tree(ref) == before, "speed keys are no mismatch",
          r.stdout + r.stderr[-500:])

    # Unwritable folder, and a full disk (a file size limit): clear errors, no shard visible.
    plain = os.path.join(tmp, "plain")
    open(plain, "w").write("x")
    r = run("gen", cfg, "--out", os.path.join(plain, "d"), *O3, "--quiet")
    check(r.returncode == 1 and "plain" in r.stderr and "seqjepa gen:" in r.stderr, "folder under a file", r.stderr)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))

    fd = os.path.join(tmp, "full")
    r = run("gen", cfg, "--out", fd, *O3, "--quiet", preexec_fn=limit)
    visible = [k for k in tree(fd) if k.startswith(("train/shard-", "val/shard-"))]
    check(r.returncode == 1 and "File too large" in r.stderr and "images.npy" in r.stderr, "full disk: clear error",
          r.stderr)
    check(not visible and not os.path.exists(os.path.join(fd, "manifest.json")), "no partial shard visible",
          str(visible))

    # saccade: scenes and saliency maps, fixations that add up exactly.
    ds = os.path.join(tmp, "sac")
    r = run("gen", cfg, "--out", ds, *SAC, "--quiet", "--preview")
    check(r.returncode == 0, "saccade gen", r.stderr[-1000:])
    m, data = read_dataset(ds)
    tr = data["train"]
    check(m["env"]["kind"] == "saccade" and m["env"]["scene_size"] == 48 and m["agent"] == "saliency", "saccade spec")
    check(tr["scenes"].shape == (30, 48, 48, 3) and tr["saliency"].shape == (30, 48, 48)
          and tr["scenes"].dtype == np.uint8 and tr["saliency"].dtype == np.float32, "scenes and saliency")
    check(np.allclose(tr["saliency"].sum((1, 2)), 1, atol=1e-4), "saliency maps sum to 1")
    check(np.array_equal(np.cumsum(tr["actions"], 1, dtype=np.float32), tr["latents"][:, 1:] - tr["latents"][:, :1]),
          "summed saccades equal the fixation moves exactly")

    # Training and evaluation from a dataset (data= is train.data).
    run_dir = os.path.join(tmp, "run")
    r = run("train", cfg, *TINY_MODEL, f"train.out={run_dir}", f"data={d1}", "--quiet")
    check(r.returncode == 0 and "trained after 6 steps" in r.stdout, "train from a dataset", r.stderr[-2000:])
    log = open(os.path.join(run_dir, "log.csv")).read().splitlines()
    check(len(log) == 4 and all(np.isfinite(float(l.split(",")[1])) for l in log[1:]), "finite losses", str(log))
    r2 = run("train", cfg, *TINY_MODEL, f"train.out={run_dir}2", f"train.data={d1}", "--quiet")
    log2 = open(os.path.join(run_dir + "2", "log.csv")).read().splitlines()
    check(r2.returncode == 0 and [l.split(",")[:2] for l in log] == [l.split(",")[:2] for l in log2],
          "reproducible from the dataset")
    ck = os.path.join(run_dir, "checkpoint.safetensors")
    r = run("eval", cfg, *TINY_MODEL, "--ckpt", ck, f"data={d1}")
    check(r.returncode == 0 and "from the dataset" in r.stdout and "Path integration: next-view retrieval" in r.stdout, "eval on the dataset",
          r.stderr[-2000:])
    ev = json.load(open(os.path.join(run_dir, "eval.json")))
    check(ev.get("data") == d1 and ev.get("train_seqs") == 40 and ev.get("test_seqs") == 16, "eval.json names the data",
          str({k: ev.get(k) for k in ("data", "train_seqs", "test_seqs")}))
    r = run("train", cfg, *TINY_MODEL, "train.m_train=4", f"train.out={run_dir}3", f"data={d1}", "--quiet")
    check(r.returncode == 1 and "4 views per sequence" in r.stderr and "m_train = 4" in r.stderr,
          "too few views for m_train", r.stderr)
    r = run("eval", cfg, *TINY_MODEL, "eval.m_max=5", "--ckpt", ck, f"data={d1}")
    check(r.returncode == 1 and "eval.m_max <= 3" in r.stderr, "too few views for m_max", r.stderr)
    r = run("train", cfg, *TINY_MODEL, f"data={kd}x", "--quiet")
    check(r.returncode == 1 and "not a dataset" in r.stderr, "missing dataset named", r.stderr)

    return checks.done()


sys.exit(main())
