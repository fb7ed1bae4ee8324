#!/usr/bin/python3
"""Put an encoder trained with pose labels into a seq-JEPA checkpoint, as the starting
point of the online and the target encoder: a measurement of whether the self-supervised
objective keeps pose that the encoder already reads (docs/benchmarks.md, "Starting from
an encoder that reads pose").

    bench/pose_init.py ENC.npz CKPT     # rewrites CKPT (a temporary file, then renamed)

ENC.npz comes from `bench/data_baselines.py DIR --pose --encoder-width W --save-encoder
ENC.npz` (torchvision's tensor names, inputs pixels / 255). CKPT is a run's
checkpoint.safetensors of the same encoder width; its `pixel_mean` / `pixel_std` are
folded into the first convolution and its batch norm's running mean, so that the
encoder computes what it computed on pixels / 255, except at the image border, where the
first layer's zero padding now stands for pixels of the mean value instead of black
(tests/test_pose_init.py checks exactly that). Every other tensor (transformer,
predictor, action embedding) and the metadata are kept. A new run then starts from it:

    bin/seqjepa train CONFIG train.steps=1 train.out=T      # any checkpoint of the model
    bench/pose_init.py ENC.npz T/checkpoint.safetensors
    bin/seqjepa train CONFIG --init T/checkpoint.safetensors train.out=RUN
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
from import_torch import write_safetensors  # noqa: E402  (temporary file, then renamed)
import stio  # noqa: E402

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    enc_path, ckpt = sys.argv[1], sys.argv[2]
    try:
        enc = dict(np.load(enc_path))
        tensors, meta = stio.read(ckpt)
    except (OSError, ValueError, KeyError, struct.error) as e:
        sys.exit(f"pose_init: cannot read {enc_path} or {ckpt}: {e}")
    mean = np.array([float(v) for v in meta.get("pixel_mean", "0 0 0").split()], np.float64)
    std = np.array([float(v) for v in meta.get("pixel_std", "1 1 1").split()], np.float64)
    # inputs here are (p/255 - mean) / std; the encoder was trained on p/255 = std x + mean:
    # conv(w, p/255) = conv(w * std, x) + sum over channels and taps of w * mean
    w = enc["conv1.weight"].astype(np.float64)
    enc["conv1.weight"] = (w * std[None, :, None, None]).astype(np.float32)
    enc["bn1.running_mean"] = (enc["bn1.running_mean"] - (w * mean[None, :, None, None]).sum((1, 2, 3))).astype(np.float32)
    put = 0
    for prefix in ("encoder.", "target_encoder."):
        for k, v in enc.items():
            name = prefix + k
            if name not in tensors:
                sys.exit(f"{ckpt}: no tensor {name} (is the encoder width the same?)")
            if tuple(tensors[name].shape) != tuple(v.shape):
                sys.exit(f"{ckpt}: {name} is {list(tensors[name].shape)}, {enc_path} has {list(v.shape)}")
            tensors[name] = v.astype(tensors[name].dtype)
            put += 1
    write_safetensors(ckpt, tensors, meta)
    print(f"{ckpt}: {put} encoder tensors from {enc_path} (online and target encoder)")


if __name__ == "__main__":
    main()
