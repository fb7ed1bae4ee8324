"""The seqjepa command end to end, as a user meets it: help and usage errors, a tiny
on-line training run, Ctrl-C, eval, embed read back with numpy, and hostile inputs.
Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from png_read import read_png  # noqa: E402

import pycheck  # noqa: E402
from pycheck import EXE, ROOT, Checks  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import stio  # noqa: E402

checks = Checks()
check = checks.check


doubled = []  # messages that repeat their prefix ("view: view: ...")


def run(*args, **kw):
    r = pycheck.run(*args, **kw)
    doubled.extend(line for line in r.stderr.splitlines() if re.search(r"\b([a-z]+): \1: ", line))
    return r


TINY = ["env.size=32", "env.instances=4", "model.width=4", "model.action_emb=16", "model.layers=1",
        "model.pred_hidden=32", "train.batch=8", "train.m_train=2", "train.log_every=2", "eval.m_max=3",
        "eval.train_seqs=64", "eval.test_seqs=32", "eval.mlp_hidden=32", "eval.mlp_epochs=3", "eval.retr_seqs=48",
        "train.threads=2"]


def table_rows(text, header_cols):
    """Rows of the Markdown tables whose header lists exactly header_cols after the
    metric column, as lists of cells."""
    rows, cur = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            cur = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cur is None:
            cur = cells[1:] == header_cols
        elif cur and not set(line) <= set("|-"):
            rows.append(cells)
    return rows


def check_eval_report(r, out, cols=("model", "random init", "noise", "chance", "action only", "oracle")):
    """The tables give chance and the controls beside the model, retrieval keeps M = 1
    and says why, the ideal controls score high and noise nothing, the report and its
    figures exist and read back."""
    cols = list(cols)
    for name, text in (("stdout", r.stdout), ("eval.md", open(os.path.join(out, "eval.md")).read())):
        rows = table_rows(text, cols)
        labels = [c[0] for c in rows]
        check(len(rows) >= 10 and all(len(c) == len(cols) + 1 for c in rows),
              f"{name}: every table has the control columns", str(rows[:3]))
        check("top-1 from z (view 1)" in labels and "pose R^2 from z (the gate)" in labels
              and "pose R^2 from z, MLP or ridge" in labels and "top-1, M = 1" in labels
              and "top-1, M = 4" in labels and "copying view M, M = 4" in labels and "top-1, M = 5" not in labels,
              f"{name}: metric rows", str(labels))
        check("M = 1 is not trivial" in text and "chance 1/8" in text, f"{name}: why M = 1 stays", text[-1500:])
        check(not any("R^2, M =" in l for l in labels), f"{name}: no regression path-integration rows", str(labels))
        top1 = dict((c[0], c[1:]) for c in rows).get("top-1 from z (view 1)", [""] * len(cols))
        check(top1[cols.index("chance")] in ("0.062", "0.063") and top1[cols.index("oracle")] == "–",
              f"{name}: chance 1/16, no oracle for top-1", str(top1))
    tab = json.load(open(os.path.join(out, "eval.json"))).get("table", {})
    check(list(tab) == cols, "eval.json table columns", str(list(tab)))
    if list(tab) == cols:
        ch, rnd, orc, mod, noi = tab["chance"], tab["random init"], tab["oracle"], tab["model"], tab["noise"]
        ao = tab["action only"]
        check(abs(ch["top1_z"] - 1 / 16) < 1e-9 and ch["equivariance_r2"] == 0 and ch["pose_r2"] == 0
              and ch["pose_mlp_r2"] == 0
              and ch["retrieval_top1_m1"] == 0.125 and ch["retrieval_top1_m4"] == 0.125, "chance column values", str(ch))
        check(all(v is not None and -10 < v <= 1 for k, v in rnd.items() if k.startswith(("top1", "equiv", "pose", "retrieval"))),
              "random-init column measured", str(rnd))
        check(orc["top1_z"] is None and orc["equivariance_r2"] is not None, "oracle column: no classifier", str(orc))
        check(orc["pose_r2"] > 0.95 and orc["pose_mlp_r2"] > 0.95
              and all(orc[f"retrieval_top1_m{M}"] > 0.95 for M in range(1, 5)),
              "oracle (ideal) controls above 0.95", str(orc))
        check(noi["pose_r2"] < 0.05 and noi["pose_mlp_r2"] < 0.05 and noi["equivariance_r2"] is None,
              "noise control: pose R^2 below 0.05, ridge and MLP", str(noi))
        check(all(rnd[f"retrieval_top1_m{M}"] < orc[f"retrieval_top1_m{M}"] for M in range(1, 5))
              and rnd["pose_r2"] < orc["pose_r2"] and rnd["pose_mlp_r2"] < orc["pose_mlp_r2"],
              "random init below the oracle", f"{rnd} {orc}")
        check(all(0 <= ao[f"retrieval_top1_m{M}"] <= 1 for M in range(1, 5))
              and ao["pose_r2"] is None and ao["pose_mlp_r2"] is None,
              "action-only column: retrieval only", str(ao))
        check(mod["loss"] is not None and mod["loss_copy_last_view"] is not None and mod["loss_mean_target"] is not None
              and 0 <= mod["loss"] <= 2 and mod["loss_other_action"] is not None and 0 <= mod["loss_other_action"] <= 2,
              "held-out loss, with another sequence's action, and its two references", str(mod))
        if "no-action" in tab:
            na = tab["no-action"]
            check(na["loss"] is not None and na["loss_other_action"] == na["loss"],
                  "no-action model: another sequence's action changes nothing", str(na))
    # The progress bar's plain lines (stderr is not a terminal): rate and ETA.
    check("eval: " in r.stderr and "parts/s" in r.stderr and " eta " in r.stderr, "eval progress lines", r.stderr[-800:])
    report = os.path.join(out, "report.md")
    check(("report: " + report) in r.stdout, "eval prints the report's path", r.stdout[-300:])
    md = open(report).read() if os.path.exists(report) else ""
    check("](overview.png)" in md and "random init" in md and "chance" in md and "copying view M" in md
          and "with another sequence's a_M: the prediction owes" in md,
          "report.md: figure, controls, the loss against its references and with another action", md[:500])
    check(len(table_rows(md, list(cols))) >= 10, "report.md has the tables with controls")
    imgs = {}
    for png in ("loss.png", "probes.png", "retrieval.png", "pca.png", "overview.png"):
        try:
            imgs[png] = read_png(os.path.join(out, png))
        except (OSError, ValueError) as e:
            check(False, f"{png} reads back", str(e))
            continue
        a = imgs[png]
        # drawn: mostly white paper with a fair share of ink and more than two colours
        ink = (a.min(axis=2) < 200).mean()
        check(a.shape[2] == 3 and 0.01 < ink < 0.6 and len(np.unique(a.reshape(-1, 3), axis=0)) > 3,
              f"{png} is a drawn figure", f"{a.shape} ink {ink:.3f}")
    if len(imgs) == 5:
        o, (h, w) = imgs["overview.png"], imgs["loss.png"].shape[:2]
        tiles = [o[:h, :w], o[:h, w:], o[h:, :w], o[h:, w:]]
        check(o.shape[:2] == (2 * h, 2 * w) and all(
            np.array_equal(t, imgs[n]) for t, n in zip(tiles, ("loss.png", "probes.png", "retrieval.png", "pca.png"))),
              "overview.png tiles the four figures")


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))
    cfg = "configs/objects3d-quick.ini"

    r = run("--help")
    check(r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout, "--help lists commands")
    for sub in ("train", "eval", "embed", "bench", "keys", "version"):
        r = run(sub, "--help")
        check(r.returncode == 0 and "usage" in r.stdout, f"{sub} --help")
    # keys: every section, each key with its default and help; one key; errors exit 2
    r = run("keys")
    sections = re.findall(r"^\[(\w+)\]$", r.stdout, re.M)
    check(r.returncode == 0 and sections == ["env", "agent", "model", "optim", "train", "eval", "bench", "gen"],
          "keys lists every section", str(sections))
    check(re.search(r"^  model\.pool_grid = 1   \(integer 1 to 8\)\n      encoder output", r.stdout, re.M) is not None
          and "  train.steps = 1000   (integer 0 to 100000000)" in r.stdout
          and "  model.encoder = small   (one of small|resnet18|resnet18-cifar)" in r.stdout,
          "keys: default, range or choices, then the help", r.stdout[:600])
    check(all(len(line) <= 88 or " " not in line.strip() for line in r.stdout.splitlines()), "keys wraps its help")
    r = run("keys", "optim.lr", "eval")
    check(r.returncode == 0 and r.stdout.startswith("  optim.lr = 4e-4") and "[eval]" in r.stdout
          and "[model]" not in r.stdout, "keys of one key and one section", r.stdout[:300])
    for bad, want in (("bogus", "no section 'bogus' (sections: env agent"),
                      ("model.depth", "[model] has no key 'depth'"), ("--all", "unknown option '--all'")):
        r = run("keys", "optim.lr", bad)
        check(r.returncode == 2 and want in r.stderr and r.stdout == "", f"keys {bad}: exit 2, nothing listed",
              r.stderr)
    r = run("frobnicate")
    check(r.returncode == 2 and "unknown command" in r.stderr, "unknown command exits 2")
    r = run("train", cfg, "--frobnicate")
    check(r.returncode == 2 and "unknown option '--frobnicate'" in r.stderr, "unknown flag exits 2", r.stderr)
    r = run("train", os.path.join(tmp, "missing.ini"))
    check(r.returncode == 1 and "missing.ini" in r.stderr, "missing config named", r.stderr)
    r = run("train", cfg, "model.depth=3")
    check(r.returncode == 1 and "unknown key 'depth'" in r.stderr, "unknown override key", r.stderr)
    r = run("train", cfg, "train.batch=1")
    check(r.returncode == 1 and "out of range" in r.stderr, "out-of-range override", r.stderr)
    bad = os.path.join(tmp, "bad.ini")
    open(bad, "w").write("[env]\nsize = 32\n[train]\nsteps = ten\n")
    r = run("train", bad)
    check(r.returncode == 1 and "bad.ini:4" in r.stderr and "ten" in r.stderr, "bad number names file:line", r.stderr)

    out = os.path.join(tmp, "run")
    r = run("train", cfg, *TINY, "train.steps=6", f"train.out={out}", "--quiet")
    check(r.returncode == 0, "tiny training run", r.stderr[-2000:])
    ckpt = os.path.join(out, "checkpoint.safetensors")
    check(os.path.exists(ckpt) and os.path.exists(os.path.join(out, "checkpoint.state.safetensors")), "checkpoint files")
    log = open(os.path.join(out, "log.csv")).read().splitlines()
    check(log[0].startswith("step,loss,lr,tau") and len(log) == 4, "log.csv has a header and 3 rows", str(log))
    loss = [float(l.split(",")[1]) for l in log[1:]]
    check(all(np.isfinite(loss)), "finite losses")
    # The checkpoint says how it was made: the command line, quoted as a shell takes it.
    with open(ckpt, "rb") as f:
        meta = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    want = " ".join(["seqjepa train", cfg, *TINY, "train.steps=6", f"train.out={out}", "--quiet"])
    check(meta.get("command") == want, "the command line in the checkpoint metadata", str(meta.get("command")))

    # Same config, seed and threads: the same loss curve, bit for bit.
    # (The default pixel mean, given with spaces; a folder name with a quote.)
    out2 = os.path.join(tmp, "run 2's")
    r = run("train", cfg, *TINY, "train.steps=6", f"train.out={out2}", "--quiet", "model.pixel_mean=0.5 0.5 0.5")
    log2 = open(os.path.join(out2, "log.csv")).read().splitlines()
    check([l.split(",")[:4] for l in log[1:]] == [l.split(",")[:4] for l in log2[1:]], "reproducible loss curve")
    with open(os.path.join(out2, "checkpoint.safetensors"), "rb") as f:
        meta = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    quoted = f"'train.out={tmp}/run 2'" + "\\''" + "s' --quiet 'model.pixel_mean=0.5 0.5 0.5'"
    check(meta.get("command", "").endswith(quoted), "arguments with spaces and quotes are quoted for the shell",
          str(meta.get("command")))

    # Ctrl-C: saves a checkpoint and exits 0.
    out3 = os.path.join(tmp, "run3")
    p = subprocess.Popen([EXE, "train", cfg, *TINY, "train.steps=100000", f"train.out={out3}", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=120)
    check(p.returncode == 0 and "interrupted" in so and os.path.exists(os.path.join(out3, "checkpoint.safetensors")),
          "SIGINT saves and exits 0", f"rc={p.returncode} {so} {se[-500:]}")

    # eval writes eval.json, eval.md and the report, and prints the tables.
    r = run("eval", cfg, *TINY, "--ckpt", ckpt)
    check(r.returncode == 0 and "Path integration: next-view retrieval" in r.stdout, "eval runs", r.stderr[-2000:])
    check("eval: " in r.stderr and "parts/s" in r.stderr, "eval shows its progress", r.stderr[-500:])
    rq = run("eval", cfg, *TINY, "--ckpt", ckpt, "--quiet")
    check(rq.returncode == 0 and "parts/s" not in rq.stderr and rq.stdout.split("written:")[0] == r.stdout.split("written:")[0],
          "eval --quiet: the same tables, no progress bar", rq.stderr[-500:])
    ev = json.load(open(os.path.join(out, "eval.json")))
    res = ev.get("results", {})
    check(len(res.get("retrieval_top1", [])) == 4 and 0 <= res.get("top1_z", -1) <= 1 and "pose_r2" in res
          and "config" in ev, "eval.json fields", str(res))
    cfgtext = ev.get("config", "")
    check("[eval]" in cfgtext and "heldout = 0.2\n" in cfgtext and "scene_size" not in cfgtext
          and "[bench]" not in cfgtext and not re.search(r"\d{12}", cfgtext), "eval.json config: shortest, used keys",
          cfgtext)
    # The eval files say which checkpoint, at which step, they describe.
    check(ev.get("step") == 6 and ev.get("checkpoint") == ckpt, "eval.json records the checkpoint and its step",
          f"{ev.get('step')} {ev.get('checkpoint')}")
    md = open(os.path.join(out, "eval.md")).read()
    check(ckpt in md and "(step 6)" in md, "eval.md records the checkpoint and its step", md[:300])
    check_eval_report(r, out)
    # A checkpoint on its own (no log.csv beside it, as a shipped model) is evaluated
    # into runs/eval-NAME under the working folder, never into its own folder. Run from
    # a folder with no assets/, the program finds the shaders beside itself.
    alone, work = os.path.join(tmp, "alone"), os.path.join(tmp, "work")
    os.makedirs(alone), os.makedirs(work)
    lone = os.path.join(alone, "tiny-model.safetensors")
    with open(ckpt, "rb") as fi, open(lone, "wb") as fo:
        fo.write(fi.read())
    r = run("eval", os.path.join(ROOT, cfg), *TINY, "--ckpt", lone, "--quiet", cwd=work)
    check(r.returncode == 0 and os.path.exists(os.path.join(work, "runs", "eval-tiny-model", "eval.json"))
          and os.listdir(alone) == ["tiny-model.safetensors"],
          "a checkpoint on its own, from another folder: eval finds the assets, writes runs/eval-NAME, nothing "
          "beside the checkpoint", f"{r.stderr[-1000:]} {os.listdir(alone)}")
    r = run("eval", os.path.join(ROOT, cfg), *TINY, "--ckpt", lone, "--quiet", "--out", os.path.join(work, "e2"),
            "env.assets=no-such-assets", cwd=work)
    check(r.returncode == 1 and "no-such-assets/shaders/scene_object.vert" in r.stderr,
          "an assets folder named on the command line is used as given, and named when missing", r.stderr[-500:])

    # --no-action: a model trained without action conditioning as one more column;
    # an action-conditioned checkpoint is refused there.
    outn = os.path.join(tmp, "run_noact")
    r = run("train", cfg, *TINY, "train.steps=4", "model.action_cond=none", f"train.out={outn}", "--quiet")
    check(r.returncode == 0, "tiny no-action training run", r.stderr[-2000:])
    ckn = os.path.join(outn, "checkpoint.safetensors")
    outd = os.path.join(tmp, "eval_noact")
    r = run("eval", cfg, *TINY, "--ckpt", ckpt, "--no-action", ckn, "--out", outd, "eval.supervised_pose=0.57",
            "eval.supervised_source=a reference run")
    check(r.returncode == 0, "eval with --no-action and a supervised bound", r.stderr[-2000:])
    if r.returncode == 0:
        check_eval_report(r, outd, ("model", "random init", "no-action", "supervised", "noise", "chance", "action only",
                                    "oracle"))
        tab = json.load(open(os.path.join(outd, "eval.json")))["table"]
        na, sup = tab.get("no-action", {}), tab.get("supervised", {})
        check(all(na.get(f"retrieval_top1_m{M}") is not None for M in range(1, 5)), "no-action column measured", str(na))
        check(sup.get("pose_r2") == 0.57 and sup.get("pose_mlp_r2") == 0.57
              and all(v is None for k, v in sup.items() if not k.startswith("pose_")),
              "supervised column: the recorded pose bound on both pose rows alone", str(sup))
        check("measured by a reference run, not by this command" in r.stdout, "supervised source named", r.stdout[-1500:])
    r = run("eval", cfg, *TINY, "--ckpt", ckpt, "--no-action", ckpt, "--out", outd)
    check(r.returncode == 1 and "action-conditioned" in r.stderr, "--no-action refuses a model with actions", r.stderr)

    # embed: shapes from numpy, and errors that say which shape disagrees.
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (5, 3, 32, 32, 3), dtype=np.uint8)
    acts = rng.standard_normal((5, 2, 4)).astype(np.float32)
    np.save(os.path.join(tmp, "V.npy"), views)
    np.save(os.path.join(tmp, "A.npy"), acts)
    eo = os.path.join(tmp, "emb")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--out", eo)
    check(r.returncode == 0, "embed runs", r.stderr)
    if r.returncode == 0:
        z, za = np.load(os.path.join(eo, "z.npy")), np.load(os.path.join(eo, "z_agg.npy"))
        check(z.shape == (5, 3, 32) and za.shape == (5, 48) and z.dtype == np.float32, "embed shapes", f"{z.shape} {za.shape}")
        check(np.isfinite(z).all() and np.isfinite(za).all(), "embed finite")
        zt = np.load(os.path.join(eo, "z_target.npy"))
        check(zt.shape == z.shape and np.isfinite(zt).all(), "embed target encodings", f"{zt.shape}")
        check(not os.path.exists(os.path.join(eo, "z_hat.npy")), "no predictions without --next")
    np.save(os.path.join(tmp, "N.npy"), acts[:, 0])
    eo2 = os.path.join(tmp, "emb2")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--next", os.path.join(tmp, "N.npy"), "--out", eo2)
    check(r.returncode == 0, "embed --next runs", r.stderr)
    if r.returncode == 0:
        zh = np.load(os.path.join(eo2, "z_hat.npy"))
        check(zh.shape == (5, 32) and np.isfinite(zh).all(), "embed predictions", f"{zh.shape}")
        # a prediction depends on the action it is given
        np.save(os.path.join(tmp, "N2.npy"), acts[:, 1])
        r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
                "--next", os.path.join(tmp, "N2.npy"), "--out", os.path.join(tmp, "emb3"))
        zh2 = np.load(os.path.join(tmp, "emb3", "z_hat.npy")) if r.returncode == 0 else zh
        check(np.abs(zh2 - zh).max() > 1e-6, "prediction follows the next action")
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--next", os.path.join(tmp, "A.npy"), "--out", eo2)
    check(r.returncode == 1 and "[5, 4]" in r.stderr, "embed --next shape error", r.stderr)
    np.save(os.path.join(tmp, "A2.npy"), acts[:, :1])
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V.npy"), "--actions", os.path.join(tmp, "A2.npy"),
            "--out", eo)
    check(r.returncode == 1 and "A2.npy" in r.stderr and "[5, 2, 4]" in r.stderr, "embed action shape error", r.stderr)
    np.save(os.path.join(tmp, "V2.npy"), views[:, :, :16])
    r = run("embed", "--ckpt", ckpt, "--views", os.path.join(tmp, "V2.npy"), "--actions", os.path.join(tmp, "A.npy"),
            "--out", eo)
    check(r.returncode == 1 and "V2.npy" in r.stderr, "embed view shape error", r.stderr)

    # A truncated checkpoint: a clear error and nothing overwritten.
    raw = open(ckpt, "rb").read()
    trunc = os.path.join(tmp, "trunc", "checkpoint.safetensors")
    os.makedirs(os.path.dirname(trunc))
    open(trunc, "wb").write(raw[: len(raw) // 2])
    r = run("eval", cfg, *TINY, "--ckpt", trunc)
    check(r.returncode == 1 and "trunc" in r.stderr and not os.path.exists(os.path.join(tmp, "trunc", "eval.json")),
          "truncated checkpoint refused", r.stderr)
    # A checkpoint evaluated with a config of another view size: named mismatch.
    r = run("eval", cfg, *TINY, "env.size=48", "--ckpt", ckpt)
    check(r.returncode == 1 and "32x32" in r.stderr and "48x48" in r.stderr, "size mismatch named", r.stderr)
    # Resume under another config is refused and leaves the checkpoint alone.
    before = open(ckpt, "rb").read()
    r = run("train", cfg, *TINY, "train.steps=8", "optim.lr=0.5", f"train.out={out}", "--resume", "--quiet")
    check(r.returncode == 1 and "different config" in r.stderr and open(ckpt, "rb").read() == before,
          "resume with another config refused", r.stderr)
    # ... but not under other evaluation keys, which training does not read.
    r = run("train", cfg, *TINY, "train.steps=6", "eval.m_max=5", "eval.seed=9", f"train.out={out}", "--resume", "--quiet")
    check(r.returncode == 0 and "nothing to train" in r.stderr and open(ckpt, "rb").read() == before,
          "resume under other [eval] keys accepted", r.stderr)
    # ... nor on another number of threads or queue depth (speed, not what is trained).
    r = run("train", cfg, *TINY, "train.steps=6", "train.threads=1", "train.queue=3", f"train.out={out}", "--resume",
            "--quiet")
    check(r.returncode == 0 and "nothing to train" in r.stderr and open(ckpt, "rb").read() == before,
          "resume on another thread count accepted", r.stderr)

    # A folder that holds a run: refused without --resume or --force, nothing touched.
    r = run("train", "--help")
    check("--force" in r.stdout and "--resume" in r.stdout, "train --help documents --force and --resume")
    mine = os.path.join(out, "notes.txt")
    open(mine, "w").write("the user's own file\n")
    before = {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)}
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--quiet")
    check(r.returncode == 1 and f"'{out}'" in r.stderr and "already holds a run" in r.stderr
          and "--resume" in r.stderr and "--force" in r.stderr, "a folder holding a run is refused", r.stderr)
    check("checkpoint.safetensors" in r.stderr and "eval.json" in r.stderr, "the refusal lists the run's files", r.stderr)
    after = {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)}
    check(before == after, "the refused run changed nothing")
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--quiet", "--force", "--resume")
    check(r.returncode == 2 and "--force" in r.stderr, "--force with --resume is a usage error", r.stderr)
    only_eval = os.path.join(tmp, "only-eval")
    os.makedirs(only_eval)
    open(os.path.join(only_eval, "eval.md"), "w").write("stale\n")
    r = run("train", cfg, *TINY, "train.steps=2", f"train.out={only_eval}", "--quiet")
    check(r.returncode == 1 and "eval.md" in r.stderr, "stale eval files alone also mark a run", r.stderr)
    # --force: the old run's files go first, the user's file stays.
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--quiet", "--force")
    check(r.returncode == 0, "--force trains into the folder", r.stderr[-2000:])
    left = sorted(os.listdir(out))
    check(left == ["checkpoint.safetensors", "checkpoint.state.safetensors", "log.csv", "notes.txt"],
          "--force cleared eval.* and kept the user's file", str(left))
    log = open(os.path.join(out, "log.csv")).read().splitlines()
    check(len(log) == 3 and log[-1].startswith("4,"), "the new run's log alone", str(log))
    # An inverse warm-up keeps its model in inverse/, which evaluates like any checkpoint;
    # --force clears that folder with the rest of the run.
    inv = os.path.join(tmp, "inverse-run")
    r = run("train", cfg, *TINY, "train.steps=2", "train.inverse_steps=3", "train.log_every=1", f"train.out={inv}",
            "--quiet")
    log = open(os.path.join(inv, "log.csv")).read().splitlines() if r.returncode == 0 else []
    check(r.returncode == 0 and len(log) == 6 and log[0].endswith(",phase")
          and [l.rsplit(",", 1)[-1] for l in log[1:]] == ["inverse"] * 3 + ["seqjepa"] * 2,
          "train.inverse_steps: the warm-up's rows, then seq-JEPA's", r.stderr[-2000:] + str(log))
    warm = os.path.join(inv, "inverse", "checkpoint.safetensors")
    r = run("eval", cfg, *TINY, "--ckpt", warm, "--out", os.path.join(tmp, "inverse-eval"), "--quiet")
    check(r.returncode == 0, "the warm-up's model evaluates", r.stderr[-2000:])
    r = run("train", cfg, *TINY, "train.steps=2", f"train.out={inv}", "--quiet")
    check(r.returncode == 1 and "inverse/checkpoint.safetensors" in r.stderr, "the warm-up's files mark a run",
          r.stderr[-2000:])
    r = run("train", cfg, *TINY, "train.steps=2", f"train.out={inv}", "--quiet", "--force")
    check(r.returncode == 0 and not os.path.exists(os.path.join(inv, "inverse")),
          "--force deletes the warm-up's folder with the run", r.stderr[-2000:] + str(os.listdir(inv)))
    # --resume is let into a folder that holds a run (here one already finished).
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--quiet", "--resume")
    check(r.returncode == 0 and "already trained: 4 of 4 steps" in r.stdout and "loss" not in r.stdout,
          "--resume is not refused; a finished run says there is nothing to train", r.stdout + r.stderr[-2000:])
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--resume")
    check(r.returncode == 0 and "already trained" in r.stdout and "train: 0/4" not in r.stderr
          and "train: 4/4" not in r.stderr, "a finished run draws no progress bar when resumed", r.stderr[-2000:])
    # Resume under another config names the whole differing line.
    r = run("train", cfg, *TINY, "train.steps=6", f"train.out={out}", "--quiet", "--resume")
    check(r.returncode == 1 and "checkpoint has 'steps = 4', this run has 'steps = 6'" in r.stderr,
          "config difference shown as whole lines", r.stderr)

    # --init: a new run starts from another run's weights. At lr 0 one step leaves the
    # online network's weights as they were in the file (a run without --init does not).
    src = os.path.join(out, "checkpoint.safetensors")
    r = run("train", cfg, *TINY, "train.steps=4", f"train.out={out}", "--quiet", "--resume", "--init", src)
    check(r.returncode == 2 and "--init" in r.stderr and "--resume" in r.stderr, "--init with --resume is a usage error",
          r.stderr)
    check("--init CKPT" in run("train", "--help").stdout, "train --help documents --init")
    want, _ = stio.read(src)
    weights = [k for k in want if k.startswith(("encoder.", "predictor.", "transformer_encoder.")) and k.endswith("weight")]
    for name, extra in (("init", ["--init", src]), ("no-init", [])):
        d = os.path.join(tmp, name)
        r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", f"train.out={d}", "--quiet", *extra)
        check(r.returncode == 0, f"train {name} at lr 0", r.stderr[-2000:])
        got, meta = stio.read(os.path.join(d, "checkpoint.safetensors"))
        same = all(np.array_equal(got[k], want[k]) for k in weights)
        check(len(weights) > 10 and same == (name == "init"),
              f"{name}: weights {'equal' if name == 'init' else 'differ from'} the file's", f"{len(weights)} tensors")
        check((src in r.stderr) == (name == "init"), f"{name}: the log names the starting weights", r.stderr[-600:])
        check(("--init" in meta.get("command", "")) == (name == "init"), f"{name}: the stored command line",
              meta.get("command", ""))
    for bad, what in ((trunc, "truncated"), (os.path.join(tmp, "missing.safetensors"), "missing")):
        d = os.path.join(tmp, "init-" + what)
        r = run("train", cfg, *TINY, "train.steps=1", f"train.out={d}", "--quiet", "--init", bad)
        check(r.returncode == 1 and bad in r.stderr and "--init" in r.stderr
              and not os.path.exists(os.path.join(d, "checkpoint.safetensors")), f"--init of a {what} file refused",
              r.stderr)
    r = run("train", cfg, *TINY, "env.size=48", "train.steps=1", f"train.out={os.path.join(tmp, 'init-48')}", "--quiet",
            "--init", src)
    check(r.returncode == 1 and "32x32" in r.stderr and "48x48" in r.stderr, "--init of another view size refused",
          r.stderr)
    r = run("train", cfg, *TINY, "model.width=8", "train.steps=1", f"train.out={os.path.join(tmp, 'init-w8')}",
            "--quiet", "--init", src)
    check(r.returncode == 1 and src in r.stderr, "--init of another width refused, naming the file", r.stderr)

    # model.zero_init_residual: the blocks' last batch-norm weight starts at 0 (default)
    # or 1; a run stored before the key existed (its line absent) resumes as the default.
    for zi, want_g in (("true", 0.0), ("false", 1.0)):
        d = os.path.join(tmp, "zi-" + zi)
        r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", f"model.zero_init_residual={zi}",
                f"train.out={d}", "--quiet")
        got, _ = stio.read(os.path.join(d, "checkpoint.safetensors"))
        g = [got[k] for k in got if k.startswith("encoder.layer") and k.endswith("bn2.weight")]
        check(r.returncode == 0 and len(g) >= 4 and all(np.all(x == want_g) for x in g),
              f"zero_init_residual={zi}: every block's bn2 weight starts at {want_g}", r.stderr[-800:])
    d = os.path.join(tmp, "zi-true")
    ck = os.path.join(d, "checkpoint.safetensors")
    tens, meta = stio.read(ck)
    check("zero_init_residual = true" in meta["config"], "the key is stored with the run's config")
    meta["config"] = meta["config"].replace("zero_init_residual = true\n", "")
    stio.write(ck, tens, meta)
    r = run("train", cfg, *TINY, "train.steps=2", "optim.lr=0", f"train.out={d}", "--quiet", "--resume")
    check(r.returncode == 1 and "steps = 1" in r.stderr and "steps = 2" in r.stderr,
          "a config stored without the key compares equal up to the line that differs", r.stderr[-800:])
    r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", f"train.out={d}", "--quiet", "--resume")
    check(r.returncode == 0, "a config stored without the key resumes with it at its default", r.stderr[-800:])
    r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", "model.zero_init_residual=false", f"train.out={d}",
            "--quiet", "--resume")
    check(r.returncode == 1 and "this run has 'zero_init_residual = false'" in r.stderr,
          "... and not with another value, the line named", r.stderr[-800:])
    # model.pool_grid: the encoder's last 4x4 map averaged over a 2x2 grid gives 4 x 32
    # dimensions; the same seed gives the same encoder, so the mean of each channel's four
    # equal cells is the global average of pool_grid 1. A grid over the map is refused.
    vg = np.random.default_rng(1).integers(0, 256, (3, 2, 32, 32, 3), dtype=np.uint8)
    np.save(os.path.join(tmp, "VG.npy"), vg)
    np.save(os.path.join(tmp, "AG.npy"), np.random.default_rng(2).standard_normal((3, 1, 4)).astype(np.float32))
    zs = {}
    for g in (1, 2):
        gd = os.path.join(tmp, f"grid{g}")
        r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", f"model.pool_grid={g}", f"train.out={gd}",
                "--quiet")
        check(r.returncode == 0, f"pool_grid={g} trains", r.stderr[-800:])
        r = run("embed", "--ckpt", os.path.join(gd, "checkpoint.safetensors"), "--views", os.path.join(tmp, "VG.npy"),
                "--actions", os.path.join(tmp, "AG.npy"), "--out", os.path.join(gd, "emb"))
        check(r.returncode == 0, f"pool_grid={g} embeds", r.stderr[-800:])
        if r.returncode == 0:
            zs[g] = np.load(os.path.join(gd, "emb", "z.npy"))
    if len(zs) == 2:
        check(zs[1].shape == (3, 2, 32) and zs[2].shape == (3, 2, 128), "pool_grid 2: four times the dimensions",
              f"{zs[1].shape} {zs[2].shape}")
        if zs[2].shape == (3, 2, 128):
            cells = zs[2].reshape(3, 2, 32, 4)
            check(np.allclose(cells.mean(-1), zs[1], atol=1e-5), "the grid's cells average to the global pool",
                  str(np.abs(cells.mean(-1) - zs[1]).max()))
            check(np.abs(cells - cells.mean(-1, keepdims=True)).max() > 1e-3, "... and the cells differ")
    r = run("train", cfg, *TINY, "train.steps=1", "model.pool_grid=5", f"train.out={os.path.join(tmp, 'grid5')}",
            "--quiet")
    check(r.returncode == 1 and "model.pool_grid = 5" in r.stderr and "4x4" in r.stderr
          and not os.path.exists(os.path.join(tmp, "grid5", "checkpoint.safetensors")),
          "a grid larger than the last feature map is refused, with the map's size", r.stderr[-800:])
    # The same holds for the keys of every section of the run's config ([env] here).
    tens, meta = stio.read(ck)
    check("color_actions = false\n" in meta["config"], "an [env] key at its default is stored")
    meta["config"] = meta["config"].replace("color_actions = false\n", "")
    stio.write(ck, tens, meta)
    r = run("train", cfg, *TINY, "train.steps=1", "optim.lr=0", f"train.out={d}", "--quiet", "--resume")
    check(r.returncode == 0, "a config stored without an [env] key at its default resumes", r.stderr[-800:])

    # Library messages that open with the command's name are not prefixed twice.
    nodisp = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    r = run("view", cfg, f"train.out={os.path.join(tmp, 'view')}", env=nodisp)
    check(r.returncode == 1 and "seqjepa view: no display" in r.stderr, "view without a display: one prefix", r.stderr)
    check(not doubled, "no error repeats its prefix", str(doubled))

    return checks.done()


sys.exit(main())
