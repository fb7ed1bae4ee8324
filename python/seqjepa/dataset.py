"""Datasets written by `seqjepa gen`, read with numpy alone (memory-mapped shards)."""
import json
import os

import numpy as np

FILES = ("images", "actions", "latents", "labels", "instances")


class Dataset:
    """One split ("train" or "val") of a dataset folder made by `seqjepa gen`: len() is
    its sequence count and ds[i] a dict of numpy arrays for sequence i:
      images uint8 [T, H, W, 3], actions float32 [T-1, A], latents float32 [T, L],
      label int, instance int.
    Shards are memory-mapped on first use (so a Dataset can be handed to forked DataLoader
    workers before any shard is opened)."""

    def __init__(self, root, split="train"):
        self.root = os.fspath(root)
        path = os.path.join(self.root, "manifest.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} does not exist: not a dataset made by `seqjepa gen`, "
                                    "or its generation is not finished")
        with open(path) as f:
            self.manifest = m = json.load(f)
        if m.get("format") != "seqjepa-dataset":
            raise ValueError(f"{path}: not a seqjepa dataset manifest")
        if split not in m["splits"]:
            raise ValueError(f"split must be one of {', '.join(m['splits'])}, got {split!r}")
        self.split = split
        s = m["splits"][split]
        self.views = int(m["views"])
        env = m["env"]
        self.kind = env["kind"]
        self.image_shape = (env["height"], env["width"], env["channels"])
        self.action_dim, self.latent_dim = env["action_dim"], env["latent_dim"]
        self.n_classes = env["n_classes"]
        self.action_names, self.latent_names = env["action_names"], env["latent_names"]
        self.config = m.get("config", {})
        self._shards = [(sh["name"], int(sh["first"]), int(sh["sequences"])) for sh in s["shards"]]
        self._starts = np.array([first for _, first, _ in self._shards] + [int(s["sequences"])], np.int64)
        for (name, first, n), nxt in zip(self._shards, self._starts[1:]):
            if first + n != nxt:
                raise ValueError(f"{path}: shard {name} of {split} holds sequences {first}..{first + n - 1}, "
                                 f"but the next starts at {nxt}")
        self._maps = {}

    def __len__(self):
        return int(self._starts[-1])

    def shard(self, k):
        """Shard k's arrays (memory-mapped, read-only) as a dict."""
        if k not in self._maps:
            name = self._shards[k][0]
            d = os.path.join(self.root, self.split, name)
            arrs = {f: np.load(os.path.join(d, f + ".npy"), mmap_mode="r") for f in FILES}
            n = self._shards[k][2]
            if arrs["images"].shape[:2] != (n, self.views) or arrs["images"].shape[2:] != self.image_shape:
                raise ValueError(f"{d}/images.npy has shape {arrs['images'].shape}, the manifest says "
                                 f"{(n, self.views) + self.image_shape}")
            self._maps[k] = arrs
        return self._maps[k]

    def locate(self, i):
        """(shard index, row) of sequence i."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sequence {i} is outside this split's 0..{n - 1}")
        k = int(np.searchsorted(self._starts, i, side="right") - 1)
        return k, i - int(self._starts[k])

    def __getitem__(self, i):
        k, r = self.locate(int(i))
        s = self.shard(k)
        return {"images": np.array(s["images"][r]), "actions": np.array(s["actions"][r]),
                "latents": np.array(s["latents"][r]), "label": int(s["labels"][r]),
                "instance": int(s["instances"][r])}

    def __getstate__(self):  # maps are reopened in the process that unpickles
        d = dict(self.__dict__)
        d["_maps"] = {}
        return d


def open_dataset(root, split="train"):
    """Dataset(root, split)."""
    return Dataset(root, split)
