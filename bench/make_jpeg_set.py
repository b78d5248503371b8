#!/usr/bin/env python3
"""Writes a multi-label JPEG data set shaped like the chapter's PASCAL VOC 2007
for the end-to-end epoch benchmark: N_TRAIN + N_VALID JPEGs of 500x333 (VOC's
typical size) in DIR/train/, DIR/train.csv as fname,labels,is_valid with 20
classes.  Each image is a smooth random background with 1-3 filled shapes
whose colour and shape give its labels, so the files decode like photos (not
flat colour) and a model has something to learn.  Uses every core (PIL).

  python3 bench/make_jpeg_set.py DIR [--train 2501] [--valid 2510] [--seed 1]

(tagsight-cli demo-data draws with Cairo on one core: about 40 ms an image, too
slow for 5,011 images inside a short GPU session.)
"""
import argparse
import multiprocessing
import os
import random

from PIL import Image, ImageDraw, ImageFilter

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
           "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
           "sheep", "sofa", "train", "tvmonitor"]
W, H = 500, 333


def one(args):
    out, i, seed = args
    r = random.Random(seed * 1000003 + i)
    small = Image.new("RGB", (25, 17))
    small.putdata([(r.randrange(256), r.randrange(256), r.randrange(256)) for _ in range(25 * 17)])
    im = small.resize((W, H), Image.BICUBIC)
    d = ImageDraw.Draw(im)
    labels = sorted(set(r.randrange(len(CLASSES)) for _ in range(r.randint(1, 3))))
    for k in labels:
        x, y, s = r.randrange(W - 120), r.randrange(H - 120), r.randint(50, 120)
        col = ((k * 53) % 256, (k * 97) % 256, (k * 151) % 256)
        if k % 3 == 0:
            d.ellipse([x, y, x + s, y + s], fill=col)
        elif k % 3 == 1:
            d.rectangle([x, y, x + s, y + s], fill=col)
        else:
            d.polygon([(x, y + s), (x + s // 2, y), (x + s, y + s)], fill=col)
    im = im.filter(ImageFilter.GaussianBlur(0.6))
    name = f"{i:05d}.jpg"
    im.save(os.path.join(out, "train", name), quality=90)
    return name, " ".join(CLASSES[k] for k in labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--train", type=int, default=2501)
    ap.add_argument("--valid", type=int, default=2510)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.dir, "train"), exist_ok=True)
    n = a.train + a.valid
    with multiprocessing.Pool() as pool:
        rows = pool.map(one, [(a.dir, i, a.seed) for i in range(n)], chunksize=32)
    with open(os.path.join(a.dir, "train.csv"), "w") as f:
        f.write("fname,labels,is_valid\n")
        for i, (name, labels) in enumerate(rows):
            f.write(f"{name},{labels},{'True' if i >= a.train else 'False'}\n")
    print(f"wrote {a.train} training and {a.valid} validation JPEGs of {W}x{H} to {a.dir}")


if __name__ == "__main__":
    main()
