#!/usr/bin/env python3
"""Parity checks run by tests/interchange/test-onnx.c (each exits 77 to skip).

  parity.py onnx MODEL.onnx INPUT.bin PROBS.bin [LOGITS.bin]
      onnx.checker (full check), the metadata_props, then ONNX Runtime's
      probabilities and logits against Tagsight's (PROBS.bin) on the same
      preprocessed input (INPUT.bin, float32 [N,3,H,W]).  Needs onnx and
      onnxruntime (pip).  With LOGITS.bin the logits are compared too, relative
      to the largest one (untrained networks saturate the sigmoid).
  parity.py torch MODEL.safetensors INPUT.bin PROBS.bin
      the Tagsight model file loaded into the torchvision architecture with
      fastai's head (strict load_state_dict), eval mode, against PROBS.bin.
      Needs torch + torchvision (/usr/bin/python3 on Debian).
  parity.py preprocess META.json INPUT.bin IMAGE...
      the preprocessing written in the ONNX metadata_props (META.json: the
      key/value pairs as read back by protobuf-c), redone with PIL + numpy
      from the images, against Tagsight's INPUT.bin; also reports how far
      torchvision's Resize + CenterCrop is (not asserted: it antialiases).
      For PNG inputs (identical pixels on both sides) the bound is rounding
      (0.01 levels); for JPEGs it is loose, as PIL's libjpeg and TurboJPEG
      may decode differently (mean 3 levels, largest 64).
  parity.py topng IN.jpg OUT.png ...
      lossless PNG copies, so that both sides preprocess the same pixels.

All comparisons print their largest difference; tolerance 1e-4.
"""
import json
import struct
import sys

import numpy as np

SKIP = 77
TOL = 1e-4


def read_f32(path, shape=None):
    a = np.fromfile(path, dtype="<f4")
    return a.reshape(shape) if shape else a


def report(what, got, want, tol=TOL):
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    print("%s: largest difference %.3g (tolerance %.1g)" % (what, diff, tol))
    if not diff <= tol:
        sys.exit("%s: difference %.3g above %.1g" % (what, diff, tol))


def check_onnx(model, input_bin, probs_bin, logits_bin=None):
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        print("skip: %s" % e)
        sys.exit(SKIP)
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    meta = {p.key: p.value for p in m.metadata_props}
    for key in ("input_size", "normalization", "resize", "vocab", "threshold", "preprocessing"):
        if key not in meta:
            sys.exit("metadata_props lack %s" % key)
    h, w = json.loads(meta["input_size"])
    vocab = json.loads(meta["vocab"])
    norm = json.loads(meta["normalization"])
    assert len(norm["mean"]) == 3 and len(norm["std"]) == 3
    assert 0.0 <= float(meta["threshold"]) <= 1.0
    print("checker ok; opset %d; %d classes; input %dx%d; %s"
          % (m.opset_import[0].version, len(vocab), h, w, meta["resize"]))
    x = read_f32(input_bin).reshape(-1, 3, h, w)
    want = read_f32(probs_bin).reshape(x.shape[0], len(vocab))
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, {"input": x})))
    report("ONNX Runtime probabilities vs Tagsight", out["probabilities"], want)
    report("sigmoid(ONNX Runtime logits) vs Tagsight", 1 / (1 + np.exp(-out["logits"])), want)
    if logits_bin:
        # untrained networks saturate the sigmoid: compare the logits, relative to their size
        want_l = read_f32(logits_bin).reshape(want.shape)
        scale = max(1e-30, float(np.max(np.abs(want_l))))
        print("logits up to %.3g in magnitude" % scale)
        report("ONNX Runtime logits / scale vs Tagsight", out["logits"] / scale, want_l / scale)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"])
    return tensors, meta


def fastai_model(arch, n_classes):
    """torchvision's ARCH as "0" (its own names) and fastai 2.7's create_head as "1"."""
    import torch
    import torch.nn as nn
    import torchvision

    class AdaptiveConcatPool2d(nn.Module):
        def forward(self, x):
            return torch.cat([nn.functional.adaptive_max_pool2d(x, 1),
                              nn.functional.adaptive_avg_pool2d(x, 1)], 1)

    body = getattr(torchvision.models, arch)(weights=None)
    if arch.startswith("resnet"):
        nf = body.fc.in_features
        del body.fc
    else:
        nf = body.classifier[1].in_features
        del body.classifier
    head = nn.Sequential(
        AdaptiveConcatPool2d(), nn.Flatten(),
        nn.BatchNorm1d(2 * nf), nn.Dropout(0.25), nn.Linear(2 * nf, 512, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, n_classes, bias=False))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module("0", body)
            self.add_module("1", head)

        def forward(self, x):
            b = self._modules["0"]
            if arch.startswith("resnet"):
                x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
                x = b.layer4(b.layer3(b.layer2(b.layer1(x))))
            else:
                x = b.features(x)
            return self._modules["1"](x)

    return Model()


