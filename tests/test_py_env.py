"""The Python package's worlds (python/seqjepa, numpy only): the Gymnasium contract,
batched rollouts that equal what `seqjepa gen` writes, the dataset reader, and clear
exceptions for bad calls. Needs `make python`; run by tests/run.sh."""
import os
import sys
import tempfile
import threading

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import ROOT, Checks, run  # noqa: E402

import seqjepa  # noqa: E402

c = Checks()
tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
O3 = ["configs/objects3d-quick.ini", "env.instances=4"]
SAC = ["configs/saccade-quick.ini", "env.n_scenes=40"]


def gen(name, cfg, views, extra=()):
    out = os.path.join(tmp, name)
    r = run("gen", *cfg, "--out", out, "gen.train_seqs=11", "gen.val_seqs=5", "gen.shard_size=4",
            f"gen.views={views}", "gen.seed=3", *extra, "--quiet")
    c.check(r.returncode == 0, f"gen {name}", r.stderr[-1500:])
    return out


def shards(ds):
    return {k: np.concatenate([ds.shard(i)[k] for i in range(len(ds._shards))])
            for k in ("images", "actions", "latents", "labels", "instances")}


def over_kwargs(cfg):
    return {"config": os.path.join(ROOT, cfg[0]), "overrides": cfg[1:]}


def rollouts_equal_gen(world, cfg, views):
    d = gen(world, cfg, views)
    if not os.path.exists(os.path.join(d, "manifest.json")):
        return
    for split, n in (("train", 11), ("val", 5)):
        ds = seqjepa.Dataset(d, split)
        c.check(len(ds) == n and ds.views == views, f"{world} {split}: dataset length and views")
        ref = shards(ds)
        # lanes smaller than the batch: the rollout runs in chunks, the bytes stay the same
        with seqjepa.make(**over_kwargs(cfg), lanes=3, seed=3) as env:
            b = env.rollout(batch=n, views=views, split=split)
            c.check(env.kind == world, f"{world}: kind")
            for k in ref:
                c.check(np.array_equal(b[k], ref[k]), f"{world} {split}: rollout {k} equal to gen's")
            part = env.rollout(batch=2, views=views, split=split, first=1)
            c.check(np.array_equal(part["images"], ref["images"][1:3]) and
                    np.array_equal(part["labels"], ref["labels"][1:3]),
                    f"{world} {split}: sequences 1..2 alone equal gen's rows 1..2")
            nxt = env.rollout(batch=2, views=views, split=split)  # continues after 1+2
            c.check(np.array_equal(nxt["images"], ref["images"][3:5]),
                    f"{world} {split}: first=None continues after the previous call")
            item = ds[n - 1]
            c.check(np.array_equal(item["images"], ref["images"][n - 1]) and item["label"] == ref["labels"][n - 1]
                    and np.array_equal(item["actions"], ref["actions"][n - 1]),
                    f"{world} {split}: Dataset[n-1] is the last row")
            out = env.empty_batch(4, views)
            same = env.rollout(batch=4, views=views, split=split, first=0, out=out)
            c.check(same is out and np.array_equal(out["latents"], ref["latents"][:4]),
                    f"{world} {split}: rollout(out=...) fills the given arrays")
    c.raises(IndexError, ["outside"], lambda: ds[len(ds)], f"{world}: Dataset index out of range")


