"""Checkpoints (.safetensors) as numpy state dicts, and models that embed views."""
import ctypes
import os
from collections import OrderedDict

import numpy as np

from . import _lib
from ._lib import Err, Owner, lib, ptr


def load_checkpoint(path, with_metadata=False):
    """The tensors of a .safetensors file (a checkpoint of `seqjepa train`) as an ordered
    {name: numpy array} state dict, names as the PyTorch modules of the seq-JEPA authors
    ("encoder.layer1.0.conv1.weight", "transformer_encoder.norm.weight", ...). With
    with_metadata=True, returns (state_dict, {key: str}) (the run config is under
    "config"). Arrays are copies; the file is closed on return."""
    e = Err()
    h = e.check_handle(lib.sjc_tensors_open(os.fsencode(path), *e.args))
    try:
        out = OrderedDict()
        name, dt, nd = _lib.c_char_p(), ctypes.c_int(), ctypes.c_int()
        shape = (_lib.c_i64 * 8)()
        data, nbytes = ctypes.c_void_p(), _lib.c_i64()
        for i in range(lib.sjc_tensors_count(h)):
            if lib.sjc_tensors_at(h, i, ctypes.byref(name), ctypes.byref(dt), ctypes.byref(nd), shape,
                                  ctypes.byref(data), ctypes.byref(nbytes)):
                raise IndexError(i)
            dtype = np.dtype(_lib.DTYPES[dt.value]).newbyteorder("<")
            shp = tuple(shape[k] for k in range(nd.value))
            raw = ctypes.string_at(data.value, nbytes.value) if nbytes.value else b""
            out[name.value.decode()] = np.frombuffer(raw, dtype=dtype).reshape(shp).astype(dtype.newbyteorder("="))
        meta = {lib.sjc_tensors_meta(h, i, 0).decode(): lib.sjc_tensors_meta(h, i, 1).decode()
                for i in range(lib.sjc_tensors_meta_count(h))}
    finally:
        lib.sjc_tensors_close(h)
    return (out, meta) if with_metadata else out


def set_threads(threads=0):
    """Threads the model engine uses for the calling thread's embeds (0: one per core).
    Optional; the first model loaded starts one per core. Call it in the process that
    embeds (a forked child cannot use an engine its parent started)."""
    e = Err()
    e.check(lib.sjc_runtime_init(int(threads), *e.args))


class Model(Owner):
    """A seq-JEPA model loaded from a checkpoint, evaluated by the C engine."""

    def __init__(self, path):
        e = Err()
        self._h = e.check_handle(lib.sjc_model_load(os.fsencode(path), *e.args))
        self._pid = os.getpid()
        v = [_lib.c_i32() for _ in range(5)]
        step = _lib.c_i64()
        lib.sjc_model_info(self._h, *[ctypes.byref(x) for x in v], ctypes.byref(step))
        self.image_size = (v[0].value, v[1].value)
        self.action_dim, self.enc_dim, self.agg_dim = v[2].value, v[3].value, v[4].value
        self.step = step.value
        self.path = os.fspath(path)

    def _handle(self):
        if self._h is None:
            raise RuntimeError("embed: the model is closed")
        if os.getpid() != self._pid:
            raise RuntimeError("embed: this model was loaded in another process (before a fork)")
        return self._h

    def embed(self, views, actions=None):
        """Eval-mode encodings and aggregates: views uint8 [N, M, H, W, 3] (or one
        sequence [M, H, W, 3]) and the relative actions between them float [N, M-1, A]
        -> (z float32 [N, M, D], z_agg float32 [N, E]) (without the N axis for one
        sequence). M is 1 to 64."""
        h = self._handle()
        v = np.asarray(views)
        single = v.ndim == 4
        if single:
            v = v[None]
        H, W = self.image_size
        if v.dtype != np.uint8:
            raise TypeError(f"embed: views must be uint8 pixels, got {v.dtype}")
        if v.ndim != 5 or v.shape[2:] != (H, W, 3) or v.shape[0] < 1 or not 1 <= v.shape[1] <= 64:
            raise ValueError(f"embed: views must have shape [N, M, {H}, {W}, 3] with N >= 1 and "
                             f"1 <= M <= 64 for this model, got {tuple(np.shape(views))}")
        N, M = v.shape[:2]
        if actions is None:
            if M > 1:
                raise ValueError(f"embed: {M} views need {M - 1} actions between them")
            a = np.zeros((N, 0, self.action_dim), np.float32)
        else:
            a = np.asarray(actions, dtype=np.float32)
            if single:
                a = a[None]
            if a.shape != (N, M - 1, self.action_dim):
                raise ValueError(f"embed: actions must have shape {(N, M - 1, self.action_dim)}"
                                 f"{' (one sequence: without N)' if single else ''}, got "
                                 f"{tuple(np.shape(actions))}")
        v, a = np.ascontiguousarray(v), np.ascontiguousarray(a)
        z = np.empty((N, M, self.enc_dim), np.float32)
        za = np.empty((N, self.agg_dim), np.float32)
        e = Err()
        e.check(lib.sjc_model_embed(h, ptr(v), ptr(a), N, M, ptr(z), ptr(za), *e.args))
        return (z[0], za[0]) if single else (z, za)

    def close(self):
        h, self._h = self._h, None
        if h is not None and os.getpid() == self._pid:
            lib.sjc_model_destroy(h)


def load_model(path):
    """A Model (embed from Python) from a checkpoint written by `seqjepa train`."""
    return Model(path)
