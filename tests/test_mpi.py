"""Runs across MPI ranks (mpirun -np 2 on loopback, one machine), as a user starts them:
two ranks end every step with bit-identical parameters (train.check_ranks), two ranks
equal one process with two ghost batches to 1e-5 after 5 steps (and differ from one
process without them, so the comparison can fail), a run interrupted on N ranks resumes
on another N and ends where the uninterrupted run ends, gen on two ranks writes the
same bytes as one process (and training from it equals one process with ghosts), a
rank killed mid-run ends the job with its name and leaves the last checkpoint whole, and
bench pathint shares its variants and reports what one
process reports. Skipped, with the
reason printed, when the build has no MPI. Run by tests/run.sh (SEQJEPA_EXE)."""
import filecmp
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import EXE, Checks  # noqa: E402

checks = Checks()
check = checks.check
# The saccade world: no OpenGL, so the ranks start in a fraction of a second.
CFG = "configs/saccade-quick.ini"

TINY = ["env.n_scenes=64", "model.width=4", "model.action_emb=16", "model.layers=1",
        "model.pred_hidden=32", "train.batch=8", "train.m_train=2", "train.log_every=1", "train.threads=1"]
# Loopback only: shared memory between the ranks of this machine, no network.
MPIRUN = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
          "--mca", "btl_vader_single_copy_mechanism", "none"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl_tcp_if_include="lo",
           OMPI_MCA_oob_tcp_if_include="lo")


def run(args, mpi=False, timeout=300):
    cmd = (MPIRUN if mpi else []) + [EXE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


def tensors(path):
    """Every tensor of a .safetensors file, by name, as float64 (counters too)."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).astype(np.float64)
    return out


def max_diff(a, b):
    ta, tb = tensors(a), tensors(b)
    if set(ta) != set(tb):
        return float("inf")
    return max((float(np.max(np.abs(ta[k] - tb[k]))) if ta[k].size else 0.0) for k in ta)


def ckpt_step(folder):
    b = open(os.path.join(folder, "checkpoint.safetensors"), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return int(json.loads(b[8:8 + n])["__metadata__"]["step"])


def log_rows(folder):
    lines = open(os.path.join(folder, "log.csv")).read().splitlines()
    return [ln.split(",")[0] for ln in lines[1:]]


def interrupt_when_training(cmd, folder, timeout=240):
    """Starts cmd, sends SIGINT once the log holds a row, waits; returns the output."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    t0 = time.time()
    log = os.path.join(folder, "log.csv")
    while time.time() - t0 < timeout and p.poll() is None:
        if os.path.exists(log) and len(open(log).read().splitlines()) >= 2:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=timeout)
    return out


