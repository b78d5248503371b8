#!/usr/bin/python3
"""Quality reference: fastai's fine_tune reproduced with torch's own layers and
optimizer, for the side-by-side with `tagsight-cli train` (issue 3, item 10).

Same recipe as Tagsight: fastai head; parameter groups as Tagsight's splitter
(resnet: stem+layer1+layer2 | layer3+layer4 | head; mobilenet_v2: features[:10]
| features[10:] | head); freeze keeps batch norm trainable; Adam with decoupled
weight decay 0.01 (not on biases and BN), betas (0.9, 0.99), eps 1e-5;
fit_one_cycle with cosine annealing, div 25, div_final 1e5, moms 0.95-0.85-0.95;
fine_tune = freeze, fit_one_cycle(freeze_epochs, slice(lr), pct_start=0.99),
lr /= 2, unfreeze, fit_one_cycle(epochs, slice(lr/100, lr), pct_start=0.3, div=5).
freeze and unfreeze clear the Adam state (averages and step counts), as
fastai's Learner.freeze_to does (opt.clear_state()) and Tagsight's default.
Data: RandomResizedCrop(size, min_scale, ratio 3/4..4/3) + horizontal flip for
training; validation squished to size + val_xtra and centre-cropped.

  build/bench/bench-tflite-to-safetensors \
      ../shared/weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite /tmp/body.safetensors
  /usr/bin/python3 bench/torch_train_reference.py ../shared/data/bccd/train.csv \
      --arch mobilenet_v2 --weights /tmp/body.safetensors --epochs 3 --freeze-epochs 4 \
      --lr 3e-3 --bs 64 --size 128 --seeds 1 7 42 --threads 2

--weights takes a safetensors file of the body with torchvision names.  A file
with BN-folded MobileNetV2 names ("features.0.0.bias": what
bench-tflite-to-safetensors writes from a TFLite file) builds the folded network
TFLite runs: conv + bias, ReLU6, TensorFlow SAME padding (stride-2 convs pad
0 before and 1 after on even sizes), and takes the input normalisation from the
file's metadata ((p-128)/128 for the uint8 file).  Without --weights the body
starts from torchvision's random initialisation.
Prints one JSON line per seed and the mean and spread of mAP and best accuracy_multi.
"""
import argparse
import csv
import json
import math
import os
import random
import statistics

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image

from torch_step import fastai_head


def sched_cos(start, end, pos):
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combined_cos(pct, start, middle, end, pos):
    if pos >= pct or pct <= 0:
        return sched_cos(middle, end, (pos - pct) / (1 - pct) if pct < 1 else 1.0)
    return sched_cos(start, middle, pos / pct)


def spread(lo, hi, n):
    if lo is None:
        return [hi / 10] * (n - 1) + [hi]
    if n == 1:
        return [hi]
    step = (hi / lo) ** (1 / (n - 1))
    return [lo * step ** i for i in range(n)]


def load_items(csv_path):
    root = os.path.dirname(os.path.abspath(csv_path))
    img_dir = os.path.join(root, "train") if os.path.isdir(os.path.join(root, "train")) else root
    rows = list(csv.DictReader(open(csv_path, newline="", encoding="utf-8-sig")))
    vocab = sorted({l for r in rows for l in r["labels"].split()})
    items = []
    for r in rows:
        y = np.zeros(len(vocab), np.float32)
        for l in r["labels"].split():
            y[vocab.index(l)] = 1
        items.append((os.path.join(img_dir, r["fname"]), y,
                      r.get("is_valid", "False").strip().lower() in ("true", "1", "yes")))
    return items, vocab


MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def train_tfm(img, size, min_scale, rng, flip):
    w, h = img.size
    for _ in range(10):
        area = rng.uniform(min_scale, 1.0) * w * h
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        nw, nh = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if nw <= w and nh <= h:
            x0, y0 = rng.randint(0, w - nw), rng.randint(0, h - nh)
            break
    else:
        nw = nh = min(w, h)
        x0, y0 = (w - nw) // 2, (h - nh) // 2
    img = img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + nw, y0 + nh))
    if flip and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def valid_tfm(img, size):
    big = size + int(math.ceil(0.14 * size / 8) * 8)
    img = img.resize((big, big), Image.BILINEAR)
    o = (big - size) // 2
    return img.crop((o, o, o + size, o + size))


