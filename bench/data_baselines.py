"""Reference points for the path-integration benchmark's probes on a dataset made by
`seqjepa gen`: how far a class can be read from raw pixels, and from a small CNN
trained with labels, on the held-out objects / images (DIR/val). These bound what a
frozen self-supervised encoder's linear probe can be expected to reach on the same data.
Optionally also scores embeddings written by `seqjepa embed` (z.npy of DIR/train and
DIR/val) with the same logistic regression and a ridge regression of the first action
from concat(z_1, z_2).

With --pose, instead: the supervised upper bound on reading the pose from one view, the
pose the evaluation's pose probe reads: for objects3d the absolute rotation, for the
saccade world the fixation (the glimpse centre's y and x in the scene, the dataset's
latents). A CNN (4 stages of 3x3 convolutions, batch norm, ReLU
and 2x2 max-pooling, widths 32-64-128-256, then a 256-unit hidden layer) regresses the 9
entries of the object's rotation matrix from single views of the training objects;
R^2 is the mean of the per-entry R^2 over the 9 entries (those that vary; a turntable's
fixed axis is left out, as seqjepa's probes do) on
every view of the held-out objects (saccades: over the two coordinates, on every
glimpse of the held-out images). Before it, the same R^2 of a ridge from the raw pixels:
what a linear read of the image gives. The rotation matrix is used rather than the
quaternion because it is a continuous function of the pose (a quaternion canonicalised
to w >= 0 jumps where w crosses 0). With --encoder-width W the regressor is instead the
seq-JEPA encoder's own architecture (`model.encoder = small`, `model.width = W`: a
ResNet with a CIFAR stem, two basic blocks per stage, widths W-2W-4W-8W, global average
pooling) followed by one linear layer: the bound for the encoder a preset trains, read
linearly from its pooled features as the pose probe reads them.

With --inverse --encoder-width W (objects3d): an encoder trained without any label, from
the views and actions seq-JEPA sees: the same small ResNet encodes two consecutive
views of a sequence, and a head (one hidden layer of 256) on the two encodings
regresses the rotation matrix of the action between them (the agent's relative
rotation, a continuous function of it; an inverse model of the world's dynamics). The
pose labels are used only to score it: a ridge from its pooled features to the absolute
rotation on the held-out objects, the read of the evaluation's pose probe. With
--save-encoder its tensors go to an NPZ for bench/pose_init.py, as with --pose.

usage: /usr/bin/python3 bench/data_baselines.py DIR [--epochs 3] [--threads 2]
                        [--embed TRAIN_EMB_DIR VAL_EMB_DIR]
                        [--pose [--encoder-width W] | --inverse --encoder-width W]
                        [--save-encoder NPZ]"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch


def load(root, split, what=("images", "labels", "actions")):
    shards = sorted(glob.glob(os.path.join(root, split, "shard-*")))
    if not shards:
        sys.exit(f"data_baselines: no shards under {os.path.join(root, split)}")
    cat = lambda name: np.concatenate([np.load(os.path.join(s, name + ".npy")) for s in shards])
    out = [cat(w) for w in what]
    if "labels" in what:
        out[what.index("labels")] = out[what.index("labels")].astype(np.int64)
    return out


def quat_to_mat(q):
    """Rotation matrices (..., 9) of unit quaternions (..., 4) in w, x, y, z order."""
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)


def r2(y, p):
    """Mean of the per-column R^2 over the columns that vary (seqjepa's sj_r2_score)."""
    tot = ((y - y.mean(0)) ** 2).sum(0)
    vary = tot > 0  # a constant column (a turntable's fixed axis) is left out, as seqjepa's probes do
    if not vary.any():
        return float(np.all((y - p) == 0))
    return float(np.mean(1 - ((y - p) ** 2).sum(0)[vary] / tot[vary]))


def pose_cnn(size, out):
    layers, c = [], 3
    for w in (32, 64, 128, 256):
        layers += [torch.nn.Conv2d(c, w, 3, padding=1), torch.nn.BatchNorm2d(w), torch.nn.ReLU(),
                   torch.nn.MaxPool2d(2)]
        c = w
    s = size // 16
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(256 * s * s, 256),
                               torch.nn.ReLU(), torch.nn.Linear(256, out))


