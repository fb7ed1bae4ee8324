"""Reference probes and the next-view retrieval test on `seqjepa embed` outputs of one
checkpoint (numpy/PyTorch, outside the product's code path; docs/benchmarks.md).

usage: /usr/bin/python3 bench/embed_probes.py CKPT WORKDIR PROBE_DATA RETR_DATA [--mmax 4] [--k 7] [--mlp]
    [--all-pairs]
CKPT "pixels": only the pose reference from raw pixels (ridge from one view's pixels to
its rotation matrix, same rows as the pose probe).
PROBE_DATA: gen dataset (iid views, train = training objects, val = held-out objects).
RETR_DATA: gen dataset (iid rotations, colours/lights fixed within a sequence: agent
redraw_colors=false), val split, T >= mmax + 1 + k views.

Prints:
  pose R^2: ridge from z of one view to its absolute rotation matrix (9 entries, mean
    per-entry R^2 on held-out objects); also from z_AGG over 4 views to the last view's;
    ridge penalties chosen on a validation fifth of the training rows;
  equivariance R^2: ridge (and with --mlp an MLP 2x256) from concat(z1, z2) to the
    relative rotation matrix of views 1 -> 2; erank: effective rank of z; with
    --all-pairs also equi_ridge_all (and equi_mlp_all): the same regressors trained on
    every consecutive pair t -> t+1 of the training sequences (T-1 times the rows),
    scored on the same held-out pairs 1 -> 2 (oracle_equi_*: true rotation matrices in
    place of z, both ways);
  top1_z / top1_zagg3: linear classifier (logistic regression) of the class from z of
    one view (every view) and from z_AGG over the first 3 views (chance 1/n_classes);
  retrieval top-1 at M = 1..mmax: the predictor's output after M views and the action
    a_M, compared (cosine) with the target encodings of the true next view and k other
    views of the same object under the same lights at other poses; chance 1/(k+1);
    and the copy baseline (query = target encoding of the last observed view)."""
import glob, os, subprocess, sys, argparse
import numpy as np
import torch

import data_baselines  # bench/, beside this script

EXE = os.environ.get("SEQJEPA_EXE", "bin/seqjepa")


def load(root, split, names):
    sh = sorted(glob.glob(os.path.join(root, split, "shard-*")))
    return [np.concatenate([np.load(os.path.join(s, n + ".npy")) for s in sh]) for n in names]


def qmat(q):
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)


r2 = data_baselines.r2  # over the columns that vary, as seqjepa's probes


def ridge(xtr, ytr, xte, yte, lams=(0.1, 1, 10, 100, 1000)):
    """Ridge with the penalty chosen on a validation fifth of the training rows."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    f = lambda a: np.c_[(a - mu) / sd, np.ones(len(a))]
    A, B = f(xtr), f(xte)
    nv = len(A) // 5
    best = None
    for lam in lams:
        w = np.linalg.solve(A[nv:].T @ A[nv:] + lam * np.eye(A.shape[1]), A[nv:].T @ ytr[nv:])
        s = r2(ytr[:nv], A[:nv] @ w)
        if best is None or s > best[0]:
            best = (s, lam)
    w = np.linalg.solve(A.T @ A + best[1] * np.eye(A.shape[1]), A.T @ ytr)
    return r2(yte, B @ w)


def mlp(xtr, ytr, xte, yte, hidden=256, epochs=60):
    torch.manual_seed(0)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    ym, ys = ytr.mean(0), ytr.std(0) + 1e-6
    X = torch.tensor((xtr - mu) / sd, dtype=torch.float32)
    Y = torch.tensor((ytr - ym) / ys, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, Y.shape[1]))
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    for ep in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 256):
            b = perm[i:i + 256]
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(X[b]), Y[b]).backward()
            opt.step()
    with torch.no_grad():
        p = net(torch.tensor((xte - mu) / sd, dtype=torch.float32)).numpy() * ys + ym
    return r2(yte, p)


def pairs(z, acts, first_only):
    """Equivariance rows: concat(z_t, z_t+1) and the relative rotation matrix of a_t, for
    t = 1 only or for every consecutive pair (z [N, T, D], acts [N, T-1, >=4])."""
    ts = [0] if first_only else range(z.shape[1] - 1)
    x = np.concatenate([np.c_[z[:, t], z[:, t + 1]] for t in ts])
    y = np.concatenate([qmat(acts[:, t, :4]) for t in ts])
    return x, y


def logreg(xtr, ytr, xte, yte, epochs=300):
    """data_baselines' logistic regression from seed 0: test top-1."""
    k = int(max(ytr.max(), yte.max())) + 1
    return float(data_baselines.logreg(xtr, ytr, xte, yte, k, epochs, seed=0)[1])


