#!/usr/bin/python3
"""The PyTorch side of `tagsight-cli bench`: the same training step
(torchvision body + fastai's head, BCEWithLogits, Adam with decoupled weight
decay 0.01, betas (0.9, 0.99), eps 1e-5) and inference on the same shapes of
random data, timed the same way (median of the timed steps after warm-up).

Run with Debian's PyTorch: /usr/bin/python3 bench/torch_step.py --arch resnet18 --threads 2
On a GPU: --device cuda [--channels-last] [--amp bf16|fp16] [--tf32 off|conv|all] (what
PyTorch users run for speed: channels_last memory format and autocast).
Prints a human summary and one JSON line like tagsight-cli bench.
"""
import contextlib
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    ap.add_argument("--tf32", choices=["off", "conv", "all"], default="conv",
                    help="TF32 tensor cores: conv is PyTorch's default (cuDNN yes, matmul no)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "all"
        torch.backends.cudnn.allow_tf32 = a.tf32 != "off"
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = make_model(a.arch, a.classes).to(dev, memory_format=fmt)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.amp)
    autocast = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if amp_dtype \
        else contextlib.nullcontext
    scaler = torch.cuda.amp.GradScaler() if a.amp == "fp16" else None
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.99), eps=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.randn(a.bs, 3, a.size, a.size).to(dev, memory_format=fmt)
    y = (torch.rand(a.bs, a.classes) < 0.1).float().to(dev)

    model.train()
    t_train, c_train = [], []
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(x).float(), y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        loss.item()  # a training loop reads the loss every step, as ours does
        sync()
        if i >= a.warmup:
            t_train.append(time.perf_counter() - t0)
            c_train.append(time.process_time() - c0)

    model.eval()
    t_inf, c_inf = [], []
    with torch.no_grad():
        for i in range(a.warmup + a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            with autocast():
                model(x)
            sync()
            if i >= a.warmup:
                t_inf.append(time.perf_counter() - t0)
                c_inf.append(time.process_time() - c0)

    tt, ti = statistics.median(t_train), statistics.median(t_inf)
    ct, ci = statistics.median(c_train), statistics.median(c_inf)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    where = (f"{torch.cuda.get_device_name(dev)}, "
             f"{'channels_last' if a.channels_last else 'NCHW'}, amp {a.amp}, "
             f"tf32 {a.tf32}") if gpu else f"{a.threads} threads"
    print(f"torch {torch.__version__}: {a.arch} + fastai head, batch {a.bs}, {a.size} px, {where}")
    print(f"training:  {a.bs / tt:.1f} images/s (median step {tt:.3f} s, {ct:.3f} CPU s)")
    print(f"inference: {a.bs / ti:.1f} images/s (median batch {ti:.3f} s, {ci:.3f} CPU s)")
    print(f"peak memory: {peak:.0f} MiB (maxrss)")
    if gpu:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB allocated")
    print(json.dumps({"impl": "torch", "device": a.device, "amp": a.amp,
                      "channels_last": a.channels_last, "tf32": a.tf32, "arch": a.arch, "bs": a.bs, "size": a.size,
                      "threads": a.threads, "train_images_per_s": round(a.bs / tt, 2),
                      "infer_images_per_s": round(a.bs / ti, 2), "peak_mib": round(peak, 1),
                      "train_cpu_s": round(ct, 3), "infer_cpu_s": round(ci, 3)}))


if __name__ == "__main__":
    main()