def train_epoch(net, opt, x, y, loss, sched=None, batch=128):
    """One pass over views x (uint8, N x 3 x H x W) and targets y in a random order of
    minibatches; leaves net in eval mode."""
    net.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch):
        b = perm[i:i + batch]
        opt.zero_grad()
        loss(net(x[b].float() / 255), y[b]).backward()
        opt.step()
        if sched is not None:
            sched.step()
    net.eval()


def small_encoder(width):
    """The small ResNet of `model.encoder = small` (tests/ref/nn_ref.py, the layout the
    engine's tests check against) and the size of its pooled features."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from nn_ref import ResNet
    widths = [width, 2 * width, 4 * width, 8 * width]
    if width < 8:
        # PyTorch 1.13's oneDNN convolutions crashed in the backward pass (heap corruption)
        # on an AVX2-only AMD EPYC with 4-channel layers (width 8 ran); its own
        # convolutions are used for such narrow encoders instead.
        torch.backends.mkldnn.enabled = False
    return ResNet(widths, [2, 2, 2, 2], True), widths[3]


def seqjepa_encoder(width, out):
    """small_encoder with a linear head on its pooled features."""
    enc, d = small_encoder(width)
    return torch.nn.Sequential(enc, torch.nn.Linear(d, out))


def world_kind(root):
    """The dataset's world ("objects3d" or "saccade"), from DIR/manifest.json."""
    try:
        with open(os.path.join(root, "manifest.json")) as f:
            return json.load(f)["env"]["kind"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"data_baselines: {os.path.join(root, 'manifest.json')}: no env.kind ({e})")


def pose_targets(kind, lat):
    """Per-view pose targets as the evaluation's pose probe reads them (run/pathint.c):
    the 9 rotation-matrix entries for objects3d, the fixation (y, x) for saccades."""
    if kind == "saccade":
        return lat[..., :2].reshape(-1, 2).astype(np.float32)
    return quat_to_mat(lat[..., :4].reshape(-1, 4)).astype(np.float32)


def ridge_selected(xtr, ytr, xte, yte, lams):
    """ridge_r2 with the penalty chosen on the last fifth of the training rows, then
    refitted on all of them and scored on the held-out rows: (penalty, R^2)."""
    cut = len(xtr) * 4 // 5
    best = max(lams, key=lambda lam: ridge_r2(xtr[:cut], ytr[:cut], xtr[cut:], ytr[cut:], lam))
    return best, ridge_r2(xtr, ytr, xte, yte, best)


def pixel_pose(xtr, ytr, xte, yte, what, lams=(1e1, 1e2, 1e3, 1e4, 1e5)):
    """Ridge from the raw pixels (ridge_r2: standardised, with an intercept) to the pose:
    what a linear read of the image gives, the reference for a frozen encoder's linear
    pose probe (ridge_selected)."""
    best, score = ridge_selected(xtr, ytr, xte, yte, lams)
    print(f"ridge from raw pixels ({xtr.shape[1]} values, penalty {best:g}): {what} R^2 "
          f"{score:.3f} held-out", flush=True)


