"""Reference points for the path-integration benchmark's probes on a dataset made by
`seqjepa gen`: how far a class can be read from raw pixels, and from a small CNN
trained with labels, on the held-out objects / images (DIR/val). These bound what a
frozen self-supervised encoder's linear probe can be expected to reach on the same data.
Optionally also scores embeddings written by `seqjepa embed` (z.npy of DIR/train and
DIR/val) with the same logistic regression and a ridge regression of the first action
from concat(z_1, z_2).

usage: /usr/bin/python3 bench/data_baselines.py DIR [--epochs 3] [--threads 2]
                        [--embed TRAIN_EMB_DIR VAL_EMB_DIR]"""
import argparse
import glob
import os
import sys

import numpy as np
import torch


def load(root, split):
    shards = sorted(glob.glob(os.path.join(root, split, "shard-*")))
    if not shards:
        sys.exit(f"data_baselines: no shards under {os.path.join(root, split)}")
    cat = lambda name: np.concatenate([np.load(os.path.join(s, name)) for s in shards])
    return cat("images.npy"), cat("labels.npy").astype(np.int64), cat("actions.npy")


def logreg(xtr, ytr, xte, yte, k, epochs=500):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr = torch.tensor((xtr - mu) / sd, dtype=torch.float32)
    xte = torch.tensor((xte - mu) / sd, dtype=torch.float32)
    y = torch.tensor(ytr)
    lin = torch.nn.Linear(xtr.shape[1], k)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(xtr), y).backward()
        opt.step()
    with torch.no_grad():
        return (lin(xtr).argmax(1).numpy() == ytr).mean(), (lin(xte).argmax(1).numpy() == yte).mean()


def ridge_r2(xtr, ytr, xte, yte, lam=1.0):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr = np.c_[(xtr - mu) / sd, np.ones(len(xtr))]
    xte = np.c_[(xte - mu) / sd, np.ones(len(xte))]
    w = np.linalg.solve(xtr.T @ xtr + lam * np.eye(xtr.shape[1]), xtr.T @ ytr)
    p = xte @ w
    return np.mean(1 - ((yte - p) ** 2).sum(0) / ((yte - yte.mean(0)) ** 2).sum(0))


def cnn(k):
    layers, c = [], 3
    for w in (32, 64, 128):
        layers += [torch.nn.Conv2d(c, w, 3, padding=1), torch.nn.BatchNorm2d(w), torch.nn.ReLU()]
        layers += [torch.nn.MaxPool2d(2)] if w != 128 else [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
        c = w
    return torch.nn.Sequential(*layers, torch.nn.Linear(128, k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--embed", nargs=2, metavar=("TRAIN", "VAL"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    itr, ltr, atr = load(args.dir, "train")
    ite, lte, ate = load(args.dir, "val")
    k = int(max(ltr.max(), lte.max())) + 1
    n, t, h, w, _ = itr.shape
    print(f"{args.dir}: {n} training + {len(ite)} held-out sequences of {t} views, {h}x{w}, {k} classes")
    print(f"chance (most frequent held-out class): {np.bincount(lte).max() / len(lte):.3f}")
    flat = lambda a: a[:, 0].reshape(len(a), -1).astype(np.float32) / 255
    tr, te = logreg(flat(itr), ltr, flat(ite), lte, k)
    print(f"pixels of view 1, logistic regression: top-1 {te:.3f} held-out ({tr:.3f} on its training rows)")

    net = cnn(k)
    x = torch.tensor(itr.reshape(-1, h, w, 3)).permute(0, 3, 1, 2)
    y = torch.tensor(np.repeat(ltr, t))
    xte = torch.tensor(ite[:, 0]).permute(0, 3, 1, 2).float() / 255
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for ep in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[b].float() / 255), y[b]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1).numpy() == lte).mean()
        print(f"supervised 3-layer CNN (32-64-128), epoch {ep + 1} over every view: top-1 {acc:.3f} held-out")

    if args.embed:
        z = [np.load(os.path.join(d, "z.npy")) for d in args.embed]
        tr, te = logreg(z[0][:, 0], ltr, z[1][:, 0], lte, k)
        print(f"embedding z of view 1, logistic regression: top-1 {te:.3f} held-out ({tr:.3f} on its training rows)")
        pair = lambda a: np.c_[a[:, 0], a[:, 1]]
        print(f"embedding, ridge of action 1 from concat(z_1, z_2): R^2 {ridge_r2(pair(z[0]), atr[:, 0], pair(z[1]), ate[:, 0]):.3f}")


if __name__ == "__main__":
    main()
