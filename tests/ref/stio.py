"""safetensors files with numpy alone: an 8-byte little-endian header length, a JSON
header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data."""
import json
import struct

import numpy as np

_DT = {"U8": np.uint8, "I32": np.int32, "I64": np.int64, "F32": np.float32, "F64": np.float64}
_NAME = {np.dtype(v): k for k, v in _DT.items()}


def read(path):
    """Returns ({name: array}, {key: value}); arrays are copies."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=_DT[t["dtype"]]).reshape(t["shape"]).copy()
    return out, meta


def write(path, tensors, meta=None):
    """Writes {name: array} (C order) with optional string metadata. Blocks are packed
    with no holes, widest dtype first, so each is aligned to its element size."""
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    items = sorted(tensors.items(), key=lambda kv: -np.asarray(kv[1]).dtype.itemsize)
    for name, a in items:
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": _NAME[np.asarray(a).dtype], "shape": list(np.shape(a)),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
