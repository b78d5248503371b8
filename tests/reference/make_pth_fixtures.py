#!/usr/bin/python3
"""PyTorch checkpoints for the .pth reader's tests, written by torch.save.

Run with Debian's python3-torch (torch 1.13, torchvision 0.14):

    /usr/bin/python3 tests/reference/make_pth_fixtures.py fixtures
        writes the small committed files in tests/fixtures/pth/ (see below)
    /usr/bin/python3 tests/reference/make_pth_fixtures.py model ARCH OUTDIR [SIZE]
        writes OUTDIR/ARCH.pth (a torchvision ARCH with random weights and
        batch norm statistics, its own classifier), OUTDIR/input.bin
        ([2,3,SIZE,SIZE] float32) and OUTDIR/logits.bin (PyTorch's eval-mode
        logits, [2,1000] float32); tests/interchange/test-pth.c runs it when
        /usr/bin/python3 has torch (the file is 45+ MB: never committed).

Committed fixtures (tests/fixtures/pth/):
  formats.pth    a[3,4] = (4i+j)/4 - 1 as float32; t = a.t() (strides (1,4));
                 v = arange(20)[5:11].view(2,3) (storage offset 5); h, bf, d =
                 a as float16, bfloat16, float64; n = tensor(7) (int64, 0-d);
                 u8 = uint8 [2] (a dtype we refuse to convert)
  wrapped.pth    {"epoch": 3, "lr": 0.1, "state_dict": {"module.w": a}, "opt": [1, 2.5]}
  tiny.pth       state_dict of Tagsight's "tiny" net with its own 4-way classifier,
                 random weights and BN statistics
  tiny-io.bin    [2,3,32,32] input then [2,4] PyTorch logits (float32)
  evil.pth       a pickle whose object reduces to os.system (must be refused)
  list.pth       a list of tensors (not a state_dict)
  legacy.pth     torch.save(..., _use_new_zipfile_serialization=False)
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "pth")


class Tiny(nn.Module):
    """src/engine/models/ts-tiny.c: three conv-bn-relu (stride 2) and a classifier."""

    def __init__(self, n_classes):
        super().__init__()
        chans = [3, 8, 16, 32]
        for i in range(3):
            setattr(self, "conv%d" % (i + 1),
                    nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1, bias=False))
            setattr(self, "bn%d" % (i + 1), nn.BatchNorm2d(chans[i + 1]))
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x):
        for i in range(3):
            x = getattr(self, "bn%d" % (i + 1))(getattr(self, "conv%d" % (i + 1))(x)).relu()
        return self.fc(x.mean((2, 3)))


def randomize_bn(model, gen):
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = mod.num_features
            mod.weight.data = 0.5 + torch.rand(n, generator=gen)
            mod.bias.data = 0.2 * torch.randn(n, generator=gen)
            mod.running_mean = 0.1 * torch.randn(n, generator=gen)
            mod.running_var = 0.5 + torch.rand(n, generator=gen)
            mod.num_batches_tracked = torch.tensor(17)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def fixtures():
    os.makedirs(FIX, exist_ok=True)
    a = (torch.arange(12, dtype=torch.float32).reshape(3, 4)) / 4 - 1
    big = torch.arange(20, dtype=torch.float32)
    sd = {
        "a": a, "t": a.t(), "v": big[5:11].view(2, 3),
        "h": a.half(), "bf": a.bfloat16(), "d": a.double(),
        "n": torch.tensor(7), "u8": torch.tensor([1, 2], dtype=torch.uint8),
    }
    torch.save(sd, os.path.join(FIX, "formats.pth"))
    torch.save({"epoch": 3, "lr": 0.1, "state_dict": {"module.w": a}, "opt": [1, 2.5]},
               os.path.join(FIX, "wrapped.pth"))
    torch.save(Evil(), os.path.join(FIX, "evil.pth"))
    torch.save([a, a], os.path.join(FIX, "list.pth"))
    torch.save({"a": a}, os.path.join(FIX, "legacy.pth"), _use_new_zipfile_serialization=False)

    gen = torch.Generator().manual_seed(6)
    torch.manual_seed(6)
    tiny = Tiny(4)
    randomize_bn(tiny, gen)
    tiny.eval()
    torch.save(tiny.state_dict(), os.path.join(FIX, "tiny.pth"))
    x = torch.randn(2, 3, 32, 32, generator=gen)
    with torch.no_grad():
        y = tiny(x)
    with open(os.path.join(FIX, "tiny-io.bin"), "wb") as f:
        f.write(x.numpy().astype("<f4").tobytes())
        f.write(y.numpy().astype("<f4").tobytes())


def model(arch, out, size):
    import torchvision
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    net = getattr(torchvision.models, arch)(weights=None)
    randomize_bn(net, gen)
    net.eval()
    os.makedirs(out, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(out, arch + ".pth"))
    x = torch.randn(2, 3, size, size, generator=gen)
    with torch.no_grad():
        y = net(x)
    x.numpy().astype("<f4").tofile(os.path.join(out, "input.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out, "logits.bin"))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "fixtures":
        fixtures()
    elif len(sys.argv) >= 4 and sys.argv[1] == "model":
        model(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 64)
    else:
        sys.exit(__doc__)
