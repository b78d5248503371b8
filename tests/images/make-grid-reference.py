#!/usr/bin/python3
"""Reference for test-transform's /transform/torch-parity: fastai's batch
transform geometry done by PyTorch itself (affine_grid, fastai's perspective
warp on the grid, grid_sample bilinear, reflection padding, align_corners=True)
on a 32x32 image.  Run with Debian's python3 + torch; writes
tests/fixtures/images/grid-src.png and grid-ref.bin.

grid-ref.bin: for each case, 8 float64 (a b c d e f of the 2x3 matrix, then the
warp magnitudes xt yt) and 3*32*32 float32 (the CHW output in [0, 1]).
"""
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'images')
S = 32


def find_coeffs(p1, p2):
    # fastai.vision.augment._find_coeffs, for one set of points
    m = []
    for i in range(4):
        m.append([p2[i][0], p2[i][1], 1, 0, 0, 0, -p1[i][0] * p2[i][0], -p1[i][0] * p2[i][1]])
        m.append([0, 0, 0, p2[i][0], p2[i][1], 1, -p1[i][1] * p2[i][0], -p1[i][1] * p2[i][1]])
    a = torch.tensor(m, dtype=torch.float64)
    b = torch.tensor([c for p in p1 for c in p], dtype=torch.float64)
    return torch.linalg.solve(a, b)


def warp_grid(grid, xt, yt):
    orig = [[-1, -1], [-1, 1], [1, -1], [1, 1]]
    targ = [[-1 - yt, -1 - xt], [-1 + yt, 1 + xt], [1 + yt, -1 + xt], [1 - yt, 1 - xt]]
    c = torch.cat([find_coeffs(orig, targ), torch.ones(1, dtype=torch.float64)]).view(3, 3)
    x = grid.view(-1, 2)
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)
    res = x @ c.t()
    return (res[:, :2] / res[:, 2:]).view(grid.shape)


def main():
    yy, xx = np.mgrid[0:S, 0:S]
    rng = np.random.default_rng(3)
    img = np.stack([128 + 100 * np.sin(xx / 3.0 + c) * np.cos(yy / 4.0 - c) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(os.path.join(OUT, 'grid-src.png'))
    x = torch.tensor(img, dtype=torch.float64).permute(2, 0, 1)[None] / 255.0

    def rot(deg):
        t = deg * math.pi / 180
        return [[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]]

    def zoom(s, col, row):
        s = 1 / s
        return [[s, 0, (1 - s) * (2 * col - 1)], [0, s, (1 - s) * (2 * row - 1)], [0, 0, 1]]

    flip = [[-1, 0, 0], [0, 1, 0], [0, 0, 1]]
    eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    cases = [
        (np.array(flip), 0.0, 0.0),
        (np.array(rot(9.0)), 0.0, 0.0),
        (np.array(zoom(1.08, 0.2, 0.9)), 0.0, 0.0),
        (np.array(flip) @ np.array(rot(-7.5)) @ np.array(zoom(1.1, 0.7, 0.3)), 0.0, 0.0),
        (np.array(eye), 0.15, -0.1),
        (np.array(rot(25.0)) @ np.array(zoom(1.05, 0.5, 0.5)), -0.2, 0.18),
    ]
    with open(os.path.join(OUT, 'grid-ref.bin'), 'wb') as f:
        for m, xt, yt in cases:
            theta = torch.tensor(m[:2], dtype=torch.float64)[None]
            grid = F.affine_grid(theta, (1, 3, S, S), align_corners=True)
            if xt or yt:
                grid = warp_grid(grid, xt, yt)
            out = F.grid_sample(x, grid, mode='bilinear', padding_mode='reflection',
                                align_corners=True)
            f.write(struct.pack('<8d', *m[:2].reshape(-1), xt, yt))
            f.write(out[0].numpy().astype('<f4').tobytes())


if __name__ == '__main__':
    main()
