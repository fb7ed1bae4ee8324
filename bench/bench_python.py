"""Batched rollouts from Python (seqjepa.Env.rollout: views rendered by the C library
straight into numpy arrays) against the C rates of the same world from
`seqjepa bench gen`: dataset generation end to end (files written) and its rollout
alone. A benchmark: prints figures, asserts nothing.

Each round runs `seqjepa bench gen --rounds 1` in a child process, then times one
rollout of the same N sequences in this process (its world made once and warmed up
before the first round, as bench gen's own rollout figure excludes world creation).
Rounds alternate so that a changing machine load hits both alike. Besides views per
second, views per CPU-second of the process (CPU us/view) are printed: other load on
the machine disturbs them far less.

usage: /usr/bin/python3 bench/bench_python.py [SIZE] [N] [VIEWS] [ROUNDS]
       (defaults: 32 2048 4 3: objects3d at 32 px, the default agent, lanes 512)"""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import seqjepa  # noqa: E402

LANES = 512  # gen.lanes' default


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    views = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    exe = os.path.join(ROOT, "bin", "seqjepa")
    env = seqjepa.make("objects3d", size=size, lanes=LANES)
    out = env.empty_batch(n, views)
    env.rollout(batch=min(n, LANES), views=views, first=0, out=None)  # warm-up: shaders, meshes
    print(f"objects3d {size} px, {n} sequences of {views} views, lanes {LANES}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; views/s (CPU us/view)")
    rows = {"C gen, end to end": [], "C rollout only": [], "Python rollout": []}
    for r in range(rounds):
        p = subprocess.run([exe, "bench", "gen", "--world", "objects3d", "--size", str(size), "--seqs", str(n),
                            "--views", str(views), "--lanes", str(LANES), "--rounds", "1", "--seconds", "0.5"],
                           capture_output=True, text=True, cwd=ROOT)
        if p.returncode:
            sys.exit(p.stderr)
        for key, pat in (("C gen, end to end", r"gen, end to end.*?\s(\d+)\s+([\d.]+)"),
                         ("C rollout only", r"rollout only.*?\s(\d+)\s+([\d.]+)")):
            m = re.search(pat, p.stdout)
            rows[key].append((float(m.group(1)), float(m.group(2))) if m else (float("nan"),) * 2)
        c0, t0 = time.process_time(), time.perf_counter()
        env.rollout(batch=n, views=views, seed=r + 1, first=0, out=out)
        c1, t1 = time.process_time(), time.perf_counter()
        rows["Python rollout"].append((n * views / (t1 - t0), (c1 - c0) * 1e6 / (n * views)))
    for k, v in rows.items():
        print(f"  {k:20s} " + "  ".join(f"{a:8.0f} ({b:5.1f})" for a, b in v)
              + f"   best {max(a for a, _ in v):8.0f} ({min(b for _, b in v):5.1f})")
    best = {k: (max(a for a, _ in v), min(b for _, b in v)) for k, v in rows.items()}
    py = best["Python rollout"]
    for k in ("C rollout only", "C gen, end to end"):
        print(f"  Python rollout / {k}: {py[0] / best[k][0]:.2f} of the views/s, "
              f"{best[k][1] / py[1]:.2f} of the views per CPU-second")
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
