"""The seqjepa command end to end, as a user meets it: help and usage errors, a tiny
on-line training run, Ctrl-C, eval, embed read back with numpy, and hostile inputs.
Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

EXE = os.environ.get("SEQJEPA_EXE", "bin/seqjepa")
passed = failed = 0


def check(cond, what, extra=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} {extra}", file=sys.stderr)


def run(*args, **kw):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=kw.get("timeout", 300))


TINY = ["env.size=32", "env.instances=4", "model.width=4", "model.action_emb=16", "model.layers=1",
        "model.pred_hidden=32", "train.batch=8", "train.m_train=2", "train.log_every=2", "eval.m_max=3",
        "eval.train_seqs=64", "eval.test_seqs=32", "eval.mlp_hidden=32", "eval.mlp_epochs=3", "train.threads=2"]


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    cfg = "configs/objects3d-quick.ini"

    r = run("--help")
    check(r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout, "--help lists commands")
    for sub in ("train", "eval", "embed", "bench", "version"):
        r = run(sub, "--help")
        check(r.returncode == 0 and "usage" in r.stdout, f"{sub} --help")
    r = run("frobnicate")
    check(r.returncode == 2 and "unknown command" in r.stderr, "unknown command exits 2")
    r = run("train", cfg, "--frobnicate")
    check(r.returncode == 2 and "unknown option '--frobnicate'" in r.stderr, "unknown flag exits 2", r.stderr)
    r = run("train", os.path.join(tmp, "missing.ini"))
    check(r.returncode == 1 and "missing.ini" in r.stderr, "missing config named", r.stderr)
    r = run("train", cfg, "model.depth=3")
    check(r.returncode == 1 and "unknown key 'depth'" in r.stderr, "unknown override key", r.stderr)
    r = run("train", cfg, "train.batch=1")
    check(r.returncode == 1 and "out of range" in r.stderr, "out-of-range override", r.stderr)
    bad = os.path.join(tmp, "bad.ini")
    open(bad, "w").write("[env]\nsize = 32\n[train]\nsteps = ten\n")
    r = run("train", bad)
    check(r.returncode == 1 and "bad.ini:4" in r.stderr and "ten" in r.stderr, "bad number names file:line", r.stderr)

    out = os.path.join(tmp, "run")
    r = run("train", cfg, *TINY, "train.steps=6", f"train.out={out}", "--quiet")
    check(r.returncode == 0, "tiny training run", r.stderr[-2000:])
    ckpt = os.path.join(out, "checkpoint.safetensors")
    check(os.path.exists(ckpt) and os.path.exists(os.path.join(out, "checkpoint.state.safetensors")), "checkpoint files")
    log = open(os.path.join(out, "log.csv")).read().splitlines()
    check(log[0].startswith("step,loss,lr,tau") and len(log) == 4, "log.csv has a header and 3 rows", str(log))
    loss = [float(l.split(",")[1]) for l in log[1:]]
    check(all(np.isfinite(loss)), "finite losses")

    # Same config, seed and threads: the same loss curve, bit for bit.
    out2 = os.path.join(tmp, "run2")
    r = run("train", cfg, *TINY, "train.steps=6", f"train.out={out2}", "--quiet")
    log2 = open(os.path.join(out2, "log.csv")).read().splitlines()
    check([l.split(",")[:4] for l in log[1:]] == [l.split(",")[:4] for l in log2[1:]], "reproducible loss curve")

    # Ctrl-C: saves a checkpoint and exits 0.
    out3 = os.path.join(tmp, "run3")
    p = subprocess.Popen([EXE, "train", cfg, *TINY, "train.steps=100000", f"train.out={out3}", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=120)
    check(p.returncode == 0 and "interrupted" in so and os.path.exists(os.path.join(out3, "checkpoint.safetensors")),
          "SIGINT saves and exits 0", f"rc={p.returncode} {so} {se[-500:]}")

    # eval writes eval.json and eval.md and prints the table.
    r = run("eval", cfg, *TINY, "--ckpt", ckpt)
    check(r.returncode == 0 and "path-int. R^2" in r.stdout, "eval runs", r.stderr[-2000:])
    ev = json.load(open(os.path.join(out, "eval.json")))
    res = ev.get("results", {})
    check(len(res.get("pathint_r2", [])) == 3 and 0 <= res.get("top1_z", -1) <= 1 and "config" in ev, "eval.json fields")

    # embed: shapes from numpy, and errors that say which shape disagrees.
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (5, 3, 32, 32, 3), dtype=np.uint8)
    acts = rng.standard_normal((5, 2, 4)).astype(np.float32)
    np.save(os.path.join(tmp, "V.npy"), views)
    np.save(os.path.join(tmp, "A.npy"), acts)
    eo = os.path.join(tmp, "emb")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--out", eo)
    check(r.returncode == 0, "embed runs", r.stderr)
    if r.returncode == 0:
        z, za = np.load(os.path.join(eo, "z.npy")), np.load(os.path.join(eo, "z_agg.npy"))
        check(z.shape == (5, 3, 32) and za.shape == (5, 48) and z.dtype == np.float32, "embed shapes", f"{z.shape} {za.shape}")
        check(np.isfinite(z).all() and np.isfinite(za).all(), "embed finite")
        zt = np.load(os.path.join(eo, "z_target.npy"))
        check(zt.shape == z.shape and np.isfinite(zt).all(), "embed target encodings", f"{zt.shape}")
        check(not os.path.exists(os.path.join(eo, "z_hat.npy")), "no predictions without --next")
    np.save(os.path.join(tmp, "N.npy"), acts[:, 0])
    eo2 = os.path.join(tmp, "emb2")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--next", os.path.join(tmp, "N.npy"), "--out", eo2)
    check(r.returncode == 0, "embed --next runs", r.stderr)
    if r.returncode == 0:
        zh = np.load(os.path.join(eo2, "z_hat.npy"))
        check(zh.shape == (5, 32) and np.isfinite(zh).all(), "embed predictions", f"{zh.shape}")
        # a prediction depends on the action it is given
        np.save(os.path.join(tmp, "N2.npy"), acts[:, 1])
        r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
                "--next", os.path.join(tmp, "N2.npy"), "--out", os.path.join(tmp, "emb3"))
        zh2 = np.load(os.path.join(tmp, "emb3", "z_hat.npy")) if r.returncode == 0 else zh
        check(np.abs(zh2 - zh).max() > 1e-6, "prediction follows the next action")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--next", os.path.join(tmp, "A.npy"), "--out", eo2)
    check(r.returncode == 1 and "[5, 4]" in r.stderr, "embed --next shape error", r.stderr)
    np.save(os.path.join(tmp, "A2.npy"), acts[:, :1])
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A2.npy"),
            "--out", eo)
    check(r.returncode == 1 and "A2.npy" in r.stderr and "[5, 2, 4]" in r.stderr, "embed action shape error", r.stderr)
    np.save(os.path.join(tmp, "V2.npy"), views[:, :, :16])
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V2.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--out", eo)
    check(r.returncode == 1 and "V2.npy" in r.stderr, "embed view shape error", r.stderr)

    # A truncated checkpoint: a clear error and nothing overwritten.
    raw = open(ckpt, "rb").read()
    trunc = os.path.join(tmp, "trunc", "checkpoint.safetensors")
    os.makedirs(os.path.dirname(trunc))
    open(trunc, "wb").write(raw[: len(raw) // 2])
    r = run("eval", cfg, *TINY, "--ckpt", trunc)
    check(r.returncode == 1 and "trunc" in r.stderr and not os.path.exists(os.path.join(tmp, "trunc", "eval.json")),
          "truncated checkpoint refused", r.stderr)
    # A checkpoint evaluated with a config of another view size: named mismatch.
    r = run("eval", cfg, *TINY, "env.size=48", "--ckpt", ckpt)
    check(r.returncode == 1 and "32x32" in r.stderr and "48x48" in r.stderr, "size mismatch named", r.stderr)
    # Resume under another config is refused and leaves the checkpoint alone.
    before = open(ckpt, "rb").read()
    r = run("train", cfg, *TINY, "train.steps=8", "optim.lr=0.5", f"train.out={out}", "--resume", "--quiet")
    check(r.returncode == 1 and "different config" in r.stderr and open(ckpt, "rb").read() == before,
          "resume with another config refused", r.stderr)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


sys.exit(main())