def pose_upper_bound(root, epochs, encoder_width=0, save=None):
    kind = world_kind(root)
    itr, ltr = load(root, "train", ("images", "latents"))
    ite, lte = load(root, "val", ("images", "latents"))
    n, t, h, w, _ = itr.shape
    print(f"{root}: {kind}, {n * t} training views ({n} sequences of {t}) + {len(ite) * t} held-out views, {h}x{w}")
    ytr, yte = pose_targets(kind, ltr), pose_targets(kind, lte)
    what = "fixation" if kind == "saccade" else "rotation-matrix"
    mu, sd = ytr.mean(0), ytr.std(0) + 1e-6
    x = torch.tensor(itr.reshape(-1, h, w, 3)).permute(0, 3, 1, 2)
    xte = torch.tensor(ite.reshape(-1, h, w, 3)).permute(0, 3, 1, 2)
    y = torch.tensor((ytr - mu) / sd)
    k = ytr.shape[1]
    net = seqjepa_encoder(encoder_width, k) if encoder_width else pose_cnn(h, k)
    name = f"seq-JEPA encoder (width {encoder_width}) + linear" if encoder_width else "supervised pose CNN"
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.1)
    print(f"chance (predicting the training mean): R^2 {r2(yte, np.broadcast_to(mu, yte.shape)):.3f}")
    pixel_pose(itr.reshape(len(ytr), -1), ytr, ite.reshape(len(yte), -1), yte, what)
    for ep in range(epochs):
        train_epoch(net, opt, x, y, torch.nn.functional.mse_loss, sched)
        with torch.no_grad():
            p = torch.cat([net(xte[i:i + 512].float() / 255) for i in range(0, len(xte), 512)]).numpy()
        print(f"{name}, epoch {ep + 1}: {what} R^2 {r2(yte, p * sd + mu):.3f} held-out",
              flush=True)
    with torch.no_grad():
        ptr = torch.cat([net(x[i:i + 512].float() / 255) for i in range(0, min(len(x), 4096), 512)]).numpy()
    print(f"(on 4096 of its training views: R^2 {r2(ytr[:len(ptr)], ptr * sd + mu):.3f})")
    if save:
        save_encoder(net[0], save)


def save_encoder(enc, save):
    """The encoder's tensors under torchvision's names (the checkpoint's, less the
    "encoder." prefix), for bench/pose_init.py; inputs here are pixels / 255."""
    sdict = {k: v.numpy() for k, v in enc.state_dict().items()}
    tmp = save + ".tmp.npz"
    np.savez(tmp, **sdict)
    os.replace(tmp, save)
    print(f"encoder saved to {save} ({len(sdict)} tensors)")


