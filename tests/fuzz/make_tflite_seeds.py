#!/usr/bin/env python3
"""Writes tiny TFLite files into tests/fuzz/seeds/tflite/ (pip install flatbuffers).

The real MobileNetV2 files are 3.6 MB: too big to commit and slow to mutate.
These have the same structure in miniature: a uint8 per-tensor quantized
CONV_2D, an int8 per-channel DEPTHWISE_CONV_2D, an ADD and a float16 tensor,
built with the flatbuffers Builder from TFLite's schema field numbers.
"""
import os
import struct

import flatbuffers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "tflite")


def vec(b, kind, items):
    size = {"int": 4, "float": 4, "long": 8, "ubyte": 1}[kind]
    b.StartVector(size, len(items), size)
    for v in reversed(items):
        {"int": b.PrependInt32, "float": b.PrependFloat32, "long": b.PrependInt64,
         "ubyte": b.PrependUint8}[kind](v)
    return b.EndVector()


def offsets(b, offs):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def quant(b, scales, zps, dim=0):
    s, z = vec(b, "float", scales), vec(b, "long", zps)
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(2, s, 0)
    b.PrependUOffsetTRelativeSlot(3, z, 0)
    b.PrependInt32Slot(6, dim, 0)
    return b.EndObject()


def tensor(b, name, shape, ttype, buf, q=None):
    n, sh = b.CreateString(name), vec(b, "int", shape)
    b.StartObject(6)
    b.PrependUOffsetTRelativeSlot(0, sh, 0)
    b.PrependInt8Slot(1, ttype, 0)
    b.PrependUint32Slot(2, buf, 0)
    b.PrependUOffsetTRelativeSlot(3, n, 0)
    if q is not None:
        b.PrependUOffsetTRelativeSlot(4, q, 0)
    return b.EndObject()


def conv_options(b, depthwise):
    if depthwise:
        b.StartObject(5)
        b.PrependInt8Slot(0, 0, 0)       # SAME
        b.PrependInt32Slot(1, 1, 0)
        b.PrependInt32Slot(2, 1, 0)
        b.PrependInt32Slot(3, 1, 0)      # depth_multiplier
        b.PrependInt8Slot(4, 3, 0)       # RELU6
    else:
        b.StartObject(6)
        b.PrependInt8Slot(0, 0, 0)
        b.PrependInt32Slot(1, 2, 0)
        b.PrependInt32Slot(2, 2, 0)
        b.PrependInt8Slot(3, 3, 0)
    return b.EndObject()


def operator(b, opcode, ins, outs, opt_type=0, opt=None):
    i, o = vec(b, "int", ins), vec(b, "int", outs)
    b.StartObject(6)
    b.PrependUint32Slot(0, opcode, 0)
    b.PrependUOffsetTRelativeSlot(1, i, 0)
    b.PrependUOffsetTRelativeSlot(2, o, 0)
    if opt is not None:
        b.PrependUint8Slot(3, opt_type, 0)
        b.PrependUOffsetTRelativeSlot(4, opt, 0)
    return b.EndObject()


def opcode(b, code):
    b.StartObject(4)
    b.PrependInt8Slot(0, min(code, 127), 0)
    b.PrependInt32Slot(2, 1, 0)
    b.PrependInt32Slot(3, code, 0)
    return b.EndObject()


def buffer(b, data):
    d = vec(b, "ubyte", list(data)) if data else None
    b.StartObject(1)
    if d is not None:
        b.PrependUOffsetTRelativeSlot(0, d, 0)
    return b.EndObject()


def model(path, with_f16):
    b = flatbuffers.Builder(1024)
    bufs = [buffer(b, b""),
            buffer(b, bytes(range(2 * 3 * 3 * 3))),                  # conv weights u8
            buffer(b, struct.pack("<2i", 100, -100)),                # conv bias i32
            buffer(b, bytes((i * 7) & 255 for i in range(3 * 3 * 2))),  # dw weights i8
            buffer(b, struct.pack("<2i", 5, 6)),
            buffer(b, struct.pack("<4e", 0.5, -1.0, 2.0, 0.0))]      # float16
    tensors = [
        tensor(b, "input", [1, 8, 8, 3], 3, 0, quant(b, [1 / 128], [128])),
        tensor(b, "conv/w", [2, 3, 3, 3], 3, 1, quant(b, [0.02], [120])),
        tensor(b, "conv/b", [2], 2, 2, quant(b, [0.0002], [0])),
        tensor(b, "conv/out", [1, 4, 4, 2], 3, 0, quant(b, [0.05], [0])),
        tensor(b, "dw/w", [1, 3, 3, 2], 9, 3, quant(b, [0.01, 0.03], [0, 0], 3)),
        tensor(b, "dw/b", [2], 2, 4, quant(b, [0.001, 0.002], [0, 0])),
        tensor(b, "dw/out", [1, 4, 4, 2], 3, 0, quant(b, [0.05], [0])),
        tensor(b, "add/out", [1, 4, 4, 2], 3, 0, quant(b, [0.1], [0])),
    ]
    if with_f16:
        tensors.append(tensor(b, "half", [4], 1, 5))
    ops = [operator(b, 0, [0, 1, 2], [3], 1, conv_options(b, False)),
           operator(b, 1, [3, 4, 5], [6], 2, conv_options(b, True)),
           operator(b, 2, [3, 6], [7])]
    t, o = offsets(b, tensors), offsets(b, ops)
    ins, outs, name = vec(b, "int", [0]), vec(b, "int", [7]), b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, t, 0)
    b.PrependUOffsetTRelativeSlot(1, ins, 0)
    b.PrependUOffsetTRelativeSlot(2, outs, 0)
    b.PrependUOffsetTRelativeSlot(3, o, 0)
    b.PrependUOffsetTRelativeSlot(4, name, 0)
    sg = b.EndObject()
    codes = offsets(b, [opcode(b, 3), opcode(b, 4), opcode(b, 0)])
    sgs, bv, desc = offsets(b, [sg]), offsets(b, bufs), b.CreateString("tagsight fuzz seed")
    b.StartObject(5)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, codes, 0)
    b.PrependUOffsetTRelativeSlot(2, sgs, 0)
    b.PrependUOffsetTRelativeSlot(3, desc, 0)
    b.PrependUOffsetTRelativeSlot(4, bv, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    with open(path, "wb") as f:
        f.write(b.Output())


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    model(os.path.join(OUT, "conv-dw-add.tflite"), False)
    model(os.path.join(OUT, "with-f16.tflite"), True)
