"""Cross-checks the C .npy / .safetensors writers against numpy, and writes numpy
files for the C side to read. usage: io_check.py DIR  (exit 0 when all agree)"""
import json, struct, sys
import numpy as np

DT = {"u8": np.uint8, "i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
SHAPE = (2, 3, 4)


def pattern(name, n):
    i = np.arange(n, dtype=np.int64)
    return {"u8": (i * 7) % 256, "i32": i * 3 - 5, "i64": i * 1000000007 - 12345678901,
            "f32": i * 0.25 - 1, "f64": i * 0.1 + 1e-3}[name].astype(DT[name]).reshape(SHAPE)


def read_safetensors(path):
    """A complete safetensors reader: 8-byte length, JSON header, raw data."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    kinds = {"U8": np.uint8, "I32": np.int32, "I64": np.int64, "F32": np.float32, "F64": np.float64}
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    return out, meta


def main(d):
    bad = 0
    for name in DT:
        a = np.load(f"{d}/c_{name}.npy")
        want = pattern(name, 24)
        if a.dtype != want.dtype or a.shape != want.shape or not np.array_equal(a, want):
            print(f"c_{name}.npy differs: {a.dtype} {a.shape}")
            bad += 1
        np.save(f"{d}/py_{name}.npy", want)
        mm = np.load(f"{d}/c_{name}.npy", mmap_mode="r")
        bad += not np.array_equal(mm, want)
    np.save(f"{d}/py_empty.npy", np.zeros((0, 5), np.float32))
    np.save(f"{d}/py_scalar.npy", np.array(3.5, np.float64))
    np.save(f"{d}/py_fortran.npy", np.asfortranarray(np.ones((3, 2), np.float32)))
    tensors, meta = read_safetensors(f"{d}/c.safetensors")
    for name in DT:
        if not np.array_equal(tensors.get("t." + name), pattern(name, 24)):
            print(f"safetensors tensor t.{name} differs")
            bad += 1
    if meta.get("config") != "[train]\nsteps = 3\n" or meta.get("unicode") != "h\u00e9llo \u2713":
        print("safetensors metadata differs:", meta)
        bad += 1
    print("io_check:", "ok" if not bad else f"{bad} mismatches")
    return 1 if bad else 0


sys.exit(main(sys.argv[1]))
