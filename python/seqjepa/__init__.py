"""seqjepa from Python: the worlds (Gymnasium contract and batched rollouts rendered by
the C library into numpy arrays), datasets written by `seqjepa gen`, checkpoints as
state dicts, and embeddings from trained models. Pure Python over ctypes and numpy;
build the library with `make python` in the repository. PyTorch datasets are in
seqjepa.torch (needs torch).

    import seqjepa
    env = seqjepa.make("objects3d", config="objects3d-quick")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    batch = env.rollout("iid", batch=32, views=4)      # dict of numpy arrays
"""
from ._lib import VERSION as __version__, LIB_PATH, SeqJepaError
from .checkpoint import Model, load_checkpoint, load_model, set_threads
from .dataset import Dataset, open_dataset
from .env import Env, make

__all__ = ["make", "Env", "load_checkpoint", "load_model", "Model", "set_threads", "Dataset",
           "open_dataset", "SeqJepaError", "LIB_PATH", "__version__"]