def inverse_start(root, epochs, width, save=None):
    """An encoder trained as an inverse model: from the encodings of views t and t+1,
    regress the rotation matrix of the action between them. No pose or class label is
    used in training; the pose labels score the encoder afterwards."""
    if world_kind(root) != "objects3d":
        sys.exit("data_baselines: --inverse reads rotations: an objects3d dataset")
    itr, atr, ltr = load(root, "train", ("images", "actions", "latents"))
    ite, ate, lte = load(root, "val", ("images", "actions", "latents"))
    n, t, h, w, _ = itr.shape
    if t < 2 or atr.shape[-1] < 4:
        sys.exit(f"data_baselines: --inverse needs sequences of 2 views or more with rotation actions ({root})")
    print(f"{root}: {n * (t - 1)} training pairs of consecutive views ({n} sequences of {t}), "
          f"{len(ite) * (t - 1)} held-out pairs, {h}x{w}")
    enc, d = small_encoder(width)
    head = torch.nn.Sequential(torch.nn.Linear(2 * d, 256), torch.nn.ReLU(), torch.nn.Linear(256, 9))
    ytr = quat_to_mat(atr[..., :4].reshape(-1, 4)).astype(np.float32)  # [n*(t-1), 9]
    yte = quat_to_mat(ate[..., :4].reshape(-1, 4)).astype(np.float32)
    mu, sd = ytr.mean(0), ytr.std(0) + 1e-6
    views = lambda a: torch.tensor(a).permute(0, 1, 4, 2, 3)  # [n, t, 3, h, w] uint8
    x, xte = views(itr), views(ite)
    # pair k = (sequence k // (t-1), its view k % (t-1) and the next): the actions' row order
    seq = torch.arange(n).repeat_interleave(t - 1)
    step = torch.arange(t - 1).repeat(n)
    y = torch.tensor((ytr - mu) / sd)
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), 1e-3)
    batch = 128
    steps = epochs * ((len(seq) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.1)

    def encode(xs):  # [m, 3, h, w] uint8 -> [m, d]
        with torch.no_grad():
            return torch.cat([enc(xs[i:i + 512].float() / 255) for i in range(0, len(xs), 512)])

    def predict(xs):  # [m, t, 3, h, w] -> the actions' rows, sequence-major then step
        z = encode(xs.reshape(-1, 3, h, w)).reshape(len(xs), t, -1)
        with torch.no_grad():
            p = torch.stack([head(torch.cat([z[:, j], z[:, j + 1]], 1)) for j in range(t - 1)], 1)
        return p.reshape(-1, 9).numpy()

    for ep in range(epochs):
        enc.train(), head.train()
        perm = torch.randperm(len(seq))
        for i in range(0, len(seq), batch):
            b = perm[i:i + batch]
            xa, xb = x[seq[b], step[b]], x[seq[b], step[b] + 1]
            z = enc(torch.cat([xa, xb]).float() / 255)
            p = head(torch.cat([z[:len(b)], z[len(b):]], 1))
            opt.zero_grad()
            torch.nn.functional.mse_loss(p, y[b]).backward()
            opt.step()
            sched.step()
        enc.eval(), head.eval()
        print(f"inverse model (encoder width {width}), epoch {ep + 1}: action rotation-matrix R^2 "
              f"{r2(yte, predict(xte) * sd + mu):.3f} held-out", flush=True)
    # score: ridge from the pooled features of single views to the absolute rotation
    ztr, zte = encode(x.reshape(-1, 3, h, w)).numpy(), encode(xte.reshape(-1, 3, h, w)).numpy()
    ptr = quat_to_mat(ltr[..., :4].reshape(-1, 4))
    pte = quat_to_mat(lte[..., :4].reshape(-1, 4))
    best, score = ridge_selected(ztr, ptr, zte, pte, (1e-2, 1e-1, 1, 1e1, 1e2, 1e3))
    print(f"its encoder, ridge to the absolute rotation matrix (penalty {best:g}): pose R^2 "
          f"{score:.3f} held-out (labels used for this score only)", flush=True)
    if save:
        save_encoder(enc, save)


def logreg(xtr, ytr, xte, yte, k, epochs=500, seed=None):
    """Multinomial logistic regression of k classes (Adam, full batch, standardised
    inputs), its weights drawn after torch.manual_seed(seed) where seed is given:
    top-1 on the training rows and on the test rows."""
    if seed is not None:
        torch.manual_seed(seed)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr = torch.tensor((xtr - mu) / sd, dtype=torch.float32)
    xte = torch.tensor((xte - mu) / sd, dtype=torch.float32)
    y = torch.tensor(ytr, dtype=torch.int64)
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
    return r2(yte, xte @ w)


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
    ap.add_argument("--pose", action="store_true", help="supervised upper bound on the pose from one view (rotation; saccades: fixation)")
    ap.add_argument("--encoder-width", type=int, default=0,
                    help="with --pose: the seq-JEPA small encoder of this width instead of the CNN")
    ap.add_argument("--inverse", action="store_true",
                    help="objects3d: train the encoder of --encoder-width as an inverse model (the action from two "
                         "consecutive views), no label; score its pose read")
    ap.add_argument("--save-encoder", metavar="NPZ",
                    help="with --pose or --inverse and --encoder-width: write the trained encoder's tensors to NPZ")
    args = ap.parse_args()
    if args.pose and args.inverse:
        ap.error("--pose and --inverse are two different trainings: give one")
    if args.inverse and not args.encoder_width:
        ap.error("--inverse needs --encoder-width")
    if args.save_encoder and not ((args.pose or args.inverse) and args.encoder_width):
        ap.error("--save-encoder needs --pose or --inverse, and --encoder-width")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.inverse:
        inverse_start(args.dir, args.epochs, args.encoder_width, args.save_encoder)
        return
    if args.pose:
        pose_upper_bound(args.dir, args.epochs, args.encoder_width, args.save_encoder)
        return
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
        train_epoch(net, opt, x, y, torch.nn.functional.cross_entropy)
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
