"""Hostile inputs through the seqjepa command, as a careless user or an attacker would
give them: each must end with exit status 1 or 2, a message on stderr that names the
file (or argument) and what is wrong, no sanitizer report and nothing written.
Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from pycheck import EXE, Checks  # noqa: E402

checks = Checks()
check = checks.check

SAC = ["env.size=8", "env.scene_size=16", "env.fovea=8", "env.n_scenes=10", "env.heldout=0.2",
       "env.ior_radius=4", "gen.train_seqs=3", "gen.val_seqs=2", "gen.views=2", "gen.shard_size=2"]
TINY = ["model.width=4", "model.action_emb=16", "model.layers=1", "model.pred_hidden=32", "train.batch=2",
        "train.m_train=1", "train.steps=1", "train.threads=1"]


def run(*args):
    """The command with bytes or str arguments; a hang is a failure (30 s guard).
    HOSTILE_SHOW=1 prints each run's exit status, wall time and message (for the docs)."""
    argv = [os.fsencode(EXE)] + [a if isinstance(a, bytes) else a.encode() for a in args]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    r.stderr = r.stderr.decode("utf-8", "replace")
    if os.environ.get("HOSTILE_SHOW"):
        last = [l for l in r.stderr.splitlines() if l.strip() and ": info:" not in l and ": warning:" not in l][:1]
        print(f"exit {r.returncode} {time.monotonic() - t0:.2f}s {args[0] if args else ''}: {last[0] if last else ''}")
    return r


def files_under(d):
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs)


def refused(r, what, *needles, code=(1, 2)):
    """Exit status in code, every needle in stderr, no sanitizer report."""
    if r is None:
        check(False, what, "hung (killed after 30 s)")
        return
    ok = r.returncode in code and all(n in r.stderr for n in needles) and "Sanitizer" not in r.stderr
    check(ok, what, f"exit {r.returncode}: {r.stderr[-1500:]}")


