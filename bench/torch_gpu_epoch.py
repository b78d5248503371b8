#!/usr/bin/env python3
"""The PyTorch side of the end-to-end epoch benchmark: what a PyTorch user
writes for speed.  A DataLoader with worker processes decoding the JPEGs
(PIL), RandomResizedCrop(size, scale=(0.35, 1)) + horizontal flip for
training and a squish to size*1.19 + centre crop for validation (fastai's
item transforms), pinned memory, the torchvision body + fastai's head in
channels_last with bf16 autocast, BCEWithLogits and AdamW; each epoch is one
pass over the training set and one over the validation set (predictions
gathered), timed from the first batch requested to the last prediction.

  python3 bench/torch_gpu_epoch.py DIR/train.csv --arch resnet50 --epochs 2 --workers 16
"""
import argparse
import csv
import json
import os
import time

import torch
import torch.nn as nn
import torchvision.transforms as T
from PIL import Image

from torch_step import make_model


class CsvSet(torch.utils.data.Dataset):
    def __init__(self, rows, folder, vocab, tfm):
        self.rows, self.folder, self.vocab, self.tfm = rows, folder, vocab, tfm

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        fname, labels = self.rows[i]
        im = Image.open(os.path.join(self.folder, fname)).convert("RGB")
        y = torch.zeros(len(self.vocab))
        for l in labels.split():
            y[self.vocab[l]] = 1
        return self.tfm(im), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--amp", choices=["none", "bf16"], default="bf16")
    a = ap.parse_args()

    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    folder = os.path.join(os.path.dirname(a.csv), "train")
    vocab = {l: i for i, l in enumerate(sorted({l for r in rows for l in r["labels"].split()}))}
    train = [(r["fname"], r["labels"]) for r in rows if r["is_valid"] != "True"]
    valid = [(r["fname"], r["labels"]) for r in rows if r["is_valid"] == "True"]
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    ttf = T.Compose([T.RandomResizedCrop(a.size, scale=(0.35, 1.0)), T.RandomHorizontalFlip(),
                     T.ToTensor(), norm])
    vtf = T.Compose([T.Resize((int(a.size * 1.19), int(a.size * 1.19))), T.CenterCrop(a.size),
                     T.ToTensor(), norm])
    kw = dict(batch_size=a.bs, num_workers=a.workers, pin_memory=True,
              persistent_workers=a.workers > 0)
    tdl = torch.utils.data.DataLoader(CsvSet(train, folder, vocab, ttf), shuffle=True,
                                      drop_last=True, **kw)
    vdl = torch.utils.data.DataLoader(CsvSet(valid, folder, vocab, vtf), **kw)

    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = make_model(a.arch, len(vocab)).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5,
                            weight_decay=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    amp = a.amp == "bf16"
    times = []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        for x, y in tdl:
            x = x.to(dev, non_blocking=True).to(memory_format=torch.channels_last)
            y = y.to(dev, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
        model.eval()
        preds = []
        with torch.no_grad():
            for x, y in vdl:
                x = x.to(dev, non_blocking=True).to(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    preds.append(torch.sigmoid(model(x).float()).cpu())
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"epoch {ep}: {times[-1]:.2f} s ({len(train)} training, {len(valid)} validation "
              f"images)", flush=True)
    print(json.dumps({"impl": "torch", "arch": a.arch, "bs": a.bs, "size": a.size,
                      "workers": a.workers, "amp": a.amp, "epoch_s": [round(t, 3) for t in times]}))


if __name__ == "__main__":
    main()
