#!/usr/bin/python3
"""What the saccade world's next-view retrieval allows a reader that knows only where
each glimpse lies, as precisely as an encoder reads it (docs/benchmarks.md, "Why the
saccade separation stops near 0.3").

The retrieval data law (docs/evaluation.md, run/pathint.c): fixations uniform over the
scene ([0, 1] in y and x, no inhibition of return); the true next fixation f' = f + a;
the distractors are the first K of a pool of later uniform fixations that a could have
led to (c - a inside the scene). The reader here knows every fixation up to independent
Gaussian noise whose variance is (1 - R^2) / R^2 times a coordinate's variance (1/12),
so that the squared correlation of its reading with the true coordinate, the held-out
R^2 of the best linear read-out, is R^2 (a regression's prediction is the truth less a
residual independent of the prediction; up to scale, which nearest-candidate search
ignores, that is a reading of the truth plus independent noise of this size): the
query is the noisy f turned by the exact a, each candidate its own noisy fixation, and
the nearest candidate wins. It has no content, only location, and no path to
integrate (f is read directly), so it is what a location read at that R^2 gives, not a
bound on a model that also predicts what a glimpse shows.

    /usr/bin/python3 bench/retrieval_location_bound.py [--r2 0.6 0.7 0.74 0.8 0.9] [--n 200000]
"""
import argparse

import numpy as np


def score(r2, n, k, pool, rng):
    sd = np.sqrt((1 - r2) / r2 / 12)
    f = rng.uniform(0, 1, (n, 2))
    f1 = rng.uniform(0, 1, (n, 2))
    a = f1 - f
    cand = rng.uniform(0, 1, (n, pool, 2))
    prev = cand - a[:, None]
    ok = np.all((prev >= 0) & (prev <= 1), axis=2)
    # the first k allowed pool entries per sequence; sequences with fewer are left out
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
    keep = ok.sum(1) >= k
    dist = np.take_along_axis(cand, order[..., None], axis=1)[keep]
    f, f1, a = f[keep], f1[keep], a[keep]
    q = f + rng.normal(0, sd, f.shape) + a
    c = np.concatenate([f1[:, None], dist], axis=1)
    c = c + rng.normal(0, sd, c.shape)
    d = ((c - q[:, None]) ** 2).sum(-1)
    return float((d.argmin(1) == 0).mean()), int(keep.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r2", type=float, nargs="+", default=[0.6, 0.7, 0.74, 0.8, 0.9])
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--k", type=int, default=7, help="distractors (eval.retr_k)")
    ap.add_argument("--pool", type=int, default=40, help="later views (eval.retr_pool)")
    args = ap.parse_args()
    if args.n < 1:
        ap.error(f"--n {args.n}: want at least 1 sequence")
    if not 1 <= args.k <= args.pool:
        ap.error(f"--k {args.k}: want 1 to --pool ({args.pool}) distractors")
    print(f"chance 1/{args.k + 1} = {1 / (args.k + 1):.3f}")
    for r2 in args.r2:
        if not 0 < r2 <= 1:
            ap.error(f"--r2 {r2}: want a value in (0, 1]")
        # the same draws for every R^2 (seed 0): a value does not depend on the others asked
        top1, m = score(r2, args.n, args.k, args.pool, np.random.default_rng(0))
        if m == 0:
            ap.error(f"no sequence had {args.k} distractors among {args.pool} later views: raise --n or --pool")
        print(f"location read at R^2 {r2:.3f}: top-1 {top1:.3f} ({m} sequences scored)")


if __name__ == "__main__":
    main()
