#!/usr/bin/python3
"""The PyTorch side of `tagsight-cli bench`: the same training step
(torchvision body + fastai's head, BCEWithLogits, Adam with decoupled weight
decay 0.01, betas (0.9, 0.99), eps 1e-5) and inference on the same shapes of
random data, timed the same way (median of the timed steps after warm-up).

Run with Debian's PyTorch: /usr/bin/python3 bench/torch_step.py --arch resnet18 --threads 2
Prints a human summary and one JSON line like tagsight-cli bench.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torchvision


class AdaptiveConcatPool2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.mp = nn.AdaptiveMaxPool2d(1)
        self.ap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return torch.cat([self.mp(x), self.ap(x)], 1)


def fastai_head(nf, n_out):
    return nn.Sequential(
        AdaptiveConcatPool2d(), nn.Flatten(),
        nn.BatchNorm1d(2 * nf), nn.Dropout(0.25), nn.Linear(2 * nf, 512, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, n_out, bias=False))


def make_model(arch, n_out):
    if arch.startswith("resnet"):
        m = getattr(torchvision.models, arch)()
        body = nn.Sequential(*list(m.children())[:-2])
        nf = m.fc.in_features
    elif arch == "mobilenet_v2":
        m = torchvision.models.mobilenet_v2()
        body = m.features
        nf = m.last_channel
    else:
        raise SystemExit(f"unknown arch {arch}")
    return nn.Sequential(body, fastai_head(nf, n_out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = make_model(a.arch, a.classes)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.99), eps=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.randn(a.bs, 3, a.size, a.size)
    y = (torch.rand(a.bs, a.classes) < 0.1).float()

    model.train()
    t_train, c_train = [], []
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            t_train.append(time.perf_counter() - t0)
            c_train.append(time.process_time() - c0)

    model.eval()
    t_inf, c_inf = [], []
    with torch.no_grad():
        for i in range(a.warmup + a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            model(x)
            if i >= a.warmup:
                t_inf.append(time.perf_counter() - t0)
                c_inf.append(time.process_time() - c0)

    tt, ti = statistics.median(t_train), statistics.median(t_inf)
    ct, ci = statistics.median(c_train), statistics.median(c_inf)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {torch.__version__}: {a.arch} + fastai head, batch {a.bs}, {a.size} px, "
          f"{a.threads} threads")
    print(f"training:  {a.bs / tt:.1f} images/s (median step {tt:.3f} s, {ct:.3f} CPU s)")
    print(f"inference: {a.bs / ti:.1f} images/s (median batch {ti:.3f} s, {ci:.3f} CPU s)")
    print(f"peak memory: {peak:.0f} MiB (maxrss)")
    print(json.dumps({"impl": "torch", "arch": a.arch, "bs": a.bs, "size": a.size,
                      "threads": a.threads, "train_images_per_s": round(a.bs / tt, 2),
                      "infer_images_per_s": round(a.bs / ti, 2), "peak_mib": round(peak, 1),
                      "train_cpu_s": round(ct, 3), "infer_cpu_s": round(ci, 3)}))


if __name__ == "__main__":
    main()
