"""The path-integration benchmark end to end on a tiny saccade preset (seconds): the
report's structure, the oracle's R^2 above 0.99, the random encoder below the oracle,
and the figures written as PNG files."""
import json
import os
import subprocess
import sys
import tempfile

EXE = os.environ.get("SEQJEPA_EXE", "bin/seqjepa")
passed = failed = 0


def check(cond, what, extra=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} {extra}", file=sys.stderr)


def main():
    out = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    r = subprocess.run([EXE, "bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "--quiet",
                        "bench.seeds=1", "train.threads=2"], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, "bench pathint runs", r.stderr[-3000:])
    if r.returncode != 0:
        print(f"{passed} passed, {failed} failed")
        return 1
    rep = json.load(open(os.path.join(out, "report.json")))
    m_max = rep.get("m_max")
    check(m_max == 6 and rep.get("world") == "saccade" and len(rep.get("seeds", [])) == 1, "report header", str(rep)[:300])
    v = rep.get("variants", {})
    check(set(v) == {"seqjepa-m1", "seqjepa-m3", "no-action", "random", "oracle"}, "all variants", str(list(v)))
    for name, body in v.items():
        s = body.get("summary", {})
        check(all(f"pathint_r2_m{M}" in s for M in range(1, m_max + 1)), f"{name}: R^2 for every M")
        if name != "oracle":
            for key in ("top1_z", "top1_agg_mmax", "equivariance_r2", "loop_err", "open_err",
                        f"pathint_r2_zero_actions_m{m_max}", f"pathint_r2_zero_features_m{m_max}"):
                check(key in s and "mean" in s[key] and "std" in s[key], f"{name}: {key}")
    oracle = [v["oracle"]["summary"][f"pathint_r2_m{M}"]["mean"] for M in range(1, m_max + 1)]
    check(min(oracle) > 0.99, "oracle R^2 > 0.99 at every M", str(oracle))
    rnd = [v["random"]["summary"][f"pathint_r2_m{M}"]["mean"] for M in range(2, m_max + 1)]
    check(all(x < o for x, o in zip(rnd, oracle[1:])), "random encoder below the oracle", f"{rnd} vs {oracle}")
    check("config" in rep and "[bench]" in rep["config"], "config recorded")
    md = open(os.path.join(out, "report.md")).read()
    check("| oracle |" in md and "| random |" in md and "closed-loop" in md, "report.md tables")
    for png in ("r2_vs_m.png", "loss.png", "pca_z.png", "pca_zagg.png"):
        p = os.path.join(out, png)
        check(os.path.exists(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(p) > 2000, png)
    check(os.path.exists(os.path.join(out, "runs", "seqjepa-m3-seed1", "checkpoint.safetensors")), "variant runs kept")
    r = subprocess.run([EXE, "bench", "pathint", "configs/bench/saccade-tiny.ini", "--out", out, "bench.variants=seqjepa bogus"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "unknown variant 'bogus'" in r.stderr, "unknown variant refused", r.stderr)
    r = subprocess.run([EXE, "bench", "pathint", "configs/bench/saccade-tiny.ini"], capture_output=True, text=True)
    check(r.returncode == 2 and "--out" in r.stderr, "--out required")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


sys.exit(main())
