#!/usr/bin/python3
"""PyTorch counterpart of bench-ops.c: resnet18's conv shapes, forward and backward
(dx + dw; no dx for the stem), median milliseconds.
    /usr/bin/python3 bench/bench_ops.py [--threads 2] [--batch 64] [--size 128] [--reps 5]"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = [  # name, cin, cout, k, stride, pad, size_div, count
    ("stem 7x7/2", 3, 64, 7, 2, 3, 1, 1),
    ("l1 3x3", 64, 64, 3, 1, 1, 4, 4),
    ("l2 3x3/2", 64, 128, 3, 2, 1, 4, 1),
    ("l2 3x3", 128, 128, 3, 1, 1, 8, 3),
    ("l2 ds 1x1/2", 64, 128, 1, 2, 0, 4, 1),
    ("l3 3x3/2", 128, 256, 3, 2, 1, 8, 1),
    ("l3 3x3", 256, 256, 3, 1, 1, 16, 3),
    ("l3 ds 1x1/2", 128, 256, 1, 2, 0, 8, 1),
    ("l4 3x3/2", 256, 512, 3, 2, 1, 16, 1),
    ("l4 3x3", 512, 512, 3, 1, 1, 32, 3),
    ("l4 ds 1x1/2", 256, 512, 1, 2, 0, 16, 1),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--other-only", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__} conv2d, batch {a.batch}, {a.size} px, "
          f"{torch.get_num_threads()} threads, median of {a.reps} (ms)")
    print(f"{'layer':14s} {'fwd':>9s} {'bwd':>9s} {'fwd GF/s':>9s} {'bwd GF/s':>9s}")
    tot_f = tot_b = tot_flop = 0.0
    with torch.no_grad():
        for name, cin, cout, k, s, p, div, count in ([] if a.other_only else SHAPES):
            h = a.size // div
            oh = (h + 2 * p - k) // s + 1
            x = torch.rand(a.batch, cin, h, h) * 2 - 1
            w = torch.rand(cout, cin, k, k) * 2 - 1
            mask = [cin != 3, True, False]
            y = F.conv2d(x, w, None, s, p)
            torch.ops.aten.convolution_backward(y, x, w, None, [s, s], [p, p], [1, 1], False,
                                                [0, 0], 1, mask)
            tf, tb = [], []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                y = F.conv2d(x, w, None, s, p)
                t1 = time.perf_counter()
                torch.ops.aten.convolution_backward(y, x, w, None, [s, s], [p, p], [1, 1],
                                                    False, [0, 0], 1, mask)
                t2 = time.perf_counter()
                tf.append(t1 - t0)
                tb.append(t2 - t1)
            mf, mb = statistics.median(tf), statistics.median(tb)
            flop = 2.0 * a.batch * cout * oh * oh * cin * k * k
            bflop = flop if cin == 3 else 2 * flop
            print(f"{name:14s} {mf*1e3:9.2f} {mb*1e3:9.2f} {flop/mf*1e-9:9.1f} "
                  f"{bflop/mb*1e-9:9.1f}  x{count}")
            tot_f += mf * count
            tot_b += mb * count
            tot_flop += (flop + bflop) * count
    if tot_f + tot_b > 0:
        print(f"resnet18 convs: forward {tot_f*1e3:.1f} ms, backward {tot_b*1e3:.1f} ms, "
              f"total {(tot_f+tot_b)*1e3:.1f} ms, {tot_flop/(tot_f+tot_b)*1e-9:.1f} GFLOP/s")
    bench_other(a)


def timed(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def bench_other(a):
    """batch norm, relu, max pool, mobilenet_v2's depthwise convs (autograd backward)"""
    h = a.size // 2
    x = (torch.rand(a.batch, 64, h, h) * 2 - 1).requires_grad_()
    g = torch.ones(64, requires_grad=True)
    b = torch.zeros(64, requires_grad=True)
    rm, rv = torch.zeros(64), torch.ones(64)
    print(f"\n{'op':22s} {'fwd':>9s} {'bwd':>9s}   (ms, [{a.batch}, 64, {h}, {h}])")
    def pair(name, f):
        out = [None]
        def fwd():
            out[0] = f()
        def bwd():
            out[0].backward(out[0].detach(), retain_graph=True)
        fwd()
        print(f"{name:22s} {timed(fwd, a.reps):9.2f} {timed(bwd, a.reps):9.2f}")
    pair("batchnorm (train)", lambda: F.batch_norm(x, rm, rv, g, b, True, 0.1, 1e-5))
    y0 = x.detach().clone().requires_grad_()
    pair("relu", lambda: F.relu(y0))
    pair("maxpool 3x3/2", lambda: F.max_pool2d(x, 3, 2, 1))
    for name, c, div, s in (("dw 32 s1", 32, 2, 1), ("dw 96 s2", 96, 2, 2),
                            ("dw 144 s1", 144, 4, 1), ("dw 384 s1", 384, 16, 1),
                            ("dw 960 s1", 960, 32, 1)):
        hh = a.size // div
        x2 = (torch.rand(a.batch, c, hh, hh) * 2 - 1).requires_grad_()
        w2 = (torch.rand(c, 1, 3, 3) * 2 - 1).requires_grad_()
        pair(f"{name} [{hh},{hh}]", lambda: F.conv2d(x2, w2, None, s, 1, 1, c))


if __name__ == "__main__":
    main()
