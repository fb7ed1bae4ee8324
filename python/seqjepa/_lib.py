"""ctypes bindings of libseqjepa.so (capi/seqjepa.h). Internal: use the package's
public functions instead."""
import ctypes
import os

import numpy as np

ABI = 2
_HERE = os.path.dirname(os.path.abspath(__file__))
# python/seqjepa/ -> the repository root (for the build folder, configs/ and assets/)
REPO = os.path.dirname(os.path.dirname(_HERE))


class SeqJepaError(RuntimeError):
    """A failure reported by the C library; the message is the library's own sentence."""


def _candidates():
    env = os.environ.get("SEQJEPA_LIB")
    if env:
        return [env]
    return [os.path.join(_HERE, "libseqjepa.so"),
            os.path.join(REPO, "build", "release", "libseqjepa.so")]


def _load():
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            try:
                return ctypes.CDLL(path), path
            except OSError as e:
                tried.append(f"{path}: {e}")
        else:
            tried.append(f"{path}: not found")
    raise ImportError("seqjepa: cannot load libseqjepa.so (build it with `make python` in the "
                      "repository, or point SEQJEPA_LIB at it): " + "; ".join(tried))


lib, LIB_PATH = _load()

c_int, c_char_p, c_void_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
c_u64, c_i64, c_i32 = ctypes.c_uint64, ctypes.c_int64, ctypes.c_int32
P = ctypes.POINTER


class Spec(ctypes.Structure):
    _fields_ = [("height", c_i32), ("width", c_i32), ("channels", c_i32), ("action_dim", c_i32),
                ("latent_dim", c_i32), ("n_classes", c_i32), ("lanes", c_i32), ("kind", c_i32),
                ("family", c_i32), ("act_rot", c_i32)]


def _sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


ERR = (c_char_p, c_size_t)
_sig("sjc_abi", c_int)
_sig("sjc_version", c_char_p)
_sig("sjc_env_create", c_void_p, c_char_p, c_int, P(c_char_p), c_int, *ERR)
_sig("sjc_env_destroy", None, c_void_p)
_sig("sjc_env_spec", None, c_void_p, P(Spec))
_sig("sjc_env_name", c_char_p, c_void_p, c_int, c_int)
_sig("sjc_world_name", c_char_p, c_int)
_sig("sjc_env_config_text", c_size_t, c_void_p, c_char_p, c_size_t)
_sig("sjc_env_reset", c_int, c_void_p, c_u64, c_int, c_void_p, c_void_p, P(c_i32), P(c_i32), *ERR)
_sig("sjc_env_step", c_int, c_void_p, c_void_p, c_int, c_void_p, c_void_p, P(c_i32), P(c_i32), *ERR)
_sig("sjc_env_render", c_int, c_void_p, c_void_p, *ERR)
_sig("sjc_agent_create", c_void_p, c_void_p, c_int, P(c_char_p), *ERR)
_sig("sjc_agent_destroy", None, c_void_p)
_sig("sjc_agent_kind", c_char_p, c_void_p)
_sig("sjc_rollout", c_int, c_void_p, c_void_p, c_u64, c_int, c_u64, c_int, c_int,
     c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, *ERR)
_sig("sjc_tensors_open", c_void_p, c_char_p, *ERR)
_sig("sjc_tensors_close", None, c_void_p)
_sig("sjc_tensors_count", c_int, c_void_p)
_sig("sjc_tensors_at", c_int, c_void_p, c_int, P(c_char_p), P(c_int), P(c_int), P(c_i64),
     P(c_void_p), P(c_i64))
_sig("sjc_tensors_meta_count", c_int, c_void_p)
_sig("sjc_tensors_meta", c_char_p, c_void_p, c_int, c_int)
_sig("sjc_runtime_init", c_int, c_int, *ERR)
_sig("sjc_model_load", c_void_p, c_char_p, *ERR)
_sig("sjc_model_destroy", None, c_void_p)
_sig("sjc_model_info", None, c_void_p, P(c_i32), P(c_i32), P(c_i32), P(c_i32), P(c_i32), P(c_i64))
_sig("sjc_model_embed", c_int, c_void_p, c_void_p, c_void_p, c_int, c_int, c_void_p, c_void_p, *ERR)

if lib.sjc_abi() != ABI:
    raise ImportError(f"seqjepa: {LIB_PATH} has interface version {lib.sjc_abi()}, this package "
                      f"needs {ABI}; rebuild with `make python`")

VERSION = lib.sjc_version().decode()
DTYPES = {0: np.uint8, 1: np.int32, 2: np.int64, 3: np.float32, 4: np.float64}


class Owner:
    """A Python object owning C handles that close() frees: a context manager, and
    closed when collected where _collectable() allows."""

    def _collectable(self):
        return True

    def __del__(self):
        try:
            if self._collectable():
                self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Err:
    """An error buffer for one call: `e = Err(); f(..., *e.args); e.check(status)`."""
    SIZE = 2048

    def __init__(self):
        self.buf = ctypes.create_string_buffer(self.SIZE)
        self.args = (self.buf, self.SIZE)

    def message(self):
        return self.buf.value.decode("utf-8", "replace") or "unknown error"

    def check(self, status):
        if status:
            raise SeqJepaError(self.message())

    def check_handle(self, handle):
        if not handle:
            raise SeqJepaError(self.message())
        return handle


def strings(items):
    """A C array of UTF-8 strings (kept alive by the returned tuple's first element)."""
    enc = [s.encode("utf-8") for s in items]
    arr = (c_char_p * max(len(enc), 1))(*enc)
    return arr, len(enc)


def ptr(a):
    return a.ctypes.data_as(c_void_p)
