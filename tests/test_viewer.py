"""seqjepa view in scripted mode under a virtual X server (xvfb-run): a session that
turns the object and saccades in both worlds while a tiny model trains, checked
through its screenshot and JSON report: every panel drawn, the latents moved by
exactly the scripted amounts, training advanced and saved on close, L loads a
checkpoint (and refuses one of the other world), and bad scripts are refused.
Run by tests/run.sh (SEQJEPA_EXE names the binary)."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from png_read import read_png  # noqa: E402
from pycheck import EXE, ROOT, Checks, run  # noqa: E402

checks = Checks()
check = checks.check
CFG = "configs/objects3d-quick.ini"
TINY = ["env.size=32", "env.instances=4", "model.width=4", "model.action_emb=16", "model.layers=1",
        "model.pred_hidden=32", "train.batch=8", "train.m_train=2", "train.log_every=2", "train.threads=1",
        "train.steps=100000"]
GRID = 4096
TURN = math.radians(10)


def qmul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def qaxis(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


def same_rotation(p, q, tol):
    return min(np.abs(np.asarray(p) - q).max(), np.abs(np.asarray(p) + q).max()) <= tol


def grid(v):
    return min(max(round(v * GRID), 0), GRID) / GRID


def view(tmp, name, script, frames, *extra, env=None, xvfb=True, timeout=240):
    spath = os.path.join(tmp, name + ".txt")
    open(spath, "w").write(script)
    shot = os.path.join(tmp, name + ".png")
    cmd = [EXE, "view", CFG, *TINY, f"train.out={os.path.join(tmp, name)}", "--frames", str(frames),
           "--script", spath, "--screenshot", shot, *extra]
    if xvfb:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if xvfb and r.returncode == 5 and "problem while cleaning up temporary directory" in r.stderr:
        # xvfb-run removes its temporary directory while its X server still runs, and
        # exits 5 in place of the program's status when that fails: its own race, so once more
        for p in (shot, shot + ".json"):
            if os.path.exists(p):
                os.remove(p)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    rep = json.load(open(shot + ".json")) if r.returncode == 0 and os.path.exists(shot + ".json") else None
    return r, shot, rep


# Objects3d: world-frame turns, then the same as a drag, arrow keys and Q; saccade: clicks
# (absolute) and an arrow (relative); back to objects3d for one more turn.
SESSION = """# frame event arguments
3 rotate 0 1 0 0.5
6 drag 0.1 0
9 drag 0 -0.05
12 key Left
15 key Q
18 rotate 1 0 0 -0.3
21 resize 1100 760
30 wait_steps 4
40 key Tab
45 click 0.3 0.6
50 click 0.7 0.2
55 key Right
60 key O
70 wait_steps 2
80 click 0.25 0.75
85 key Down
90 key Tab
95 rotate 0 0 1 0.25
110 wait_steps 8
"""


def expected_turns():
    """World-frame turns of SESSION in order, as (axis, angle); a drag of (fx, fy) panel
    sides turns by pi * |(fx, fy)| about (fy, fx, 0)."""
    return [((0, 1, 0), 0.5), ((0, 1, 0), math.pi * 0.1), ((1, 0, 0), -math.pi * 0.05), ((0, 1, 0), -TURN),
            ((0, 0, 1), TURN), ((1, 0, 0), -0.3), ((0, 0, 1), 0.25)]


def main():
    if shutil.which("xvfb-run") is None or shutil.which("xauth") is None:
        print("FAIL xvfb-run (and xauth) are needed for this test: apt-get install xvfb xauth", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    tmp = tempfile.mkdtemp(dir=os.environ.get("TMPDIR"))

    r, shot, rep = view(tmp, "session", SESSION, 150)
    check(r.returncode == 0 and rep is not None, "scripted session runs", r.stderr[-3000:])
    if rep is None:
        sys.exit(checks.done())
    img = read_png(shot)
    check(list(img.shape[:2]) == [rep["window"][1], rep["window"][0]] == [760, 1100],
          "screenshot has the resized window's size", f"{img.shape} {rep['window']}")
    # Every panel is drawn: inside the window, varied pixels, and it reports data.
    for p in rep["panels"]:
        x, y, w, h = p["x"], p["y"], p["w"], p["h"]
        ok_rect = x >= 0 and y >= 0 and x + w <= img.shape[1] and y + h <= img.shape[0] and w > 40 and h > 20
        crop = img[y:y + h, x:x + w].reshape(-1, 3)
        colours = len(np.unique(crop[:, 0].astype(np.int32) * 65536 + crop[:, 1].astype(np.int32) * 256 + crop[:, 2]))
        check(ok_rect and crop.std() > 12 and colours >= 24 and p["items"] > 0,
              f"panel {p['name']} drawn", f"rect ok {ok_rect}, std {crop.std():.1f}, {colours} colours, {p['items']} items")
    world = {w["kind"]: w for w in rep["worlds"]}
    check(set(world) == {"objects3d", "saccade"} and rep["world"] == "objects3d", "both worlds made, ends in objects3d")
    o3, sac = world.get("objects3d"), world.get("saccade")
    if o3:
        # The latent moved by exactly the scripted turns: q_end = R_k ... R_1 q_start.
        q = np.array(o3["latent_start"][:4])
        for axis, angle in expected_turns():
            q = qmul(qaxis(axis, angle), q)
        q_end = np.array(o3["latent_end"][:4])
        check(same_rotation(q, q_end, 1e-6), "rotation latent = scripted turns composed",
              f"{q} vs {q_end}, diff {min(np.abs(q - q_end).max(), np.abs(q + q_end).max()):.2e}")
        check(o3["latent_start"][4:] == o3["latent_end"][4:], "turns leave the other latents exactly as they were")
        # ... and by exactly the recorded actions: q_end = q_start * a_1 * ... * a_n.
        acts = o3["actions"]
        q2 = np.array(o3["latent_start"][:4])
        for a in acts:
            q2 = qmul(q2, np.array(a[:4]) / np.linalg.norm(a[:4]))
        check(len(acts) == 7 and same_rotation(q2, q_end, 1e-6), "recorded actions compose to the latent",
              f"{len(acts)} actions")
        check(o3["train_steps"] >= 8 and o3["checkpoint"] and os.path.exists(o3["checkpoint"]),
              "objects3d trained and saved a checkpoint on close", f"{o3['train_steps']} {o3['checkpoint']}")
        check(o3.get("sequences_mixed", 0) >= 1, "the person's sequence was mixed into a training batch",
              str(o3.get("sequences_mixed")))
        log = open(os.path.join(tmp, "session", "log.csv")).read().splitlines()
        check(len(log) >= 5 and log[0].startswith("step,loss"), "training log written", str(len(log)))
    if sac:
        # Clicks fixate the clicked point on the fixation grid; arrows move by 1/16.
        y, x = grid(0.75), grid(0.25)
        y = grid(y + 0.0625)
        check(sac["latent_end"] == [y, x], "saccade latent = last click, then Down", f"{sac['latent_end']} vs {[y, x]}")
        start = np.array(sac["latent_start"])
        total = start + np.sum(np.array(sac["actions"]), axis=0)
        check(len(sac["actions"]) == 5 and list(total) == sac["latent_end"],
              "saccade actions sum to the displacement, exactly")
        check(sac["train_steps"] >= 2 and os.path.exists(sac["checkpoint"]) and "saccade" in sac["checkpoint"],
              "saccade trained and saved in its own run folder", f"{sac['train_steps']} {sac['checkpoint']}")
    check(rep["frames"] == 150 and rep["frames_drawn"] >= 150 and rep["fps_mean"] > 0, "frames counted")

    # L loads --ckpt into the shown world's model; one of the other world is refused.
    if o3 and sac:
        r, _, rep2 = view(tmp, "load", "5 key L\n15 wait_steps 1\n", 30, "--ckpt", o3["checkpoint"])
        note = rep2["worlds"][0]["note"] if rep2 else ""
        check(r.returncode == 0 and "loaded" in note, "L loads the checkpoint", note + r.stderr[-1500:])
        # Tab to the saccade world, then L: the objects3d checkpoint does not fit it.
        r, _, rep3 = view(tmp, "load_bad", "5 key Tab\n8 key L\n15 wait_steps 1\n", 30, "--ckpt", o3["checkpoint"])
        note = rep3["worlds"][1]["note"] if rep3 and len(rep3["worlds"]) > 1 else ""
        check(r.returncode == 0 and "action dims" in note, "a checkpoint of the other world is refused", note)
        # Without L: the config's world starts from --ckpt.
        r, _, rep4 = view(tmp, "start", "15 wait_steps 1\n", 30, "--ckpt", o3["checkpoint"], "train.log_every=1")
        note = rep4["worlds"][0]["note"] if rep4 else ""
        check(r.returncode == 0 and "loaded" in note, "the world starts from --ckpt", note + r.stderr[-1500:])
        # ... before its first step: that step's loss is not the untrained model's first loss
        r0, _, _ = view(tmp, "start_ref", "15 wait_steps 1\n", 30, "train.log_every=1")
        first = lambda name: next((row.split(",")[1] for row in open(os.path.join(tmp, name, "log.csv")).read().splitlines()
                                   if row.startswith("1,")), None) if os.path.exists(os.path.join(tmp, name, "log.csv")) else None
        a, b = first("start"), first("start_ref")
        check(r.returncode == 0 and r0.returncode == 0 and a is not None and b is not None and a != b,
              "the first step trains the loaded model, not the untrained one", f"{a} vs {b}")

    # Paused from the start: nothing trains and nothing is saved; space resumes. S saves
    # a screenshot into the run folder.
    # The PCA plots fill while paused before the first step (from the first batch, with the
    # starting weights), so a shipped model shows its latents at once.
    r, _, rep5 = view(tmp, "paused", "2 wait_plots\n10 key S\n", 20, "--paused")
    w5 = rep5["worlds"][0] if rep5 else {}
    check(r.returncode == 0 and w5.get("train_steps") == 0 and w5.get("checkpoint") == "",
          "paused: no training, no checkpoint", str(w5.get("train_steps")) + r.stderr[-1500:])
    items = {p["name"]: p["items"] for p in rep5["panels"]} if rep5 else {}
    check(items.get("pca_z", 0) >= 3 and items.get("pca_agg", 0) >= 3, "paused: both PCA plots drawn", str(items))
    check(os.path.exists(os.path.join(tmp, "paused", "view-001.png")), "S writes a screenshot into train.out")
    r, _, rep6 = view(tmp, "resumed", "5 key Space\n6 wait_steps 2\n", 20, "--paused")
    w6 = rep6["worlds"][0] if rep6 else {}
    check(r.returncode == 0 and w6.get("train_steps", 0) >= 2 and w6.get("checkpoint"), "space resumes training",
          r.stderr[-1500:])

    # Translation (env.translate_actions): Shift+D and a scripted move, composed exactly.
    r, _, rep7 = view(tmp, "move", "2 key Shift+D\n3 translate 0 -0.02 0.1\n4 key Shift+W\n", 8,
                      "env.translate_actions=true")
    w7 = rep7["worlds"][0] if rep7 else None
    if w7:
        t = np.array(w7["latent_start"][8:11]) + [0.05, 0.05 - 0.02, 0.1]
        still = np.abs(np.array(w7["latent_end"][:4]) - w7["latent_start"][:4]).max() < 1e-12
        check(np.abs(np.array(w7["latent_end"][8:11]) - t).max() < 1e-6 and still,
              "translation latent = scripted moves", f"{w7['latent_end'][8:11]} vs {t}")
    else:
        check(False, "translation session runs", r.stderr[-1500:])

    # Without a display, scripted mode falls back to SDL's offscreen driver.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    r, shot2, rep4 = view(tmp, "nodisplay", "2 rotate 0 1 0 0.3\n", 20, env=env, xvfb=False)
    check(r.returncode == 0 and rep4 is not None and os.path.exists(shot2), "runs without a display", r.stderr[-1500:])

    # Bad input: a script line names file and line; flags that need --frames.
    r, _, _ = view(tmp, "bad", "3 rotate 0 1 0\n", 10)
    check(r.returncode == 1 and "bad.txt:1" in r.stderr and "takes 4 arguments" in r.stderr, "bad script line", r.stderr)
    r, _, _ = view(tmp, "bad2", "3 key NoSuchKey\n", 10)
    check(r.returncode == 1 and "bad2.txt:1" in r.stderr and "unknown key" in r.stderr, "unknown key", r.stderr)
    r, _, _ = view(tmp, "bad3", "12 key Tab\n", 10)
    check(r.returncode == 1 and "bad3.txt:1" in r.stderr and "frame" in r.stderr, "event past the last frame", r.stderr)
    # A --ckpt that does not fit the config's model ends the start with its reason (before,
    # the window opened and trained an untrained model with a note in a corner).
    other = os.path.join(ROOT, "assets", "models", "saccade-standard.safetensors")
    r, shot_b, _ = view(tmp, "badckpt", "1 key R\n", 4, "--ckpt", other)
    check(r.returncode == 1 and "--ckpt" in r.stderr and "saccade-standard.safetensors" in r.stderr
          and "was trained on" in r.stderr and not os.path.exists(shot_b), "a --ckpt of another world is refused",
          r.stderr[-1500:])
    r = run("view", CFG, "--screenshot", "x.png")
    check(r.returncode == 2 and "--frames" in r.stderr, "--screenshot needs --frames", r.stderr)
    r = run("view", "--help")
    check(r.returncode == 0 and "usage: seqjepa view" in r.stdout, "view --help")
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(checks.done())


if __name__ == "__main__":
    main()