def check_torch(model_file, input_bin, probs_bin):
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as e:
        print("skip: %s" % e)
        sys.exit(SKIP)
    tensors, meta = read_safetensors(model_file)
    vocab = json.loads(meta["vocab"])
    net = fastai_model(meta["arch"], len(vocab))
    sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    for k, v in net.state_dict().items():
        if k in sd:
            sd[k] = sd[k].to(v.dtype).reshape(v.shape)
    net.load_state_dict(sd, strict=True)
    net.eval()
    size = json.loads(meta["input_size"])
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.from_numpy(read_f32(input_bin).reshape(-1, 3, h, w))
    with torch.no_grad():
        probs = torch.sigmoid(net(x)).numpy()
    want = read_f32(probs_bin).reshape(probs.shape)
    report("PyTorch (torchvision %s + fastai head) vs Tagsight" % meta["arch"], probs, want)


def reference_preprocess(img, meta):
    """The ONNX metadata's rule, literally: one bilinear resample of the crop box."""
    h, w = json.loads(meta["input_size"])
    resize = json.loads(meta["resize"])
    norm = json.loads(meta["normalization"])
    s = resize["squish_to"][0]
    src = np.asarray(img, dtype=np.float32)
    sh, sw = src.shape[:2]
    off = (s - h) // 2
    x0, y0 = off * sw / s, off * sh / s
    bw, bh = h * sw / s, h * sh / s
    xs = np.clip(x0 + (np.arange(w) + 0.5) * bw / w - 0.5, 0, sw - 1)
    ys = np.clip(y0 + (np.arange(h) + 0.5) * bh / h - 0.5, 0, sh - 1)
    ix0, iy0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    ix1, iy1 = np.minimum(ix0 + 1, sw - 1), np.minimum(iy0 + 1, sh - 1)
    fx, fy = (xs - ix0)[None, :, None], (ys - iy0)[:, None, None]
    top = src[iy0][:, ix0] + fx * (src[iy0][:, ix1] - src[iy0][:, ix0])
    bot = src[iy1][:, ix0] + fx * (src[iy1][:, ix1] - src[iy1][:, ix0])
    v = (top + fy * (bot - top)) / 255.0
    v = (v - np.array(norm["mean"])) / np.array(norm["std"])
    return v.transpose(2, 0, 1).astype(np.float32)


def check_preprocess(meta_json, input_bin, images):
    try:
        from PIL import Image
    except ImportError as e:
        print("skip: %s" % e)
        sys.exit(SKIP)
    with open(meta_json) as f:
        meta = json.load(f)
    h, w = json.loads(meta["input_size"])
    ours = read_f32(input_bin).reshape(-1, 3, h, w)
    ref = np.stack([reference_preprocess(Image.open(p).convert("RGB"), meta) for p in images])
    std = np.array(json.loads(meta["normalization"])["std"], dtype=np.float32)
    # in [0, 255] pixel units: a JPEG decoded by PIL's libjpeg and by TurboJPEG
    # may differ by a level or two; for the same decoded pixels it is rounding only
    diff = np.abs(ours - ref) * std[None, :, None, None] * 255
    print("PIL + numpy reference of the metadata rule vs Tagsight: largest %.3g, mean %.3g "
          "(pixel levels)" % (diff.max(), diff.mean()))
    if all(p.lower().endswith(".png") for p in images):
        ok = diff.max() <= 0.01
    else:
        ok = diff.mean() <= 3.0 and diff.max() <= 64.0
    if not ok:
        sys.exit("preprocessing differs from the documented rule")
    try:
        import torch
        import torchvision.transforms as T
    except ImportError:
        return
    s = json.loads(meta["resize"])["squish_to"][0]
    norm = json.loads(meta["normalization"])
    tf = T.Compose([T.Resize((s, s)), T.CenterCrop((h, w)), T.ToTensor(),
                    T.Normalize(norm["mean"], norm["std"])])
    tv = torch.stack([tf(Image.open(p).convert("RGB")) for p in images]).numpy()
    d = np.abs(ours - tv) * std[None, :, None, None] * 255
    print("torchvision Resize((%d, %d)) + CenterCrop + Normalize vs Tagsight: largest %.3g, "
          "mean %.3g pixel levels (torchvision's PIL resize antialiases; Tagsight samples "
          "bilinearly once)" % (s, s, d.max(), d.mean()))


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "onnx":
        check_onnx(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "torch":
        check_torch(*sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "topng" and len(sys.argv) % 2 == 0:
        try:
            from PIL import Image
        except ImportError as e:
            print("skip: %s" % e)
            sys.exit(SKIP)
        for a, b in zip(sys.argv[2::2], sys.argv[3::2]):
            Image.open(a).convert("RGB").save(b)
    elif len(sys.argv) >= 5 and sys.argv[1] == "preprocess":
        check_preprocess(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
