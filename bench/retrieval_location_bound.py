#!/usr/bin/python3
"""What the saccade world's next-view retrieval allows a reader that knows only where
each glimpse lies, as precisely as an encoder reads it (docs/benchmarks.md, "Why the
saccade separation stops short of 0.2").

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

--seen M_MAX instead says how much of the next glimpse the model has seen before, under
the same law: for M = 1..M_MAX observed glimpses (each a window a third of the scene's
side, centred on its fixation, as configs/bench/saccade-*.ini: 32 px of 96), the mean
share of the next glimpse's pixels inside the scene that lie in glimpses 1..M, and how
often that share passes one half, over at most 20,000 sequences (--n). What was not
seen can only be predicted from where it lies (or from what scenes are like), not
recalled.
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


def seen(m_max, n, fovea, rng, side=24):
    """Mean share of glimpse M+1's in-scene pixels seen in glimpses 1..M, and the share of
    sequences where it passes 1/2, for M = 1..m_max (a side x side grid of sample points
    over glimpse M+1)."""
    f = rng.uniform(0, 1, (n, m_max + 1, 2))
    g = (np.arange(side) + 0.5) / side - 0.5
    pts = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2) * fovea  # offsets
    out = []
    for M in range(1, m_max + 1):
        p = f[:, M][:, None] + pts[None]  # [n, P, 2] points of the next glimpse
        inside = np.all((p >= 0) & (p <= 1), axis=2)
        cov = np.zeros(inside.shape, bool)
        for i in range(M):
            cov |= np.all(np.abs(p - f[:, i][:, None]) <= fovea / 2, axis=2)
        cov &= inside
        share = cov.sum(1) / np.maximum(inside.sum(1), 1)
        out.append((float(share.mean()), float((share > 0.5).mean())))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r2", type=float, nargs="+", default=[0.6, 0.7, 0.74, 0.8, 0.9])
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--k", type=int, default=7, help="distractors (eval.retr_k)")
    ap.add_argument("--pool", type=int, default=40, help="later views (eval.retr_pool)")
    ap.add_argument("--seen", type=int, default=0, metavar="M_MAX",
                    help="instead: how much of the next glimpse glimpses 1..M showed, M = 1..M_MAX "
                         "(over at most 20,000 of the --n sequences)")
    ap.add_argument("--fovea", type=float, default=1 / 3, help="with --seen: glimpse side / scene side")
    args = ap.parse_args()
    if args.n < 1:
        ap.error(f"--n {args.n}: want at least 1 sequence")
    if not 1 <= args.k <= args.pool:
        ap.error(f"--k {args.k}: want 1 to --pool ({args.pool}) distractors")
    if args.seen:
        if not 1 <= args.seen <= 16 or not 0 < args.fovea <= 1:
            ap.error(f"--seen {args.seen} --fovea {args.fovea}: want M_MAX in 1..16 and a fovea in (0, 1]")
        for M, (mean, half) in enumerate(seen(args.seen, min(args.n, 20000), args.fovea, np.random.default_rng(0)), 1):
            print(f"M = {M}: {mean:.3f} of the next glimpse seen before on average; more than half in {half:.3f}")
        return
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
