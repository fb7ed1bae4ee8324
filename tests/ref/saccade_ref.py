"""Reference glimpses for the saccade world, in numpy (float64).

Convention (envs/saccade.h): pixel (r, c) of an S x S scene has its value at the point
(r + 0.5, c + 0.5). Output pixel (i, j) of an n x n glimpse of an f x f window centred
at (y, x) samples the point (y - f/2 + (i + 0.5) f/n, x - f/2 + (j + 0.5) f/n) by
bilinear interpolation between the four nearest pixel centres; pixels outside the scene
are zero; values are rounded to the nearest integer.

usage: saccade_ref.py DIR   where DIR holds scene.npy (S,S,3 uint8), fix.npy (K,2
float64 fixations in pixel coordinates) and glimpses_f{f}_n{n}.npy (K,n,n,3 uint8) files
written by the C side. Exits 1 if any value differs by more than 1 (i.e. 1/255).
"""
import glob
import os
import re
import sys

import numpy as np


def glimpse(img, y, x, f, n):
    s = img.shape[0]
    m = f + 4  # zero margin wider than any window
    pad = np.zeros((s + 2 * m, s + 2 * m, 3), np.float64)
    pad[m:m + s, m:m + s] = img
    t = (np.arange(n) + 0.5) * (f / n) - 0.5  # sample offsets in pixel-index coordinates
    py, px = y - f / 2 + t, x - f / 2 + t
    r0, c0 = np.floor(py), np.floor(px)
    wy, wx = (py - r0)[:, None, None], (px - c0)[None, :, None]
    r0 = np.clip(r0.astype(np.int64) + m, 0, s + 2 * m - 2)[:, None]
    c0 = np.clip(c0.astype(np.int64) + m, 0, s + 2 * m - 2)[None, :]
    v = ((1 - wy) * (1 - wx) * pad[r0, c0] + (1 - wy) * wx * pad[r0, c0 + 1] +
         wy * (1 - wx) * pad[r0 + 1, c0] + wy * wx * pad[r0 + 1, c0 + 1])
    return np.clip(np.floor(v + 0.5), 0, 255)


def main():
    d = sys.argv[1]
    scene = np.load(os.path.join(d, "scene.npy"))
    fix = np.load(os.path.join(d, "fix.npy"))
    files = sorted(glob.glob(os.path.join(d, "glimpses_f*_n*.npy")))
    if not files:
        print("no glimpse files in", d)
        return 1
    worst = 0
    for path in files:
        f, n = map(int, re.search(r"_f(\d+)_n(\d+)\.npy$", path).groups())
        got = np.load(path).astype(np.float64)
        assert got.shape == (len(fix), n, n, 3), got.shape
        for k, (y, x) in enumerate(fix):
            diff = np.abs(got[k] - glimpse(scene, y, x, f, n)).max()
            worst = max(worst, diff)
            if diff > 1:
                print(f"{os.path.basename(path)} fixation {k} ({y}, {x}): off by {diff}")
    print(f"{len(files)} glimpse sets, {len(fix)} fixations each: largest difference {worst:g}/255")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