def to_tensor(imgs, mean=MEAN, std=STD):
    a = np.stack([(np.asarray(i, np.float32) / 255 - mean) / std for i in imgs])
    return torch.from_numpy(a.transpose(0, 3, 1, 2).copy())


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding: total max((ceil(in/s)-1)*s + k - in, 0),
    the smaller half before."""

    def forward(self, x):
        pads = []
        for dim, k, st in ((3, self.kernel_size[1], self.stride[1]),
                           (2, self.kernel_size[0], self.stride[0])):
            n = x.shape[dim]
            total = max((math.ceil(n / st) - 1) * st + k - n, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = nn.functional.pad(x, pads)
        return super().forward(x)


def folded_unit(cin, cout, k, stride, groups, act):
    conv = SameConv2d(cin, cout, k, stride, 0, groups=groups, bias=True)
    return nn.Sequential(conv, nn.ReLU6(inplace=True)) if act else conv


class FoldedBlock(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = []
        if t != 1:
            layers.append(folded_unit(cin, hidden, 1, 1, 1, True))
        layers.append(folded_unit(hidden, hidden, 3, stride, hidden, True))
        layers.append(folded_unit(hidden, cout, 1, 1, 1, False))
        self.conv = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.res else self.conv(x)


def folded_mobilenet_v2():
    """MobileNetV2 1.0 as TFLite files carry it: batch norm folded into conv + bias,
    named as torchvision's convolutions (features.N.conv.M.0.weight / .bias)."""
    setting = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    feats = [nn.Sequential(SameConv2d(3, 32, 3, 2, 0, bias=True), nn.ReLU6(inplace=True))]
    cin = 32
    for t, c, n, s in setting:
        for i in range(n):
            feats.append(FoldedBlock(cin, c, s if i == 0 else 1, t))
            cin = c
    feats.append(nn.Sequential(SameConv2d(cin, 1280, 1, 1, 0, bias=True), nn.ReLU6(inplace=True)))
    return nn.Sequential(*feats)


def make_model(arch, n_out, weights):
    sd = load_safetensors(weights) if weights else None
    if arch == "mobilenet_v2" and sd is not None and "features.0.0.bias" in sd:
        body = folded_mobilenet_v2()
        body.load_state_dict({k[len("features."):]: v for k, v in sd.items()}, strict=True)
        nf = 1280
        groups = [list(body[:10].parameters()), list(body[10:].parameters())]
    elif arch.startswith("resnet"):
        m = getattr(torchvision.models, arch)()
        body = nn.Sequential(*list(m.children())[:-2])
        nf = m.fc.in_features
        if sd is not None:
            m.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc.")},
                              strict=False)
        groups = [list(body[:6].parameters()), list(body[6:].parameters())]
    else:
        m = torchvision.models.mobilenet_v2()
        if sd is not None:
            m.load_state_dict(sd, strict=False)
        body = m.features
        nf = m.last_channel
        groups = [list(body[:10].parameters()), list(body[10:].parameters())]
    head = fastai_head(nf, n_out)
    for mod in head.modules():
        if isinstance(mod, nn.Linear):
            nn.init.kaiming_normal_(mod.weight)
    model = nn.Sequential(body, head)
    groups.append(list(head.parameters()))
    return model, groups


def safetensors_metadata(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def load_safetensors(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], np.float32).reshape(v["shape"])
        out[k[2:] if k.startswith("0.") else k] = torch.from_numpy(arr.copy())
    return out


def is_bn_or_bias(model):
    s = set()
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            s.update(id(p) for p in mod.parameters())
        elif getattr(mod, "bias", None) is not None:
            s.add(id(mod.bias))
    return s


def average_precision(scores, targets):
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], targets[order]
    npos = t.sum()
    if npos == 0:
        return float("nan")
    ap, tp, last_r = 0.0, 0, 0.0
    for i in range(len(s)):
        tp += t[i]
        if i == len(s) - 1 or s[i + 1] != s[i]:
            r = tp / npos
            ap += (r - last_r) * tp / (i + 1)
            last_r = r
    return ap


