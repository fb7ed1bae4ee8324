"""Worlds from Python: the Gymnasium contract for one interactive episode, and batched
rollouts written by the C renderer straight into numpy arrays."""
import ctypes
import os
import threading

import numpy as np

from . import _lib
from ._lib import Err, Owner, SeqJepaError, lib, ptr


def _worlds():
    names = []
    while lib.sjc_world_name(len(names)):
        names.append(lib.sjc_world_name(len(names)).decode())
    return tuple(names)


KINDS = _worlds()  # the world kinds the library knows, in the order of env.kind
SPLITS = {"train": 0, "val": 1, "heldout": 1, 0: 0, 1: 1}
_ENV_ARGS = ("lanes", "seed", "max_episode_steps", "render_mode", "overrides")

try:  # the Gymnasium spaces when available, the same description in numpy otherwise
    import gymnasium as _gym
except ImportError:  # pragma: no cover - depends on the machine
    _gym = None


class Box:
    """A box of numbers: shape, dtype, low and high (as gymnasium.spaces.Box)."""

    def __init__(self, low, high, shape, dtype, sampler=None, seed=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.low = np.full(self.shape, low, dtype=self.dtype)
        self.high = np.full(self.shape, high, dtype=self.dtype)
        self._sampler = sampler
        self.np_random = np.random.default_rng(seed)

    def seed(self, seed=None):
        self.np_random = np.random.default_rng(seed)
        return [seed]

    def sample(self):
        if self._sampler:
            return self._sampler(self.np_random)
        if np.issubdtype(self.dtype, np.integer):
            return self.np_random.integers(self.low, self.high, endpoint=True).astype(self.dtype)
        return self.np_random.uniform(self.low, self.high).astype(self.dtype)

    def contains(self, x):
        x = np.asarray(x)
        return (x.shape == self.shape and np.can_cast(x.dtype, self.dtype)
                and bool(np.all(x >= self.low)) and bool(np.all(x <= self.high)))

    __contains__ = contains

    def __repr__(self):
        return f"Box({self.low.flat[0]}, {self.high.flat[0]}, {self.shape}, {self.dtype})"


def _box(low, high, shape, dtype, sampler=None):
    if _gym is None:
        return Box(low, high, shape, dtype, sampler)

    class _SampledBox(_gym.spaces.Box):
        def sample(self, mask=None):
            return sampler(self.np_random) if sampler else super().sample(mask)

    return _SampledBox(low, high, shape, dtype)


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def overrides_from_kwargs(world=None, kwargs=None, overrides=None):
    """Turns make()'s arguments into "section.key=value" strings: size=32 -> env.size=32,
    agent__kind="walk" or agent={"kind": "walk"} -> agent.kind=walk."""
    out = []
    if world is not None:
        if world not in KINDS:
            raise ValueError(f"unknown world {world!r}; the worlds are {', '.join(KINDS)}")
        out.append(f"env.kind={world}")
    for key, v in (kwargs or {}).items():
        if isinstance(v, dict):
            out += [f"{key}.{k}={_value(x)}" for k, x in v.items()]
        elif "__" in key:
            sec, k = key.split("__", 1)
            out.append(f"{sec}.{k}={_value(v)}")
        else:
            out.append(f"env.{key}={_value(v)}")
    for o in overrides or ():
        if not isinstance(o, str) or "=" not in o:
            raise ValueError(f"an override is a 'section.key=value' string, got {o!r}")
        out.append(o)
    return out


def resolve_config(config):
    """A path as given, or the name of a preset in the repository's configs/
    ("objects3d-quick" -> configs/objects3d-quick.ini)."""
    if config is None or config == "":
        return None
    config = os.fspath(config)
    if os.path.exists(config):
        return config
    for name in (config, config + ".ini"):
        p = os.path.join(_lib.REPO, "configs", name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"config {config!r} is neither a file nor a preset in "
                            f"{os.path.join(_lib.REPO, 'configs')}")


def _with_assets(over):
    """The shaders live in the repository's assets/: point env.assets there unless the
    caller chose, or the working folder has its own."""
    if any(o.startswith("env.assets=") for o in over) or os.path.isdir("assets/shaders"):
        return over
    repo_assets = os.path.join(_lib.REPO, "assets")
    return over + [f"env.assets={repo_assets}"] if os.path.isdir(repo_assets) else over


def _unit_quaternions(at, dim):
    def sample(rng):
        a = np.zeros(dim, dtype=np.float32)
        q = rng.standard_normal(4)
        a[at:at + 4] = q / np.linalg.norm(q)
        return a
    return sample


class Env(Owner):
    """One world (see seqjepa.make). Not thread-safe: an Env belongs to the thread that
    made it (objects3d binds its GL context there)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, world=None, config=None, lanes=64, seed=None, max_episode_steps=None,
                 render_mode="rgb_array", overrides=None, **kwargs):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' (or None), got {render_mode!r}")
        self.render_mode = render_mode
        self._h = None
        over = _with_assets(overrides_from_kwargs(world, kwargs, overrides))
        path = resolve_config(config)
        arr, n = _lib.strings(over)
        e = Err()
        lanes = int(lanes)
        self._h = e.check_handle(lib.sjc_env_create(path.encode() if path else None, n, arr, lanes, *e.args))
        self._pid = os.getpid()
        self._thread = threading.get_ident()
        sp = _lib.Spec()
        lib.sjc_env_spec(self._h, ctypes.byref(sp))
        self.spec_c = sp
        self.kind = KINDS[sp.kind]
        self.lanes = sp.lanes
        self.obs_shape = (sp.height, sp.width, sp.channels)
        self.action_dim, self.latent_dim, self.n_classes = sp.action_dim, sp.latent_dim, sp.n_classes
        self.action_names = [lib.sjc_env_name(self._h, 0, i).decode() for i in range(sp.action_dim)]
        self.latent_names = [lib.sjc_env_name(self._h, 1, i).decode() for i in range(sp.latent_dim)]
        names = [lib.sjc_env_name(self._h, 2, i) for i in range(sp.n_classes)]
        self.class_names = [x.decode() if x else str(i) for i, x in enumerate(names)]
        # an object world's action opens its rotation part with a unit quaternion
        sampler = _unit_quaternions(sp.act_rot, sp.action_dim) if sp.family == 0 else None
        lo, hi = (-1.0, 1.0)
        self.observation_space = _box(0, 255, self.obs_shape, np.uint8)
        self.action_space = _box(lo, hi, (sp.action_dim,), np.float32, sampler)
        self.max_episode_steps = max_episode_steps
        self._rng = np.random.default_rng(seed)
        self._seed = 0 if seed is None else int(seed)
        self._next_seq = {0: 0, 1: 0}
        self._agents = {}
        self._t = 0
        self._last = None
        self._split = 0

    # ---- handle checks ----

    def _handle(self, what):
        if self._h is None:
            raise RuntimeError(f"{what}: the environment is closed")
        if os.getpid() != self._pid:
            raise RuntimeError(f"{what}: this environment was created in another process (before "
                               "a fork); create environments in the process that uses them")
        return self._h

    @property
    def closed(self):
        return self._h is None

    @property
    def unwrapped(self):
        return self

    def config_text(self):
        """The resolved configuration as INI text."""
        h = self._handle("config_text")
        n = lib.sjc_env_config_text(h, None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        lib.sjc_env_config_text(h, buf, n + 1)
        return buf.value.decode()

    # ---- the Gymnasium contract ----

    def _info(self, latent, label, instance):
        return {"latent": latent, "label": int(label.value), "instance": int(instance.value),
                "class_name": self.class_names[label.value] if 0 <= label.value < self.n_classes else "",
                "step": self._t}

    def reset(self, *, seed=None, options=None):
        """Starts an episode: a new object (or image) and initial state drawn from seed
        (None: the next of the env's own stream). options={"split": "val"} draws from the
        held-out objects. Returns (observation uint8 [H, W, 3], info)."""
        h = self._handle("reset")
        split = SPLITS.get((options or {}).get("split", "train"))
        if split is None:
            raise ValueError(f"split must be 'train' or 'val', got {(options or {}).get('split')!r}")
        if seed is None:
            seed = int(self._rng.integers(0, 2**63))
        elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        else:
            self._rng = np.random.default_rng(int(seed))
            self.action_space.seed(int(seed))
        obs = np.empty(self.obs_shape, np.uint8)
        lat = np.empty(self.latent_dim, np.float32)
        label, inst = _lib.c_i32(), _lib.c_i32()
        e = Err()
        e.check(lib.sjc_env_reset(h, int(seed), split, ptr(obs), ptr(lat), ctypes.byref(label),
                                  ctypes.byref(inst), *e.args))
        self._t, self._last, self._split = 0, obs, split
        return obs, self._info(lat, label, inst)

    def step(self, action):
        """Applies one relative action (action_dim floats: for objects3d the rotation
        from this view to the next as a unit quaternion w x y z). Returns (observation,
        reward 0.0, terminated False, truncated, info); truncated once max_episode_steps
        steps were taken."""
        h = self._handle("step")
        a = np.asarray(action)
        if a.shape != (self.action_dim,):
            raise ValueError(f"step: the action must have shape ({self.action_dim},) "
                             f"({' '.join(self.action_names)}), got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"step: the action must hold numbers, got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        obs = np.empty(self.obs_shape, np.uint8)
        lat = np.empty(self.latent_dim, np.float32)
        label, inst = _lib.c_i32(), _lib.c_i32()
        e = Err()
        e.check(lib.sjc_env_step(h, ptr(a), a.size, ptr(obs), ptr(lat), ctypes.byref(label),
                                 ctypes.byref(inst), *e.args))
        self._t += 1
        self._last = obs
        truncated = self.max_episode_steps is not None and self._t >= self.max_episode_steps
        return obs, 0.0, False, truncated, self._info(lat, label, inst)

    def render(self):
        """The current view as an RGB array uint8 [H, W, 3]."""
        h = self._handle("render")
        if self.render_mode is None:
            return None
        obs = np.empty(self.obs_shape, np.uint8)
        e = Err()
        e.check(lib.sjc_env_render(h, ptr(obs), *e.args))
        return obs

    def close(self):
        """Frees the world (and its agents). Safe to call twice; any other call after it
        raises."""
        if self._h is None:
            return
        h, self._h = self._h, None
        agents, self._agents = self._agents, {}
        if os.getpid() != self._pid:  # a copy inherited through fork: not ours to free
            return
        for a in agents.values():
            lib.sjc_agent_destroy(a)
        lib.sjc_env_destroy(h)

    def _collectable(self):
        return getattr(self, "_h", None) is not None and threading.get_ident() == self._thread

    def __repr__(self):
        state = "closed" if self._h is None else f"{self.obs_shape}, action_dim {self.action_dim}"
        return f"<seqjepa.Env {getattr(self, 'kind', '?')} {state}>"

    # ---- batched rollouts ----

    def _agent(self, agent):
        if agent is None:
            over = ()
        elif isinstance(agent, str):
            over = (f"kind={agent}",)
        elif isinstance(agent, dict):
            over = tuple(f"{k}={_value(v)}" for k, v in agent.items())
        else:
            raise TypeError(f"agent must be None (the config's), a policy name or a dict of "
                            f"[agent] keys, got {type(agent).__name__}")
        key = tuple(sorted(over))
        if key not in self._agents:
            arr, n = _lib.strings(over)
            e = Err()
            self._agents[key] = e.check_handle(lib.sjc_agent_create(self._h, n, arr, *e.args))
        return self._agents[key]

    def agent_kind(self, agent=None):
        """The policy that `agent` resolves to ("iid", "walk", ...)."""
        return lib.sjc_agent_kind(self._agent_checked(agent, "agent_kind")).decode()

    def _agent_checked(self, agent, what):
        self._handle(what)
        return self._agent(agent)

    def empty_batch(self, batch, views):
        """Arrays to pass as rollout(out=...) for reuse."""
        H, W, C = self.obs_shape
        return {"images": np.empty((batch, views, H, W, C), np.uint8),
                "actions": np.empty((batch, views - 1, self.action_dim), np.float32),
                "latents": np.empty((batch, views, self.latent_dim), np.float32),
                "labels": np.empty(batch, np.int32),
                "instances": np.empty(batch, np.int32)}

    def rollout(self, agent=None, batch=32, views=4, *, seed=None, first=None, split="train", out=None):
        """Rolls out `batch` sequences of `views` views with an agent (None: the config's
        [agent]; a policy name such as "walk"; or a dict of [agent] keys), rendered in
        batches of env.lanes by the C library straight into numpy arrays:
          images uint8 [B, T, H, W, 3], actions float32 [B, T-1, A] (action k leads from
          view k to k+1), latents float32 [B, T, L] (absolute), labels int32 [B],
          instances int32 [B].
        Sequence i of (seed, split) is the same as index i of `seqjepa gen` with that seed.
        first=None continues after the previous call's sequences. out: arrays from
        empty_batch to fill in place. Ends the interactive episode (call reset again)."""
        h = self._handle("rollout")
        batch, views = int(batch), int(views)
        if batch < 0 or views < 1:
            raise ValueError(f"rollout: need batch >= 0 and views >= 1, got {batch}, {views}")
        sp = SPLITS.get(split)
        if sp is None:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        seed = self._seed if seed is None else int(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        if first is None:
            first = self._next_seq[sp]
        first = int(first)
        if first < 0:
            raise ValueError(f"first must be >= 0, got {first}")
        want = self.empty_batch(0, views) if out is not None else None
        if out is None:
            out = self.empty_batch(batch, views)
        else:
            for k, ref in want.items():
                a = out.get(k)
                shape = (batch,) + ref.shape[1:]
                if (not isinstance(a, np.ndarray) or a.dtype != ref.dtype or a.shape != shape
                        or not a.flags.c_contiguous or not a.flags.writeable):
                    raise ValueError(f"rollout: out[{k!r}] must be a writeable C-contiguous "
                                     f"{ref.dtype} array of shape {shape}")
        a = self._agent(agent)
        e = Err()
        e.check(lib.sjc_rollout(h, a, seed, sp, first, batch, views, ptr(out["images"]),
                                ptr(out["actions"]), ptr(out["latents"]), ptr(out["labels"]),
                                ptr(out["instances"]), *e.args))
        self._next_seq[sp] = first + batch
        self._last = None
        return out


def make(world=None, config=None, **kwargs):
    """A world with the Gymnasium contract and batched rollouts.

    world: "objects3d" or "saccade" (None: what the config says). config: an INI file or
    a preset name from configs/ ("objects3d-quick"). Keyword arguments set config keys:
    size=32 sets env.size; agent__kind="walk" or agent={"kind": "walk"} set another
    section's keys; overrides=["model.width=8"] passes strings as the command line does.
    Also: lanes (sequences rendered together by rollout, default 64), seed (the
    rollout seed and the start of reset's stream), max_episode_steps, render_mode."""
    return Env(world, config, **kwargs)
