"""Times seq-JEPA training steps in PyTorch (Debian's python3-torch, CPU) for the same
configurations as `seqjepa bench train`: the reference ResNet-18-CIFAR at 32 px,
batch 32, M_train 3, and the quick and default objects3d presets. One step is the
forward, the backward, AdamW and the EMA update, on a fixed random batch.

usage: /usr/bin/python3 bench/torch_train.py [--threads 2] [--steps 5] [--only quick,default,reference]
       [--machine]   (also a line "RESULT seq/s s/step peak-RSS-MiB" per configuration, which
                      `seqjepa bench train` reads; peak RSS is the process's, so run one
                      configuration per process to compare memory)"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from sj_ref import SeqJEPA  # noqa: E402

CONFIGS = [
    # label, widths, cifar stem, size, batch, m_train, action_emb, heads, layers, pred_hidden
    ("quick", [16, 32, 64, 128], True, 32, 64, 3),
    ("default", [32, 64, 128, 256], True, 64, 128, 3),
    ("reference", [64, 128, 256, 512], True, 32, 32, 3),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--machine", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    for label, widths, cifar, size, batch, m in CONFIGS:
        if args.only and label not in args.only.split(","):
            continue
        e = widths[3] + 128
        spec = {"widths": widths, "cifar": cifar, "action_emb": 128, "layers": 3, "heads": 4, "ffn": 4 * e,
                "pred_hidden": 1024}
        model = SeqJEPA(spec, 4)
        model.transformer_encoder.transformer_encoder.layers.apply(
            lambda mod: setattr(mod, "p", 0.1) if isinstance(mod, torch.nn.Dropout) else None)
        model.train()
        online = [p for n, p in model.named_parameters() if not n.startswith("target_encoder")]
        opt = torch.optim.AdamW(online, lr=4e-4, weight_decay=1e-3)
        views = torch.randint(0, 256, (batch, m + 1, size, size, 3), dtype=torch.uint8)
        actions = torch.randn(batch, m, 4)
        mean = torch.full((1, 1, 1, 1, 3), 0.5)
        std = torch.full((1, 1, 1, 1, 3), 0.25)
        enc = dict(model.encoder.named_parameters())

        def step():
            opt.zero_grad(set_to_none=True)
            loss = model(views, actions, m, mean, std)[-1]
            loss.backward()
            opt.step()
            with torch.no_grad():
                for n, p in model.target_encoder.named_parameters():
                    p.mul_(0.99).add_(enc[n].detach(), alpha=0.01)

        step()  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        dt = (time.perf_counter() - t0) / args.steps
        print(f"{label:10s} torch  {size:3d} px  batch {batch:3d}  M_train {m}  {batch / dt:7.1f} sequences/s  "
              f"({dt:.3f} s/step)", flush=True)
        if args.machine:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            print(f"RESULT {batch / dt:.4f} {dt:.6f} {rss:.1f}", flush=True)


if __name__ == "__main__":
    main()
