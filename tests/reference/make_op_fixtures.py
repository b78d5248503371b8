#!/usr/bin/python3
"""Dump inputs, outputs and gradients of every engine op from PyTorch.

Run by hand (not in CI) with Debian's python3-torch:
    /usr/bin/python3 tests/reference/make_op_fixtures.py tests/fixtures/ops

Format of each NAME.bin (little-endian), read by tests/engine/ts-fixture.h:
    b"TSFX0001", uint32 count, then count records of
    uint32 name_len, name (utf-8), uint32 ndim, int64 dims[ndim], float32 data[prod(dims)]
Scalars (stride, padding, momentum...) are stored as 1-element arrays.
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)   # references in double, stored as float32
GEN = torch.Generator().manual_seed(1234)


def rnd(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, generator=GEN) * (hi - lo) + lo)


def write(path, arrays):
    with open(path, "wb") as f:
        f.write(b"TSFX0001")
        f.write(struct.pack("<I", len(arrays)))
        for name, a in arrays.items():
            a = np.asarray(a.detach().numpy() if torch.is_tensor(a) else a, dtype=np.float32)
            if a.ndim == 0:
                a = a.reshape(1)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<I", a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(np.ascontiguousarray(a).astype("<f4").tobytes())


def f32(t):
    """round an input to float32 so C and torch see the same numbers"""
    return t.float().double()


def conv_case(out, name, n, cin, h, w, cout, k, stride, pads, groups, bias):
    """pads = (top, left, bottom, right), as ts_conv2d_params"""
    kh, kw = k
    x = f32(rnd(n, cin, h, w)).requires_grad_()
    wt = f32(rnd(cout, cin // groups, kh, kw) * 0.5).requires_grad_()
    b = f32(rnd(cout)).requires_grad_() if bias else None
    xp = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
    y = F.conv2d(xp, wt, b, stride=stride, groups=groups)
    dy = f32(rnd(*y.shape))
    y.backward(dy)
    arrays = {
        "x": x, "w": wt, "y": y, "dy": dy, "dx": x.grad, "dw": wt.grad,
        "stride": torch.tensor([stride[0], stride[1]]),
        "pad": torch.tensor(list(pads)), "groups": torch.tensor([groups]),
    }
    if bias:
        arrays["b"] = b
        arrays["db"] = b.grad
    write(os.path.join(out, name + ".bin"), arrays)


def bn_case(out, name, shape, train):
    c = shape[1]
    x = f32(rnd(*shape, lo=-2, hi=3)).requires_grad_()
    g = f32(rnd(c, lo=0.5, hi=1.5)).requires_grad_()
    b = f32(rnd(c)).requires_grad_()
    rm = f32(rnd(c))
    rv = f32(rnd(c, lo=0.5, hi=2.0))
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, g, b, training=train, momentum=0.1, eps=1e-5)
    dy = f32(rnd(*y.shape))
    y.backward(dy)
    write(os.path.join(out, name + ".bin"), {
        "x": x, "gamma": g, "beta": b, "running_mean_in": rm0, "running_var_in": rv0,
        "y": y, "running_mean": rm, "running_var": rv, "dy": dy, "dx": x.grad,
        "dgamma": g.grad, "dbeta": b.grad,
    })


def unary_case(out, name, fn, x):
    x = f32(x).requires_grad_()
    y = fn(x)
    dy = f32(rnd(*y.shape))
    y.backward(dy)
    write(os.path.join(out, name + ".bin"), {"x": x, "y": y, "dy": dy, "dx": x.grad})


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ops"
    os.makedirs(out, exist_ok=True)

    conv_case(out, "conv_basic", 2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1), 1, True)
    conv_case(out, "conv_stride2", 2, 4, 9, 8, 5, (3, 3), (2, 2), (1, 1, 1, 1), 1, False)
    # TFLite SAME padding for a 3x3 stride-2 conv on an even input: 0 before, 1 after
    conv_case(out, "conv_same_asym", 2, 3, 8, 8, 4, (3, 3), (2, 2), (0, 0, 1, 1), 1, True)
    conv_case(out, "conv_group2", 2, 4, 5, 5, 6, (3, 3), (1, 1), (1, 1, 1, 1), 2, True)
    conv_case(out, "conv_depthwise", 2, 4, 6, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1), 4, True)
    conv_case(out, "conv_depthwise_s2_asym", 2, 5, 8, 7, 5, (3, 3), (2, 2), (0, 1, 1, 1), 5,
              False)
    conv_case(out, "conv_depthwise_mult2", 2, 3, 5, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), 3, False)
    # not 3x3: the general depthwise loop
    conv_case(out, "conv_depthwise_5x5_s2", 2, 3, 9, 8, 3, (5, 5), (2, 2), (2, 2, 2, 1), 3, True)
    conv_case(out, "conv_depthwise_3x1", 2, 4, 6, 5, 8, (3, 1), (1, 1), (1, 0, 1, 0), 4, False)
    conv_case(out, "conv_1x1", 2, 6, 4, 5, 3, (1, 1), (1, 1), (0, 0, 0, 0), 1, False)
    conv_case(out, "conv_1x1_s2", 2, 6, 7, 6, 4, (1, 1), (2, 2), (0, 0, 0, 0), 1, True)
    conv_case(out, "conv_stem7x7", 2, 3, 16, 14, 4, (7, 7), (2, 2), (3, 3, 3, 3), 1, False)
    conv_case(out, "conv_rect", 1, 2, 6, 9, 3, (2, 3), (1, 2), (1, 0, 0, 2), 1, True)

    bn_case(out, "bn2d_train", (4, 3, 5, 5), True)
    bn_case(out, "bn1d_train", (6, 5), True)
    bn_case(out, "bn2d_eval", (3, 4, 3, 2), False)
    bn_case(out, "bn1d_eval", (5, 7), False)

    # away from the kinks so finite differences in the C tests agree too
    xk = rnd(2, 3, 4, 5, lo=-8, hi=8)
    xk = torch.where(xk.abs() < 0.1, xk + 0.3, xk)
    xk = torch.where((xk - 6).abs() < 0.1, xk + 0.3, xk)
    unary_case(out, "relu", F.relu, xk)
    unary_case(out, "relu6", F.relu6, xk)
    unary_case(out, "sigmoid", torch.sigmoid, rnd(2, 3, 4, 5, lo=-6, hi=6))
    unary_case(out, "maxpool3s2p1", lambda t: F.max_pool2d(t, 3, 2, 1), rnd(2, 3, 9, 8))
    unary_case(out, "adaptive_avg_1", lambda t: F.adaptive_avg_pool2d(t, 1), rnd(2, 3, 5, 4))
    unary_case(out, "adaptive_avg_3x2", lambda t: F.adaptive_avg_pool2d(t, (3, 2)),
               rnd(2, 3, 7, 5))
    unary_case(out, "adaptive_max_1", lambda t: F.adaptive_max_pool2d(t, 1), rnd(2, 3, 5, 4))
    unary_case(out, "adaptive_max_3x2", lambda t: F.adaptive_max_pool2d(t, (3, 2)),
               rnd(2, 3, 7, 5))

    for name, bias in (("linear_bias", True), ("linear_nobias", False)):
        x = f32(rnd(5, 7)).requires_grad_()
        w = f32(rnd(4, 7)).requires_grad_()
        b = f32(rnd(4)).requires_grad_() if bias else None
        y = F.linear(x, w, b)
        dy = f32(rnd(*y.shape))
        y.backward(dy)
        arrays = {"x": x, "w": w, "y": y, "dy": dy, "dx": x.grad, "dw": w.grad}
        if bias:
            arrays["b"] = b
            arrays["db"] = b.grad
        write(os.path.join(out, name + ".bin"), arrays)

    # large logits on purpose: the stable form must not overflow
    x = f32(rnd(6, 4, lo=-30, hi=30))
    x[0, 0], x[0, 1], x[1, 0] = 120.0, -120.0, 0.0
    x = x.requires_grad_()
    t = (rnd(6, 4) > 0).double()
    loss = F.binary_cross_entropy_with_logits(x, t)
    loss.backward()
    write(os.path.join(out, "bce.bin"), {"x": x, "t": t, "loss": loss, "dx": x.grad})

    a, b = f32(rnd(2, 3, 2, 2)), f32(rnd(2, 5, 2, 2))
    write(os.path.join(out, "concat.bin"), {"a": a, "b": b, "y": torch.cat([a, b], 1)})


if __name__ == "__main__":
    main()