def safetensors(path, header, data=b""):
    h = header.encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def restamp(ds, split, shard, name):
    """Puts a shard file's new size and CRC-32 into the manifest, so that the only
    thing wrong is what the test changed inside the file."""
    p = os.path.join(ds, split, shard, name)
    data = open(p, "rb").read()
    mp = os.path.join(ds, "manifest.json")
    m = json.load(open(mp))
    idx = int(shard.split("-")[1])
    for f in m["splits"][split]["shards"][idx]["files"]:
        if f["name"] == name:
            f["bytes"], f["crc32"] = len(data), zlib.crc32(data)
    json.dump(m, open(mp, "w"), indent=1)


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    cfg = "configs/saccade-quick.ini"

    # A checkpoint whose header repeats a key: refused by eval and embed, not a crash.
    for name, header in [
        ("dupmeta", '{"__metadata__":{"a":"1"},"__metadata__":{"b":"2","c":"3","d":"4"}}'),
        ("duptensor", '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                      '"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'),
    ]:
        ck = os.path.join(tmp, name + ".safetensors")
        safetensors(ck, header, b"\0" * 4 if "tensor" in name else b"")
        out = os.path.join(tmp, "out-" + name)
        r = run("eval", cfg, "--ckpt", ck, "--out", out, *SAC)
        refused(r, f"eval refuses a header with a repeated key ({name})", ck, "duplicate key")
        views, acts = os.path.join(tmp, "v.npy"), os.path.join(tmp, "a.npy")
        np.save(views, np.zeros((1, 2, 8, 8, 3), np.uint8))
        np.save(acts, np.zeros((1, 1, 2), np.float32))
        r = run("embed", "--ckpt", ck, "--views", views, "--actions", acts, "--out", out)
        refused(r, f"embed refuses a header with a repeated key ({name})", ck, "duplicate key")
        check(not os.path.exists(out) or not files_under(out), f"nothing written ({name})", str(files_under(out)))

    # An OBJ face index near the most negative long: refused with file and line.
    for idx in ("-9223372036854775808", "-9223372036854775807", "-2147483649", "9223372036854775807"):
        obj = os.path.join(tmp, "extreme.obj")
        open(obj, "w").write(f"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 {idx}\n")
        out = os.path.join(tmp, "objrun")
        r = run("gen", "configs/objects3d-quick.ini", "--out", out, f"env.obj={obj}", "env.size=32",
                "gen.train_seqs=2", "gen.val_seqs=0", "env.heldout=0", "gen.views=2", "--quiet")
        refused(r, f"OBJ face index {idx} refused", "extreme.obj:4", "face refers to vertex")
        check(not files_under(out), f"nothing written for OBJ index {idx}", str(files_under(out)))

    # A dataset to damage.
    ds = os.path.join(tmp, "ds")
    r = run("gen", cfg, "--out", ds, *SAC, "--quiet")
    check(r is not None and r.returncode == 0, "tiny saccade dataset generated", r.stderr if r else "hung")

    # A checkpoint whose shape metadata is out of range or not four integers.
    run_dir = os.path.join(tmp, "ckpt-run")
    r = run("train", cfg, f"data={ds}", *SAC, *TINY, f"train.out={run_dir}")
    check(r is not None and r.returncode == 0, "one-step checkpoint trained", r.stderr[-2000:] if r else "hung")
    raw = open(os.path.join(run_dir, "checkpoint.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    views, acts = os.path.join(tmp, "v.npy"), os.path.join(tmp, "a.npy")
    for shape in ("8 8 2 2000000000", "8 8 2 99999999999999999999", "8 8 -2 10", "8 8 2", "8 8 2 10 1"):
        header["__metadata__"]["shape"] = shape
        ck = os.path.join(tmp, "shape.safetensors")
        safetensors(ck, json.dumps(header), raw[8 + n:])
        out = os.path.join(tmp, "out-shape")
        r = run("embed", "--ckpt", ck, "--views", views, "--actions", acts, "--out", out)
        refused(r, f"checkpoint shape metadata '{shape}' refused", ck, "metadata shape")
        check(not os.path.exists(out), f"nothing written for shape '{shape}'")

    def train_on(d, what, *needles):
        out = os.path.join(tmp, "run-" + what.replace(" ", "-"))
        r = run("train", cfg, f"data={d}", *SAC, *TINY, f"train.out={out}")
        refused(r, what, *needles)
        check(not os.path.exists(out) or not files_under(out), f"nothing written: {what}", str(files_under(out)))

    def copy_ds(name):
        d = os.path.join(tmp, name)
        subprocess.run(["cp", "-r", ds, d], check=True)
        return d

    # Labels outside the class count (the files' sizes and CRC-32 made consistent).
    for bad in (10, -1, 2**31 - 1):
        d = copy_ds(f"labels{bad}")
        p = os.path.join(d, "train", "shard-00001", "labels.npy")
        lab = np.load(p)
        lab[0] = bad
        np.save(p, lab)
        restamp(d, "train", "shard-00001", "labels.npy")
        train_on(d, f"label {bad} refused", "labels.npy", f"labels[0] = {bad}", "outside the 10 classes")

    # The manifest's class count against its own config, and dataset.ini against the manifest.
    d = copy_ds("classes")
    mp = os.path.join(d, "manifest.json")
    m = json.load(open(mp))
    m["env"]["n_classes"] = 100
    json.dump(m, open(mp, "w"))
    train_on(d, "manifest class count against its config", "manifest.json", "n_classes = 100", "implies 10")
    m["env"]["n_classes"] = 2**40
    json.dump(m, open(mp, "w"))
    train_on(d, "manifest class count beyond any world", "manifest.json", "env.n_classes", "[1, 65536]")
    d = copy_ds("ini")
    ip = os.path.join(d, "dataset.ini")
    t = open(ip).read()
    # The saccade world's class count is its scene count.
    check("n_scenes = 10" in t, "dataset.ini holds env.n_scenes")
    open(ip, "w").write(t.replace("n_scenes = 10", "n_scenes = 5"))
    train_on(d, "dataset.ini against the manifest", "dataset.ini", "env.n_scenes = 5", "manifest.json")
    d = copy_ds("gone")
    os.remove(os.path.join(d, "dataset.ini"))
    train_on(d, "dataset.ini missing", "dataset.ini")
    d = copy_ds("crc")
    p = os.path.join(d, "val", "shard-00000", "images.npy")
    b = bytearray(open(p, "rb").read())
    b[-1] ^= 0xFF
    open(p, "wb").write(bytes(b))
    train_on(d, "shard CRC-32 checked when the dataset is opened", "images.npy", "CRC-32")
    d = copy_ds("size")
    p = os.path.join(d, "val", "shard-00000", "actions.npy")
    open(p, "ab").write(b"\0" * 4)
    train_on(d, "shard size checked when the dataset is opened", "actions.npy")
    d = copy_ds("dupkey")
    mp = os.path.join(d, "manifest.json")
    t = open(mp).read()
    open(mp, "w").write(t.replace('"version": 1,', '"version": 1, "version": 1,', 1))
    train_on(d, "manifest with a repeated key", "manifest.json", "duplicate key")

    # Files that are not regular files: refused before they are opened for reading.
    fifo = os.path.join(tmp, "config.fifo")
    os.mkfifo(fifo)
    out = os.path.join(tmp, "fiforun")
    r = run("train", fifo, f"train.out={out}")
    refused(r, "named pipe as the config file", "config.fifo", "named pipe")
    r = run("train", tmp, f"train.out={out}")
    refused(r, "folder as the config file", tmp, "folder")
    r = run("train", "/dev/zero", f"train.out={out}")
    refused(r, "device as the config file", "/dev/zero", "device")
    r = run("eval", cfg, "--ckpt", fifo, *SAC)
    refused(r, "named pipe as the checkpoint", "config.fifo", "named pipe")
    check(not os.path.exists(out), "nothing written for non-regular files")

    # Output paths that are not UTF-8: refused up front, nothing created.
    bad_out = os.fsencode(os.path.join(tmp, "run")) + b"\xff\xfe"
    r = run("train", cfg, b"train.out=" + bad_out, *SAC, *TINY, f"data={ds}")
    refused(r, "non-UTF-8 train.out", "not valid UTF-8", "\\xff", code=(2,))
    r = run("gen", cfg, "--out", os.fsencode(os.path.join(tmp, "ds")) + b"\xc3", *SAC)
    refused(r, "non-UTF-8 gen --out", "not valid UTF-8", code=(2,))
    bad_ini = os.path.join(tmp, "latin1.ini")
    open(bad_ini, "wb").write(b"[train]\nout = caf\xe9\n")
    r = run("train", bad_ini)
    refused(r, "non-UTF-8 value in a config file", "latin1.ini:2", "not valid UTF-8")
    left = [f for f in os.listdir(tmp) if f.startswith(("run", "ds\xc3"))]
    check(not left, "nothing written for non-UTF-8 paths", str(left))

    return checks.done()


sys.exit(main())