def gym_contract():
    env = seqjepa.make("objects3d", config="objects3d-quick", instances=4, lanes=2, max_episode_steps=3)
    H, W, C = env.obs_shape
    c.check((H, W, C) == (32, 32, 3) and env.action_dim == 4 and env.latent_dim == 11,
            "objects3d spec from the config", str((env.obs_shape, env.action_dim, env.latent_dim)))
    c.check(env.observation_space.shape == (32, 32, 3) and env.observation_space.dtype == np.uint8
            and env.action_space.shape == (4,) and env.action_space.dtype == np.float32,
            "observation and action spaces")
    obs, info = env.reset(seed=11)
    c.check(obs.dtype == np.uint8 and obs.shape == (32, 32, 3) and obs.std() > 0, "reset gives an image")
    c.check(env.observation_space.contains(obs), "the observation is in its space")
    c.check(set(info) >= {"latent", "label", "instance"} and info["latent"].shape == (11,)
            and 0 <= info["label"] < env.n_classes, "info holds latent, label, instance", str(info))
    c.check(abs(np.linalg.norm(info["latent"][:4]) - 1) < 1e-5, "latent starts with a unit quaternion")
    obs2, info2 = env.reset(seed=11)
    c.check(np.array_equal(obs, obs2) and np.array_equal(info["latent"], info2["latent"]),
            "reset with the same seed gives the same bytes")
    ident = np.array([1, 0, 0, 0], np.float32)
    o, r, term, trunc, inf = env.step(ident)
    c.check(np.array_equal(o, obs) and np.allclose(inf["latent"], info["latent"]) and r == 0.0
            and term is False and trunc is False, "the identity action changes nothing")
    c.check(np.array_equal(env.render(), o), "render() gives the current view")
    a = env.action_space.sample()
    c.check(a.shape == (4,) and abs(np.linalg.norm(a) - 1) < 1e-5, "action_space.sample() is a unit quaternion")
    o, _, _, trunc, inf = env.step(a)
    q0, q1 = info["latent"][:4].astype(np.float64), inf["latent"][:4].astype(np.float64)

    def qmul(p, q):
        w1, x1, y1, z1 = p
        w2, x2, y2, z2 = q
        return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                         w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])
    want = qmul(q0, a.astype(np.float64))
    c.check(min(np.abs(want - q1).max(), np.abs(want + q1).max()) < 1e-4,
            "step composes the relative rotation: q1 = q0 * a", f"{want} vs {q1}")
    c.check(not np.array_equal(o, obs), "a random rotation changes the view")
    _, _, _, trunc, _ = env.step(ident)
    c.check(trunc is True, "truncated after max_episode_steps")
    _, vinfo = env.reset(seed=1, options={"split": "val"})
    c.check(vinfo["instance"] >= 0, "reset on the held-out split")
    b = env.rollout("walk", batch=3, views=4)
    c.check(b["images"].shape == (3, 4, 32, 32, 3) and b["actions"].shape == (3, 3, 4)
            and b["latents"].shape == (3, 4, 11) and b["labels"].shape == (3,), "rollout shapes")
    c.check(env.agent_kind("walk") == "walk" and env.agent_kind() == "iid", "agent kinds")
    c.raises(seqjepa.SeqJepaError, ["reset first"], lambda: env.step(ident), "step after a rollout")
    env.reset(seed=2)
    c.raises(ValueError, ["shape (4,)", "(3,)"], lambda: env.step(np.zeros(3)), "wrong action shape")
    c.raises(ValueError, ["shape (4,)"], lambda: env.step(np.zeros((1, 4))), "batched action to step")
    c.raises(seqjepa.SeqJepaError, ["unit quaternion", "norm is 2"], lambda: env.step(2 * ident),
             "non-unit quaternion")
    c.raises(seqjepa.SeqJepaError, ["nan"], lambda: env.step(np.array([np.nan, 0, 0, 0])), "NaN action")
    c.raises(TypeError, ["numbers"], lambda: env.step(np.array(["a", "b", "c", "d"])), "string action")
    c.raises(ValueError, ["seed"], lambda: env.reset(seed=-1), "negative seed")
    c.raises(ValueError, ["split"], lambda: env.reset(options={"split": "test"}), "unknown split")
    c.raises(seqjepa.SeqJepaError, ["kind", "bogus"], lambda: env.rollout("bogus", batch=1), "unknown agent")
    c.raises(seqjepa.SeqJepaError, ["unknown key", "max_anglee"],
             lambda: env.rollout({"max_anglee": 3}, batch=1), "unknown agent key")
    c.raises(ValueError, ["out['images']"],
             lambda: env.rollout(batch=2, views=3, out=env.empty_batch(3, 3)), "rollout into wrong arrays")

    # the env belongs to its thread: another thread gets an exception, not a crash
    box = {}

    def other():
        try:
            env.reset(seed=1)
            box["r"] = "no error"
        except seqjepa.SeqJepaError as e:
            box["r"] = str(e)
    t = threading.Thread(target=other)
    t.start()
    t.join()
    c.check("thread" in box.get("r", ""), "reset from another thread raises", box.get("r"))
    env.close()
    env.close()
    c.raises(RuntimeError, ["closed"], lambda: env.reset(), "reset on a closed env")
    c.raises(RuntimeError, ["closed"], lambda: env.step(ident), "step on a closed env")
    c.raises(RuntimeError, ["closed"], lambda: env.rollout(batch=1), "rollout on a closed env")


def bad_makes():
    c.raises(seqjepa.SeqJepaError, ["unknown key", "bogus"], lambda: seqjepa.make("objects3d", bogus=3),
             "unknown env key")
    c.raises(seqjepa.SeqJepaError, ["unknown section", "nosuch"],
             lambda: seqjepa.make("objects3d", nosuch={"a": 1}), "unknown section")
    c.raises(seqjepa.SeqJepaError, ["size"], lambda: seqjepa.make("objects3d", size=100000), "size out of range")
    c.raises(ValueError, ["world", "worlds"], lambda: seqjepa.make("chess"), "unknown world")
    c.raises(FileNotFoundError, ["nosuch.ini"], lambda: seqjepa.make(config="nosuch.ini"), "missing config")
    bad = os.path.join(tmp, "bad.ini")
    with open(bad, "w") as f:
        f.write("[env]\nsize = 32\nsize = banana\n")
    c.raises(seqjepa.SeqJepaError, ["bad.ini", "3"], lambda: seqjepa.make(config=bad), "bad config names file and line")
    c.raises(seqjepa.SeqJepaError, ["lanes"], lambda: seqjepa.make("saccade", lanes=0), "zero lanes")
    env = seqjepa.make("saccade", n_scenes=40, heldout=0, lanes=2)
    c.raises(seqjepa.SeqJepaError, ["held-out"], lambda: env.reset(seed=1, options={"split": "val"}),
             "reset on an empty held-out split")
    c.check(env.action_dim == 2 and env.kind == "saccade", "saccade spec")
    obs, info = env.reset(seed=4)
    o, *_ , inf = env.step(np.array([0.25, -0.25], np.float32))
    c.check(np.allclose(inf["latent"] - info["latent"], [0.25, -0.25]) or not np.all(
        (info["latent"] + [0.25, -0.25] >= 0) & (info["latent"] + [0.25, -0.25] <= 1)),
        "saccade step moves the fixation by the action", f"{info['latent']} -> {inf['latent']}")
    c.check("[env]" in env.config_text() and "kind = saccade" in env.config_text(), "config_text")
    env.close()


rollouts_equal_gen("objects3d", O3, 3)
rollouts_equal_gen("saccade", SAC, 4)
gym_contract()
bad_makes()
sys.exit(c.done())
