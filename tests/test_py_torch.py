"""seqjepa.torch with PyTorch's DataLoader (2 workers): StreamDataset streams every
sequence once, equal to this process's own rollout of the same indices, ShardDataset reads gen's shards, and a batch from
either drives one training step of the PyTorch reference model (tests/ref/sj_ref.py).
A process that has rendered cannot fork rendering workers: the worker raises a clear
error (no hang) and spawned workers work.
Passes with nothing to check where torch is missing. Needs `make python`."""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import ROOT, Checks, run, torch_or_exit  # noqa: E402

c = Checks()
torch = torch_or_exit(c)
from torch.utils.data import DataLoader  # noqa: E402

import seqjepa  # noqa: E402
from seqjepa.torch import ShardDataset, StreamDataset  # noqa: E402

torch.set_num_threads(1)
tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
CFG = os.path.join(ROOT, "configs", "objects3d-quick.ini")


def collect(loader):
    out = {}
    for b in loader:
        for k, v in b.items():
            out.setdefault(k, []).append(v)
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def train_step(batch):
    """One forward and backward of the reference model on a collated batch."""
    from sj_ref import SeqJEPA
    spec = {"widths": [4, 8, 16, 32], "cifar": True, "action_emb": 16, "layers": 1, "heads": 2,
            "ffn": 96, "pred_hidden": 32}
    model = SeqJEPA(spec, batch["actions"].shape[-1])
    mean = torch.full((1, 1, 1, 1, 3), 0.5)
    std = torch.full((1, 1, 1, 1, 3), 0.25)
    m = batch["images"].shape[1] - 1
    _, _, _, _, loss = model(batch["images"], batch["actions"], m, mean, std)
    loss.backward()
    return float(loss)


def stream():
    ds = StreamDataset(config=CFG, instances=4, views=4, seed=5, sequences=22, chunk=4)
    c.check(len(ds) == 22, "StreamDataset length")
    # forked workers (DataLoader's default) while this process has not rendered yet
    got = collect(DataLoader(ds, batch_size=6, num_workers=2))
    order = np.argsort(got["index"])
    c.check(np.array_equal(got["index"][order], np.arange(22)), "2 workers: every sequence exactly once",
            str(got["index"]))
    ds.set_epoch(1)
    again = collect(DataLoader(ds, batch_size=6, num_workers=2))
    ds.set_epoch(0)
    bds = StreamDataset(config=CFG, instances=4, views=4, seed=5, sequences=22, chunk=4, batched=True)
    chunks = list(DataLoader(bds, batch_size=None, num_workers=2))

    # this process's own rollout of the same indices, after the workers are gone
    parent = seqjepa.make(config=CFG, instances=4, lanes=8)
    ref = parent.rollout(batch=22, views=4, seed=5)
    c.check(np.array_equal(got["images"][order], ref["images"]) and np.array_equal(got["actions"][order], ref["actions"])
            and np.array_equal(got["label"][order], ref["labels"]) and np.array_equal(got["latents"][order], ref["latents"]),
            "2 workers: the sequences equal this process's rollout of the same indices")
    c.check(got["images"].dtype == np.uint8 and got["actions"].dtype == np.float32, "dtypes")
    c.check(not np.array_equal(again["images"][np.argsort(again["index"])], got["images"][order]),
            "set_epoch gives other sequences")
    c.check(len(chunks) == len(bds) == 6 and sorted(int(b["index"][0]) for b in chunks) == [0, 4, 8, 12, 16, 20],
            "batched: whole chunks, each once")
    c.check(all(torch.equal(b["images"], torch.from_numpy(ref["images"][int(b["index"][0]):int(b["index"][-1]) + 1]))
                for b in chunks), "batched: chunks equal this process's rollout")

    # now that this process has rendered, forked workers cannot: a clear error, no hang
    try:
        list(DataLoader(ds, batch_size=6, num_workers=2))
        c.check(False, "fork after rendering raises")
    except Exception as e:  # noqa: BLE001 - DataLoader re-raises the worker's exception
        c.check(isinstance(e, seqjepa.SeqJepaError) and "spawn" in str(e), "fork after rendering raises",
                f"{type(e).__name__}: {str(e)[-300:]}")
    spawned = collect(DataLoader(ds, batch_size=6, num_workers=2, multiprocessing_context="spawn"))
    so = np.argsort(spawned["index"])
    c.check(np.array_equal(spawned["index"][so], np.arange(22)) and np.array_equal(spawned["images"][so], ref["images"]),
            "spawned workers: every sequence once, equal to this process's rollout")
    # saccade's procedural world does not render with OpenGL: forked workers are fine
    endless = iter(DataLoader(StreamDataset("saccade", n_scenes=40, size=32, views=5, chunk=3), batch_size=4, num_workers=2))
    b = [next(endless) for _ in range(3)]
    c.check(b[2]["images"].shape == (4, 5, 32, 32, 3) and b[2]["actions"].shape == (4, 4, 2),
            "endless saccade stream", str(b[2]["images"].shape))
    del endless
    loss = train_step(next(iter(DataLoader(ds, batch_size=8, num_workers=0))))
    c.check(np.isfinite(loss), "a StreamDataset batch drives a training step", str(loss))
    parent.close()
    c.raises(ValueError, ["split"], lambda: StreamDataset(split="test"), "StreamDataset bad split")


def shards():
    d = os.path.join(tmp, "ds")
    r = run("gen", CFG, "env.instances=4", "--out", d, "gen.train_seqs=13", "gen.val_seqs=3",
            "gen.shard_size=5", "gen.views=4", "--quiet")
    if not c.check(r.returncode == 0, "gen", r.stderr[-1500:]):
        return
    ds = ShardDataset(d, "train")
    ref = seqjepa.Dataset(d, "train")
    c.check(len(ds) == 13, "ShardDataset length")
    got = collect(DataLoader(ds, batch_size=3, num_workers=2, shuffle=False))
    want = np.stack([ref[i]["images"] for i in range(13)])
    c.check(np.array_equal(got["images"], want) and np.array_equal(got["index"], np.arange(13))
            and np.array_equal(got["label"], [ref[i]["label"] for i in range(13)]),
            "2 workers over the shards: every sequence in order, equal to the files")
    shuffled = collect(DataLoader(ds, batch_size=4, num_workers=2, shuffle=True))
    c.check(sorted(shuffled["index"]) == list(range(13)), "shuffled: each once")
    short = ShardDataset(d, "val", views=3)
    item = short[2]
    c.check(item["images"].shape == (3, 32, 32, 3) and item["actions"].shape == (2, 4), "views=3 keeps the first 3")
    loss = train_step(next(iter(DataLoader(ds, batch_size=4))))
    c.check(np.isfinite(loss), "a ShardDataset batch drives a training step", str(loss))
    c.raises(ValueError, ["views"], lambda: ShardDataset(d, views=9), "too many views")
    c.raises(FileNotFoundError, ["manifest.json"], lambda: ShardDataset(tmp), "not a dataset")


if __name__ == "__main__":  # spawned workers import this file: run nothing there
    stream()
    shards()
    sys.exit(c.done())
