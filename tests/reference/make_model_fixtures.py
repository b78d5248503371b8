#!/usr/bin/python3
"""Builds the model fixtures in tests/fixtures/models/ with PyTorch.

Run by hand with Debian's python3-torch (torch 1.13, torchvision 0.14):
    /usr/bin/python3 tests/reference/make_model_fixtures.py

1. names-ARCH.txt: every parameter and buffer of torchvision's ARCH (its own
   classifier) and of ARCH under fastai's head, "name shape kind" per line,
   kind = param / buffer.
2. parity-ARCH.safetensors: one training-mode forward + BCEWithLogits +
   backward of ARCH (resnet18, resnet50, mobilenet_v2, and mobilenet_v2_folded: batch
   norm folded into conv biases, TensorFlow SAME padding) with fastai's head (dropout p=0) on a [4,3,64,64] input (batch 2 makes
   the head's BatchNorm1d ill-conditioned: float32 and float64 PyTorch differ).
   PyTorch computes in float64 from the same float32 weights and input.
   Weights are not stored: both sides compute them from the tensor's name
   (see fill_weights; tests/models/test-model-parity.c has the same formula),
   which keeps the fixture small.  Stored: x, targets, logits, loss, the eval
   logits after the step (running statistics updated once), for every
   parameter a gradient summary [sum, sum|g|, 16 samples], a few full
   gradients, and a few running statistics.

fastai is not installed: create_head is reproduced exactly (fastai 2.7:
AdaptiveConcatPool2d, Flatten, BatchNorm1d, Dropout(0.25), Linear(no bias),
ReLU, BatchNorm1d, Dropout(0.5), Linear(no bias)).
"""
import json
import math
import os
import struct
import types

import numpy as np
import torch
import torch.nn as nn
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
N_CLASSES = 5


class AdaptiveConcatPool2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.ap = nn.AdaptiveAvgPool2d(1)
        self.mp = nn.AdaptiveMaxPool2d(1)

    def forward(self, x):
        return torch.cat([self.mp(x), self.ap(x)], 1)


def create_head(nf, n_out, ps=(0.25, 0.5)):
    return nn.Sequential(
        AdaptiveConcatPool2d(), nn.Flatten(),
        nn.BatchNorm1d(2 * nf), nn.Dropout(ps[0]), nn.Linear(2 * nf, 512, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512), nn.Dropout(ps[1]), nn.Linear(512, n_out, bias=False))


def torchvision_model(arch):
    return getattr(torchvision.models, arch)(weights=None)


def body_of(arch):
    """torchvision's network without its classifier, keeping its module names."""
    m = torchvision_model(arch)
    if arch.startswith("resnet"):
        del m.fc, m.avgpool

        def fwd(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))
        nf = 2048 if arch == "resnet50" else 512
    else:
        del m.classifier

        def fwd(self, x):
            return self.features(x)
        nf = 1280
    m.forward = types.MethodType(fwd, m)
    return m, nf


