# Per-shape GFLOP per CPU-second of PyTorch's CPU convolution (oneDNN 2.6.3, Debian's
# libdnnl2, the library libdnnl-dev links) on one thread, for the reference
# configuration's layer shapes (batch 96 = 32 sequences x 3 views).
# Usage: /usr/bin/python3 bench/torch_conv.py (compare with `seqjepa bench train --paths`).
import time, torch
torch.set_num_threads(1)
shapes = [  # ci, co, hw, k, stride
    (64, 64, 32, 3, 1), (64, 128, 32, 3, 2), (128, 128, 16, 3, 1), (128, 256, 16, 3, 2),
    (256, 256, 8, 3, 1), (256, 512, 8, 3, 2), (512, 512, 4, 3, 1), (64, 128, 32, 1, 2)]
n = 96
def best(fn, reps=5):
    fn()
    b = 1e9
    for _ in range(reps):
        t = time.thread_time(); fn(); b = min(b, time.thread_time() - t)
    return b
print("load", open('/proc/loadavg').read().split()[0], "mkldnn", torch.backends.mkldnn.is_available())
for ci, co, hw, k, s in shapes:
    p = k // 2
    x = torch.randn(n, ci, hw, hw); w = torch.randn(co, ci, k, k) * 0.05
    y = torch.nn.functional.conv2d(x, w, stride=s, padding=p)
    oh = y.shape[2]
    flop = 2.0 * co * ci * k * k * n * oh * oh
    gy = torch.randn_like(y)
    cb = lambda m: torch.ops.aten.convolution_backward(gy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, m)
    with torch.no_grad():
        tf = best(lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=p))
        td = best(lambda: cb([True, False, False]))
        tw = best(lambda: cb([False, True, False]))
    print(f"conv {ci:3d}->{co:3d} k{k} s{s} {hw:2d}x{hw:<2d} n {n}: forward {flop/tf*1e-9:6.1f}  dinput {flop/td*1e-9:6.1f}  dweight {flop/tw*1e-9:6.1f} GFLOP/CPU-s", flush=True)
print("load", open('/proc/loadavg').read().split()[0])
