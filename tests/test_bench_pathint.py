"""The path-integration benchmark end to end on a tiny saccade preset (seconds): the
report's structure, the ideal controls (the oracle's pose probe and retrieval) above
0.95, noise in place of features below 0.05 on the pose probe and near chance on
retrieval, the random model below the oracle, the figures written as PNG files, and
--resume evaluating a finished run again to the same figures."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import Checks, run  # noqa: E402

checks = Checks()
check = checks.check


def main():
    out = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    r = run("bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "--quiet", "bench.seeds=1",
            "train.threads=2")
    check(r.returncode == 0, "bench pathint runs", r.stderr[-3000:])
    if r.returncode != 0:
        return checks.done()
    rep = json.load(open(os.path.join(out, "report.json")))
    rm, k1 = rep.get("retrieval_m_max"), rep.get("retrieval_candidates")
    check(rep.get("m_max") == 6 and rm == 4 and k1 == 8 and rep.get("world") == "saccade"
          and len(rep.get("seeds", [])) == 1, "report header", str(rep)[:300])
    v = rep.get("variants", {})
    check(set(v) == {"seqjepa-m1", "seqjepa-m3", "no-action", "random", "oracle", "noise", "chance", "action only"},
          "all variants and controls", str(list(v)))
    keys = ["top1_z", "top1_agg_mmax", "pose_r2", "equivariance_r2"] + \
        [f"retrieval_{w}_m{M}" for M in range(1, rm + 1) for w in ("top1", "copy")]
    for name, body in v.items():
        s = body.get("summary", {})
        check(all(k in s for k in keys), f"{name}: every summary key", str(s)[:300])
        check(all(f"retrieval_top1_m{M}" in s and s[f"retrieval_top1_m{M}"] is not None for M in range(1, rm + 1)),
              f"{name}: retrieval for every M")
        check(len(body.get("per_seed", [])) == 1 and "retrieval_top1" in body["per_seed"][0], f"{name}: per-seed results")
    for name in ("seqjepa-m1", "seqjepa-m3", "no-action", "random"):
        s = v[name]["summary"]
        check(all(s[k] is not None and "mean" in s[k] and "std" in s[k] for k in keys), f"{name}: measured everywhere")
    get = lambda name, key: (v[name]["summary"].get(key) or {}).get("mean")
    oracle = [get("oracle", f"retrieval_top1_m{M}") for M in range(1, rm + 1)]
    check(min(oracle) > 0.95 and get("oracle", "pose_r2") > 0.95, "oracle (ideal) controls above 0.95",
          f"{oracle} {get('oracle', 'pose_r2')}")
    check(get("noise", "pose_r2") < 0.05, "noise: pose R^2 below 0.05", str(get("noise", "pose_r2")))
    noise = [get("noise", f"retrieval_top1_m{M}") for M in range(1, rm + 1)]
    check(all(abs(x - 1 / k1) < 0.08 for x in noise), "noise: retrieval near chance", str(noise))
    check(all(get("chance", f"retrieval_top1_m{M}") == 1 / k1 for M in range(1, rm + 1)) and get("chance", "pose_r2") == 0,
          "chance: 1/candidates and 0")
    rnd = [get("random", f"retrieval_top1_m{M}") for M in range(1, rm + 1)]
    check(all(x < o for x, o in zip(rnd, oracle)) and get("random", "pose_r2") < get("oracle", "pose_r2"),
          "random model below the oracle", f"{rnd} vs {oracle}")
    check("config" in rep and "[bench]" in rep["config"], "config recorded")
    md = open(os.path.join(out, "report.md")).read()
    check("| oracle |" in md and "| random |" in md and "| action only |" in md and "| noise |" in md
          and "retrieval M=1" in md and "chance 1/8" in md, "report.md tables")
    for png in ("retrieval.png", "loss.png", "pca_z.png", "pca_zagg.png"):
        p = os.path.join(out, png)
        check(os.path.exists(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(p) > 2000, png)
    check(os.path.exists(os.path.join(out, "runs", "seqjepa-m3-seed1", "checkpoint.safetensors")), "variant runs kept")
    # --resume in the same folder: the finished run is only evaluated, to the same figures
    r = run("bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "--quiet", "--resume",
            "bench.seeds=1", "bench.variants=seqjepa-m1", "train.threads=2")
    check(r.returncode == 0 and "resuming seqjepa-m1" in r.stderr and "resuming after step" in r.stderr,
          "--resume continues the finished run", r.stderr[-2000:])
    if r.returncode == 0:
        again = json.load(open(os.path.join(out, "report.json")))["variants"]["seqjepa-m1"]["per_seed"][0]
        first = v["seqjepa-m1"]["per_seed"][0]
        same = {k: x for k, x in first.items() if k != "seconds"} == {k: x for k, x in again.items() if k != "seconds"}
        check(same, "--resume: the same results as the run it continued")
    r = run("bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "bench.variants=seqjepa bogus")
    check(r.returncode == 1 and "unknown variant 'bogus'" in r.stderr, "unknown variant refused", r.stderr)
    r = run("bench", "pathint", "configs/bench/saccade-tiny.ini")
    check(r.returncode == 2 and "--out" in r.stderr, "--out required")
    r = run("bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "--frobnicate")
    check(r.returncode == 2 and r.stderr.startswith("seqjepa bench pathint: unknown option '--frobnicate'"),
          "a bad flag is named under the command as typed", r.stderr[:200])
    return checks.done()


sys.exit(main())
