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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__} conv2d, batch {a.batch}, {a.size} px, "
          f"{torch.get_num_threads()} threads, median of {a.reps} (ms)")
    print(f"{'layer':14s} {'fwd':>9s} {'bwd':>9s} {'fwd GF/s':>9s} {'bwd GF/s':>9s}")
    tot_f = tot_b = tot_flop = 0.0
    with torch.no_grad():
        for name, cin, cout, k, s, p, div, count in SHAPES:
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
    print(f"resnet18 convs: forward {tot_f*1e3:.1f} ms, backward {tot_b*1e3:.1f} ms, "
          f"total {(tot_f+tot_b)*1e3:.1f} ms, {tot_flop/(tot_f+tot_b)*1e-9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