def _same_pad(conv, x):
    """TensorFlow SAME padding: on even sizes a stride-2 conv pads 0 before and 1 after."""
    k, st = conv.kernel_size[0], conv.stride[0]
    h, w = x.shape[2], x.shape[3]
    ph = max((-(-h // st) - 1) * st + k - h, 0)
    pw = max((-(-w // st) - 1) * st + k - w, 0)
    return nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def fold_mobilenet(m):
    """mobilenet_v2_folded: every conv gets a bias, batch norms go, stride-2 convs pad as
    TensorFlow does (a pre-hook, so that names stay torchvision's)."""
    def walk(mod):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(mod, name, nn.Identity())
            elif isinstance(child, nn.Conv2d):
                stride2 = child.stride[0] == 2
                conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size,
                                 child.stride, 0 if stride2 else child.padding,
                                 groups=child.groups, bias=True)
                if stride2:
                    conv.register_forward_pre_hook(lambda c, inp: (_same_pad(c, inp[0]),))
                setattr(mod, name, conv)
            else:
                walk(child)
    walk(m)
    return m


def fastai_model(arch, n_out, ps=(0.25, 0.5)):
    if arch == "mobilenet_v2_folded":
        body, nf = body_of("mobilenet_v2")
        fold_mobilenet(body)
    else:
        body, nf = body_of(arch)
    return nn.Sequential(body, create_head(nf, n_out, ps))


def name_hash(name):
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % 9973


def formula(name, n):
    """uniform in [-1, 1): splitmix64 of (name hash, index), exact in both languages"""
    with np.errstate(over="ignore"):
        z = np.uint64(name_hash(name)) * np.uint64(0x9E3779B97F4A7C15) + \
            np.arange(n, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 / 9007199254740992.0) - 1.0


def fill_weights(model):
    bn_names = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn_names.add(mname)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            n = t.numel()
            s = formula(name, n)
            owner, leaf = name.rsplit(".", 1)
            if leaf == "num_batches_tracked":
                v = np.zeros(n)
            elif leaf == "running_mean":
                v = 0.1 * s
            elif leaf == "running_var":
                v = 1.0 + 0.5 * np.abs(s)
            elif owner in bn_names:
                v = 1.0 + 0.2 * s if leaf == "weight" else 0.1 * s
            elif leaf == "bias":
                v = 0.1 * s
            else:
                fan_in = n // t.shape[0]
                v = math.sqrt(6.0 / fan_in) * s  # uniform: variance 2 / fan_in, kaiming's
            t.copy_(torch.from_numpy(v.astype(np.float32)).reshape(t.shape).to(t.dtype))


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype="<f4")
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_names(arch):
    lines = []
    for label, model in (("original", torchvision_model(arch)),
                         ("fastai", fastai_model(arch, N_CLASSES))):
        lines.append("# %s %s params=%d" % (arch, label,
                                             sum(p.numel() for p in model.parameters())))
        for name, p in model.named_parameters():
            lines.append("%s %s %s param" % (label, name, "x".join(map(str, p.shape))))
        for name, b in model.named_buffers():
            shape = "x".join(map(str, b.shape)) or "1"
            lines.append("%s %s %s buffer" % (label, name, shape))
    with open(os.path.join(OUT, "names-%s.txt" % arch), "w") as f:
        f.write("\n".join(lines) + "\n")


FULL_GRADS = {
    "resnet18": ["0.conv1.weight", "0.layer1.0.conv1.weight", "0.layer4.1.bn2.weight",
                 "0.layer3.0.downsample.0.weight", "1.2.weight", "1.8.weight"],
    "mobilenet_v2": ["0.features.0.0.weight", "0.features.1.conv.0.0.weight",
                     "0.features.17.conv.3.weight", "0.features.2.conv.1.0.weight", "0.features.18.1.bias", "1.6.weight",
                     "1.8.weight"],
    # resnet50's body gradients are chaotic at this size (float32 PyTorch is up to 23%
    # off float64), so the test compares its forward and its head's gradients only
    "resnet50": ["1.2.weight", "1.6.weight", "1.8.weight"],
    "mobilenet_v2_folded": ["0.features.0.0.weight", "0.features.0.0.bias",
                            "0.features.2.conv.1.0.weight", "0.features.2.conv.1.0.bias",
                            "0.features.18.0.bias", "1.8.weight"],
}
RUNNING = {
    "resnet18": ["0.bn1.running_mean", "0.bn1.running_var", "0.layer4.1.bn2.running_var",
                 "1.2.running_mean", "1.6.running_var"],
    "mobilenet_v2": ["0.features.0.1.running_mean", "0.features.18.1.running_var",
                     "1.2.running_var"],
    "resnet50": ["0.layer2.0.downsample.1.running_var", "0.layer4.2.bn3.running_mean"],
    "mobilenet_v2_folded": ["1.2.running_mean", "1.6.running_var"],
}


def write_parity(arch):
    torch.manual_seed(0)
    model = fastai_model(arch, N_CLASSES, ps=(0.0, 0.0))
    fill_weights(model)
    model.train()
    x = torch.randn(4, 3, 64, 64)
    targets = (torch.rand(4, N_CLASSES) < 0.4).float()
    # the reference runs in float64 (from the float32 weights and input), so that the
    # test measures our float32 error, not the sum of ours and PyTorch's
    model.double()
    x = x.double()
    targets = targets.double()
    logits = model(x)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
    loss.backward()
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    out = {"x": x.float().numpy(), "targets": targets.numpy(), "logits": logits.detach().numpy(),
           "loss": np.array([loss.item()]), "logits_eval": logits_eval.numpy()}
    for name, p in model.named_parameters():
        g = p.grad.detach().flatten().double().numpy()
        idx = [(k * g.size) // 16 for k in range(16)]
        out["gsum." + name] = np.concatenate([[g.sum(), np.abs(g).sum()], g[idx]])
    params = dict(model.named_parameters())
    for name in FULL_GRADS[arch]:
        out["grad." + name] = params[name].grad.float().numpy()
    buffers = dict(model.named_buffers())
    for name in RUNNING[arch]:
        out["buf." + name] = buffers[name].float().numpy()
    write_safetensors(os.path.join(OUT, "parity-%s.safetensors" % arch), out,
                      {"arch": arch, "n_classes": str(N_CLASSES), "torch": torch.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for arch in ("resnet18", "resnet34", "resnet50", "mobilenet_v2"):
        write_names(arch)
    for arch in ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v2_folded"):
        write_parity(arch)


if __name__ == "__main__":
    main()