def main():
    v = subprocess.run([EXE, "version"], capture_output=True, text=True).stdout
    if "without MPI" in v:
        print("skipped: this seqjepa was built without MPI (mpicc not found at build time): "
              "install libopenmpi-dev openmpi-bin (make deps as root) and rebuild to run these tests")
        print("0 passed, 0 failed (skipped: no MPI in this build)")
        return 0
    check("with MPI" in v, "version says whether MPI is built in", v)
    if not shutil.which("mpirun"):
        check(False, "the build has MPI but mpirun is missing (apt-get install openmpi-bin)")
        return checks.done()
    tmp = tempfile.mkdtemp(prefix="seqjepa-mpi-")
    try:
        # ---- two ranks against one process with two ghost batches, after 5 steps
        n2, g2, g1 = (os.path.join(tmp, x) for x in ("n2", "g2", "g1"))
        r = run(["train", CFG, *TINY, "train.steps=5", f"train.out={n2}", "train.check_ranks=true", "--quiet"], mpi=True)
        check(r.returncode == 0, "2 ranks train 5 steps, checking after each that they hold identical bytes",
              r.stdout + r.stderr[-3000:])
        check(r.stdout.count("trained after 5 steps") == 1 and "all ranks" in r.stdout,
              "rank 0 alone prints the summary", r.stdout)
        check(os.path.exists(n2) and log_rows(n2) == ["1", "2", "3", "4", "5"],
              "rank 0 alone writes the log (one row per step)", str(log_rows(n2)) if os.path.exists(n2) else "")
        check("2 ranks: gradient sum across ranks" in r.stderr, "the all-reduce time per step is reported", r.stderr[-800:])
        r = run(["train", CFG, *TINY, "train.steps=5", f"train.out={g2}", "train.ghost=2", "--quiet"])
        check(r.returncode == 0, "1 process, 2 ghost batches", r.stderr[-2000:])
        r = run(["train", CFG, *TINY, "train.steps=5", f"train.out={g1}", "--quiet"])
        check(r.returncode == 0, "1 process, 1 batch-norm group", r.stderr[-2000:])
        ck = "checkpoint.safetensors"
        if all(os.path.exists(os.path.join(d, ck)) for d in (n2, g2, g1)):
            d_ghost = max_diff(os.path.join(n2, ck), os.path.join(g2, ck))
            d_plain = max_diff(os.path.join(n2, ck), os.path.join(g1, ck))
            print(f"after 5 steps, max |diff| of every tensor: N=2 vs ghost=2 {d_ghost:g}, N=2 vs one group {d_plain:g}")
            check(d_ghost <= 1e-5, "N=2 equals one process with train.ghost=2 to 1e-5 after 5 steps (every tensor)",
                  f"max |diff| {d_ghost:g}")
            check(d_plain > 1e-5, "control: N=2 differs from one process without ghost batches (the test can fail)",
                  f"max |diff| {d_plain:g}")
            check(log_rows(n2) == log_rows(g2) and open(os.path.join(n2, "log.csv")).read().split("\n")[1].split(",")[1]
                  == open(os.path.join(g2, "log.csv")).read().split("\n")[1].split(",")[1],
                  "the logged loss of step 1 is the same")

        # ---- the inverse warm-up across ranks: the same sums as ghost batches in one process
        i2, ig2 = os.path.join(tmp, "inv-n2"), os.path.join(tmp, "inv-g2")
        warm = ["train.inverse_steps=3", "train.steps=2"]
        r = run(["train", CFG, *TINY, *warm, f"train.out={i2}", "train.check_ranks=true", "--quiet"], mpi=True)
        check(r.returncode == 0, "2 ranks: an inverse warm-up of 3 steps, then 2 of seq-JEPA, identical bytes after each",
              r.stdout + r.stderr[-3000:])
        r = run(["train", CFG, *TINY, *warm, f"train.out={ig2}", "train.ghost=2", "--quiet"])
        check(r.returncode == 0, "1 process, 2 ghost batches, the same warm-up", r.stderr[-2000:])
        for sub in ("inverse", "."):
            a, b = os.path.join(i2, sub, ck), os.path.join(ig2, sub, ck)
            d = max_diff(a, b) if os.path.exists(a) and os.path.exists(b) else float("inf")
            check(d <= 1e-5, f"N=2 equals train.ghost=2 to 1e-5 ({'after the warm-up' if sub == 'inverse' else 'at the end'})",
                  f"max |diff| {d:g}")

        # ---- errors name what is wrong
        r = run(["train", CFG, *TINY, "train.steps=5", f"train.out={tmp}/bad", "train.ranks=3", "--quiet"], mpi=True)
        check(r.returncode != 0 and "train.ranks = 3, but this run has 2 processes" in r.stderr,
              "train.ranks that mpirun did not start is refused", r.stderr[-1500:])
        r = run(["train", CFG, *TINY, "train.steps=5", f"train.out={tmp}/bad", "train.ghost=3", "--quiet"])
        check(r.returncode != 0 and "does not split into 1 rank x 3 ghost batches" in r.stderr,
              "a batch that does not split is refused", r.stderr[-1500:])
        r = run(["eval", n2], mpi=True)
        check(r.returncode != 0 and "runs as one process" in r.stderr, "eval refuses to run as several ranks",
              r.stderr[-800:])

        # ---- interrupted on 2 ranks, resumed on 1 (2 ghosts), and the other way round
        # long enough that Ctrl-C, which mpirun forwards to the ranks, lands mid-run even on
        # an idle machine (60 steps of this tiny model took 1.3 s)
        N = 400
        steps = [f"train.steps={N}", "train.ckpt_every=100000"]
        ref = os.path.join(tmp, "ref")
        r = run(["train", CFG, *TINY, *steps, f"train.out={ref}", "train.ghost=2", "--quiet"])
        check(r.returncode == 0, "reference run, uninterrupted", r.stderr[-1500:])
        for first, then, name in ((True, False, "2 ranks then 1"), (False, True, "1 process then 2 ranks")):
            d = os.path.join(tmp, name.replace(" ", "_"))
            a1 = ["train", CFG, *TINY, *steps, f"train.out={d}", "--quiet"] + ([] if first else ["train.ghost=2"])
            out = interrupt_when_training((MPIRUN if first else []) + [EXE, *a1], d)
            k = ckpt_step(d) if os.path.exists(os.path.join(d, ck)) else -1
            check(0 < k < N and "interrupted" in out, f"{name}: Ctrl-C stops every rank with a checkpoint", f"step {k}: {out[-1500:]}")
            if first:
                check("on rank" in out, f"{name}: the message names the rank that got the signal", out[-800:])
            a2 = ["train", CFG, *TINY, *steps, f"train.out={d}", "--quiet", "--resume"] + ([] if then else ["train.ghost=2"])
            r = run(a2, mpi=then)
            check(r.returncode == 0 and ckpt_step(d) == N, f"{name}: --resume on another number of ranks finishes",
                  r.stderr[-1500:])
            if r.returncode == 0:
                dd = max_diff(os.path.join(d, ck), os.path.join(ref, ck))
                print(f"{name}: interrupted at step {k}, resumed to {N}: max |diff| from the uninterrupted run {dd:g}")
                check(dd <= 1e-5, f"{name}: ends where the uninterrupted run ends (ranks x ghosts kept at 2)",
                      f"max |diff| {dd:g}")

        # ---- gen: two ranks write the bytes one process writes
        gen = ["gen", CFG, "env.n_scenes=64", "gen.train_seqs=40", "gen.val_seqs=12",
               "gen.shard_size=8", "gen.views=4", "--preview", "--quiet"]
        d1, d2 = os.path.join(tmp, "d1"), os.path.join(tmp, "d2")
        r1 = run([*gen, "--out", d1])
        r2 = run([*gen, "--out", d2], mpi=True)
        check(r1.returncode == 0 and r2.returncode == 0, "gen on 1 and on 2 ranks", r1.stderr[-800:] + r2.stderr[-1500:])
        cmp = filecmp.dircmp(d1, d2)

        def same_tree(c):
            if c.left_only or c.right_only or c.diff_files or c.funny_files:
                return False
            _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
            return not mismatch and not errors and all(same_tree(s) for s in c.subdirs.values())
        n_files = sum(len(f) for _, _, f in os.walk(d2))
        check(r2.returncode == 0 and same_tree(cmp) and n_files > 20,
              "gen with 2 ranks is byte-identical to 1 rank (shards, previews, manifest)", f"{n_files} files")
        check(r2.stdout.count("dataset '") == 1 and "7 made" in r2.stdout, "rank 0 alone reports, with every rank's shards",
              r2.stdout)

        # ---- training from that dataset: each rank its rows of every global batch
        if r1.returncode == 0:
            dn, dg = os.path.join(tmp, "dn2"), os.path.join(tmp, "dg2")
            ra = run(["train", CFG, *TINY, "train.steps=3", f"train.data={d1}", f"train.out={dn}", "--quiet"], mpi=True)
            rb = run(["train", CFG, *TINY, "train.steps=3", f"train.data={d1}", f"train.out={dg}", "train.ghost=2", "--quiet"])
            ok = ra.returncode == 0 and rb.returncode == 0
            check(ok, "train from a dataset on 2 ranks and on 1 with 2 ghosts", ra.stderr[-1500:] + rb.stderr[-800:])
            if ok:
                dd = max_diff(os.path.join(dn, ck), os.path.join(dg, ck))
                check(dd <= 1e-5, "from a dataset too, N=2 equals one process with train.ghost=2", f"max |diff| {dd:g}")

        # ---- a rank that dies: mpirun ends the job naming it; the last checkpoint stays whole
        dk = os.path.join(tmp, "killed")
        p = subprocess.Popen(MPIRUN + [EXE, "train", CFG, *TINY, "train.steps=100000", "train.ckpt_every=2",
                                       f"train.out={dk}", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        log, t0, victim = os.path.join(dk, "log.csv"), time.time(), None
        while time.time() - t0 < 240 and p.poll() is None:
            if os.path.exists(log) and len(open(log).read().splitlines()) >= 4:
                break
            time.sleep(0.02)
        for pid in os.listdir("/proc"):
            try:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            except (OSError, ValueError):
                continue
            if b"OMPI_COMM_WORLD_RANK=1" in env and any(e.startswith(b"OMPI_") for e in env) and \
                    f"train.out={dk}".encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                victim = int(pid)
        check(victim is not None, "found rank 1's process")
        if victim:
            os.kill(victim, signal.SIGKILL)
        out, _ = p.communicate(timeout=240)
        check(p.returncode != 0 and "rank 1" in out, "a killed rank ends the job with a message naming it", out[-1500:])
        try:
            ta = tensors(os.path.join(dk, ck))
            k1 = ckpt_step(dk)
            b = open(os.path.join(dk, "checkpoint.state.safetensors"), "rb").read()
            k2 = int(json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["step"])
            whole = len(ta) > 10 and k1 == k2 and k1 >= 2
        except (OSError, ValueError, KeyError):
            whole, k1, k2 = False, -1, -1
        check(whole, "the last checkpoint is whole (both files, the same step)", f"steps {k1} {k2}")

        # ---- bench pathint: the (seed, variant) jobs shared by 2 ranks, the report of 1
        pi = ["bench", "pathint", "configs/bench/saccade-tiny.ini", "--quiet", "bench.seeds=1",
              "bench.variants=seqjepa-m1 random oracle", "train.threads=1"]
        p1, p2 = os.path.join(tmp, "p1"), os.path.join(tmp, "p2")
        r1 = run([*pi, "--out", p1])
        r2 = run([*pi, "--out", p2], mpi=True)
        check(r1.returncode == 0 and r2.returncode == 0, "bench pathint on 1 and on 2 ranks",
              r1.stderr[-800:] + r2.stderr[-1500:])
        if r1.returncode == 0 and r2.returncode == 0:
            def report(d):
                return [ln for ln in open(os.path.join(d, "report.md")).read().splitlines() if "Total time" not in ln]
            check(report(p1) == report(p2), "bench pathint on 2 ranks reports what 1 process reports")
            check(all(filecmp.cmp(os.path.join(p1, f), os.path.join(p2, f), shallow=False)
                      for f in ("retrieval.png", "loss.png", "pca_z.png", "pca_zagg.png")),
                  "and draws the same figures")
            # seqjepa-m1, random, oracle and the controls every table has: noise, chance, action only
            check("6 seed x variant jobs across 2 ranks" in r2.stderr, "it says how the jobs are shared", r2.stderr[-800:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return checks.done()


if __name__ == "__main__":
    sys.exit(main())