def embed(ckpt, work, name, views, acts, nxt=None):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "V.npy"), np.ascontiguousarray(views))
    np.save(os.path.join(d, "A.npy"), np.ascontiguousarray(acts, dtype=np.float32))
    cmd = [EXE, "embed", "--ckpt", ckpt, "--views", d + "/V.npy", "--actions", d + "/A.npy", "--out", d]
    if nxt is not None:
        np.save(os.path.join(d, "N.npy"), np.ascontiguousarray(nxt, dtype=np.float32))
        cmd += ["--next", d + "/N.npy"]
    subprocess.run(cmd, check=True, capture_output=True)
    out = {k: np.load(os.path.join(d, k + ".npy")) for k in ("z", "z_agg", "z_target")}
    if nxt is not None:
        out["z_hat"] = np.load(os.path.join(d, "z_hat.npy"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt"); ap.add_argument("work"); ap.add_argument("probe"); ap.add_argument("retr")
    ap.add_argument("--mmax", type=int, default=4); ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--mlp", action="store_true")
    ap.add_argument("--all-pairs", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    res = {}
    Vtr, Atr, Ltr, Ctr = load(a.probe, "train", ("images", "actions", "latents", "labels"))
    Vte, Ate, Lte, Cte = load(a.probe, "val", ("images", "actions", "latents", "labels"))
    if a.ckpt == "pixels":
        px = lambda v: v.reshape(-1, v.shape[2] * v.shape[3] * 3).astype(np.float32) / 255
        r = ridge(px(Vtr), qmat(Ltr[..., :4]).reshape(-1, 9), px(Vte), qmat(Lte[..., :4]).reshape(-1, 9))
        print(f"pose_pixels={r:.3f}")
        return
    etr = embed(a.ckpt, a.work, "ptr", Vtr, Atr)
    ete = embed(a.ckpt, a.work, "pte", Vte, Ate)
    ztr, zte = etr["z"], ete["z"]
    # pose from z: every view
    Rtr, Rte = qmat(Ltr[..., :4]), qmat(Lte[..., :4])
    D = ztr.shape[-1]
    res["pose_z"] = ridge(ztr.reshape(-1, D), Rtr.reshape(-1, 9), zte.reshape(-1, D), Rte.reshape(-1, 9))
    # pose of the last (4th) view from z_AGG over the 4 views
    res["pose_zagg"] = ridge(etr["z_agg"], Rtr[:, -1], ete["z_agg"], Rte[:, -1])
    # equivariance: relative rotation of views 1->2 from concat(z1, z2)
    (ptr, ytr), (pte, yte) = pairs(ztr, Atr, True), pairs(zte, Ate, True)
    res["equi_ridge"] = ridge(ptr, ytr, pte, yte)
    if a.mlp:
        res["equi_mlp"] = mlp(ptr, ytr, pte, yte)
        res["pose_z_mlp"] = mlp(ztr.reshape(-1, D), Rtr.reshape(-1, 9), zte.reshape(-1, D), Rte.reshape(-1, 9))
    if a.all_pairs:
        for pre, ftr, fte in (("", ztr, zte), ("oracle_", Rtr, Rte)):
            xo, _ = pairs(fte, Ate, True)
            for first, tag in ((True, "1"), (False, "all")):
                if pre == "" and first:
                    continue  # equi_ridge / equi_mlp above
                x, y = pairs(ftr, Atr, first)
                res[f"{pre}equi_ridge_{tag}"] = ridge(x, y, xo, yte)
                if a.mlp:
                    res[f"{pre}equi_mlp_{tag}"] = mlp(x, y, xo, yte)
    # class from z (every view) and from z_AGG over 3 views
    T = ztr.shape[1]
    res["top1_z"] = logreg(ztr.reshape(-1, D), np.repeat(Ctr, T), zte.reshape(-1, D), np.repeat(Cte, T))
    a3tr = embed(a.ckpt, a.work, "ptr3", Vtr[:, :3], Atr[:, :2])["z_agg"]
    a3te = embed(a.ckpt, a.work, "pte3", Vte[:, :3], Ate[:, :2])["z_agg"]
    res["top1_zagg3"] = logreg(a3tr, Ctr, a3te, Cte)
    # effective rank of z
    s = np.linalg.svd(zte.reshape(-1, D) - zte.reshape(-1, D).mean(0), compute_uv=False) ** 2
    p = s / s.sum(); res["erank"] = float(np.exp(-(p * np.log(p + 1e-12)).sum()))
    # retrieval
    Vq, Aq = load(a.retr, "val", ("images", "actions"))
    for M in range(1, a.mmax + 1):
        e = embed(a.ckpt, a.work, f"q{M}", Vq[:, :M], Aq[:, :M - 1], Aq[:, M - 1])
        cand_views = Vq[:, M:M + 1 + a.k]  # true next view first
        et = embed(a.ckpt, a.work, f"c{M}", cand_views, Aq[:, M:M + a.k])
        zt = et["z_target"]  # [N, k+1, D]
        nrm = lambda v: v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)
        sims = np.einsum("nd,nkd->nk", nrm(e["z_hat"]), nrm(zt))
        res[f"retr_M{M}"] = float((sims.argmax(1) == 0).mean())
        last = e["z_target"][:, -1]
        res[f"copy_M{M}"] = float((np.einsum("nd,nkd->nk", nrm(last), nrm(zt)).argmax(1) == 0).mean())
    print(" ".join(f"{k}={v:.3f}" for k, v in res.items()), flush=True)


if __name__ == "__main__":
    main()