def run(args, seed, items, vocab):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    train = [it for it in items if not it[2]]
    valid = [it for it in items if it[2]]
    cache = {}

    def image(path):
        if path not in cache:
            cache[path] = Image.open(path).convert("RGB")
        return cache[path]

    model, groups = make_model(args.arch, len(vocab), args.weights)
    mean, std = MEAN, STD
    meta = safetensors_metadata(args.weights) if args.weights else {}
    if "normalization_mean" in meta:
        mean = np.array(json.loads(meta["normalization_mean"]), np.float32)
        std = np.array(json.loads(meta["normalization_std"]), np.float32)
    nodecay = is_bn_or_bias(model)
    bn_ids = {id(p) for mod in model.modules()
              if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)) for p in mod.parameters()}
    pgs = []
    for g in groups:
        pgs.append({"params": [p for p in g if id(p) not in nodecay], "weight_decay": 0.01})
        pgs.append({"params": [p for p in g if id(p) in nodecay], "weight_decay": 0.0})
    opt = torch.optim.AdamW(pgs, lr=1e-3, betas=(0.9, 0.99), eps=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()

    def freeze(frozen):
        for gi, g in enumerate(groups):
            for p in g:
                p.requires_grad_(not frozen or gi == len(groups) - 1 or id(p) in bn_ids)
        # fastai's freeze_to ends with opt.clear_state(): averages and step counts
        opt.state.clear()

    def fit_one_cycle(n_epoch, lrs, pct, div):
        nb = len(train) // args.bs
        total, step = n_epoch * nb, 0
        for _ in range(n_epoch):
            model.train()
            order = list(range(len(train)))
            rng.shuffle(order)
            for b in range(nb):
                idx = order[b * args.bs:(b + 1) * args.bs]
                x = to_tensor([train_tfm(image(train[i][0]), args.size, args.min_scale, rng,
                                         args.aug != "none") for i in idx], mean, std)
                y = torch.from_numpy(np.stack([train[i][1] for i in idx]))
                pos = step / total
                mom = combined_cos(pct, 0.95, 0.85, 0.95, pos)
                for gi, hi in enumerate(lrs):
                    for pg in opt.param_groups[2 * gi:2 * gi + 2]:
                        pg["lr"] = combined_cos(pct, hi / div, hi, hi / 1e5, pos)
                        pg["betas"] = (mom, 0.99)
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                opt.step()
                step += 1

    freeze(True)
    fit_one_cycle(args.freeze_epochs, spread(None, args.lr, 3), 0.99, 25.0)
    lr = args.lr / 2
    freeze(False)
    fit_one_cycle(args.epochs, spread(lr / 100, lr, 3), 0.3, 5.0)

    model.eval()
    probs, targs = [], []
    with torch.no_grad():
        for b in range(0, len(valid), args.bs):
            chunk = valid[b:b + args.bs]
            x = to_tensor([valid_tfm(image(p), args.size) for p, _, _ in chunk], mean, std)
            probs.append(torch.sigmoid(model(x)).numpy())
            targs.append(np.stack([y for _, y, _ in chunk]))
    p, t = np.concatenate(probs), np.concatenate(targs)
    ths = np.linspace(0.05, 0.99, 29)
    accs = [float(((p > np.float32(th)) == (t > 0.5)).mean()) for th in ths]
    aps = [average_precision(p[:, k], t[:, k]) for k in range(len(vocab))]
    return {"seed": seed, "mAP": float(np.nanmean(aps)),
            "accuracy_multi": float(((p > np.float32(args.thresh)) == (t > 0.5)).mean()),
            "accuracy_multi_best": max(accs), "best_thresh": float(ths[int(np.argmax(accs))])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--arch", default="mobilenet_v2")
    ap.add_argument("--weights")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--freeze-epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--min-scale", type=float, default=0.35)
    ap.add_argument("--aug", default="flip", choices=["none", "flip"])
    ap.add_argument("--thresh", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 7, 42])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    items, vocab = load_items(a.csv)
    res = []
    for s in a.seeds:
        r = run(a, s, items, vocab)
        print(json.dumps(r), flush=True)
        res.append(r)
    for k in ("mAP", "accuracy_multi_best"):
        v = [r[k] for r in res]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{k}: mean {statistics.mean(v):.4f}, sd {sd:.4f}, min {min(v):.4f}, "
              f"max {max(v):.4f}")


if __name__ == "__main__":
    main()
