"""PyTorch datasets over seqjepa's worlds and datasets (needs torch).

StreamDataset: an IterableDataset of sequences rolled out on-line by the C library, in
chunks rendered together; each DataLoader worker makes its own world and takes every
num_workers-th chunk, so workers never repeat each other and sequence i is the same
bytes whatever the worker count (it is index i of `seqjepa gen` with the same seed).
OpenGL cannot render in a process forked from one that already rendered: when the
training process itself made an objects3d world before, pass
DataLoader(..., multiprocessing_context="spawn") (the workers then say so otherwise).

ShardDataset: a map-style Dataset over the memory-mapped shards of `seqjepa gen`.

Both yield what a seq-JEPA training step consumes, as a dict:
  images  uint8   [T, H, W, 3]  views 0..T-2 observed, view T-1 the target
  actions float32 [T-1, A]      action k leads from view k to view k+1
  latents float32 [T, L]        absolute state of each view
  label   int                   class (for probes)
  index   int                   sequence index in its split
(DataLoader's default collate stacks them into tensors with a leading batch axis.)"""
import os

import numpy as np
import torch
from torch.utils.data import Dataset as _TorchDataset
from torch.utils.data import IterableDataset, get_worker_info

from .dataset import Dataset as _Shards
from .env import SPLITS, Env

__all__ = ["StreamDataset", "ShardDataset"]


class StreamDataset(IterableDataset):
    """Sequences rolled out on-line.

    world, config and keyword overrides as seqjepa.make (size=32, agent__kind="walk",
    overrides=[...]); views: T per sequence; agent: None (the config's), a policy name or
    a dict of [agent] keys; seed and split: which stream; sequences: how many per epoch
    (None: endless); chunk: sequences rendered together per rollout call; batched: yield
    whole chunks as dicts of tensors (use DataLoader(batch_size=None)) instead of single
    sequences. set_epoch(e) moves a finite stream to seed + e."""

    def __init__(self, world=None, config=None, *, views=4, agent=None, seed=0, split="train",
                 sequences=None, chunk=64, batched=False, lanes=None, **overrides):
        super().__init__()
        if SPLITS.get(split) is None:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if int(views) < 1 or int(chunk) < 1 or (sequences is not None and int(sequences) < 0):
            raise ValueError("views and chunk must be >= 1 and sequences >= 0")
        self.world, self.config, self.overrides = world, config, overrides
        self.views, self.agent, self.seed, self.split = int(views), agent, int(seed), split
        self.sequences = None if sequences is None else int(sequences)
        self.chunk, self.batched = int(chunk), bool(batched)
        self.lanes = int(lanes) if lanes else min(self.chunk, 256)
        self.epoch = 0
        self._env = None

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        if self.sequences is None:
            raise TypeError("an endless StreamDataset has no length (pass sequences=N)")
        return self.sequences if not self.batched else -(-self.sequences // self.chunk)

    def env(self):
        """This process's world (made on first use, so each DataLoader worker has its own)."""
        if self._env is None or self._env.closed or self._env._pid != os.getpid():
            self._env = Env(self.world, self.config, lanes=self.lanes, **self.overrides)
        return self._env

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_env"] = None
        return d

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        env = self.env()
        seed = self.seed + self.epoch
        k = wid
        while True:
            first = k * self.chunk
            n = self.chunk
            if self.sequences is not None:
                if first >= self.sequences:
                    return
                n = min(n, self.sequences - first)
            b = env.rollout(self.agent, n, self.views, seed=seed, first=first, split=self.split)
            if self.batched:
                yield {"images": torch.from_numpy(b["images"]), "actions": torch.from_numpy(b["actions"]),
                       "latents": torch.from_numpy(b["latents"]),
                       "label": torch.from_numpy(b["labels"].astype(np.int64)),
                       "index": torch.arange(first, first + n)}
            else:
                for j in range(n):
                    yield {"images": b["images"][j], "actions": b["actions"][j], "latents": b["latents"][j],
                           "label": int(b["labels"][j]), "index": first + j}
            k += nw


class ShardDataset(_TorchDataset):
    """One split of a dataset folder made by `seqjepa gen`, memory-mapped; views: keep the
    first `views` views of each sequence (None: all)."""

    def __init__(self, root, split="train", views=None):
        super().__init__()
        self.data = _Shards(root, split)
        if views is not None and not 1 <= int(views) <= self.data.views:
            raise ValueError(f"views must be in 1..{self.data.views} for this dataset, got {views}")
        self.views = self.data.views if views is None else int(views)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        k, r = self.data.locate(int(i))
        s = self.data.shard(k)
        t = self.views
        return {"images": np.array(s["images"][r, :t]), "actions": np.array(s["actions"][r, :t - 1]),
                "latents": np.array(s["latents"][r, :t]), "label": int(s["labels"][r]),
                "index": int(i)}
