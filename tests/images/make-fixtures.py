#!/usr/bin/python3
"""Writes the small image fixtures of tests/images (run with Debian's python3 + PIL).

Every picture is a grid of 8x8 solid blocks so that JPEG loss stays small at
block centres; test-image.c knows the same colours.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np

from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'images')

# 4 x 2 blocks of 8 px: an asymmetric pattern, so every orientation differs.
COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (230, 230, 40),
           (40, 220, 220), (220, 40, 220), (250, 250, 250), (20, 20, 20)]


def pattern():
    im = Image.new('RGB', (32, 16))
    for i, c in enumerate(COLOURS):
        bx, by = i % 4, i // 4
        im.paste(c, (bx * 8, by * 8, bx * 8 + 8, by * 8 + 8))
    return im


def png16_rgb(a):
    """A 16-bit RGB PNG written by hand (PIL cannot write one)."""
    h, w, _ = a.shape
    raw = b''.join(b'\x00' + a[y].astype('>u2').tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def main():
    os.makedirs(OUT, exist_ok=True)
    p = pattern()
    p.save(os.path.join(OUT, 'rgb.jpg'), quality=95, subsampling=0)
    p.save(os.path.join(OUT, 'rgb.png'))
    p.convert('L').save(os.path.join(OUT, 'gray.jpg'), quality=95)
    p.convert('L').save(os.path.join(OUT, 'gray.png'))
    p.convert('CMYK').save(os.path.join(OUT, 'cmyk.jpg'), quality=95)
    p.convert('P', palette=Image.ADAPTIVE, colors=8).save(os.path.join(OUT, 'palette.png'))
    rgba = p.convert('RGBA')
    rgba.putalpha(Image.new('L', p.size, 128))
    rgba.save(os.path.join(OUT, 'rgba.png'))

    la = p.convert('LA')
    la.putalpha(Image.new('L', p.size, 200))
    la.save(os.path.join(OUT, 'gray-alpha.png'))
    # 16 bits a sample: grey levels scaled to 0..65535
    g16 = Image.fromarray((np.asarray(p.convert('L'), dtype=np.uint16) * 257).astype('<u2'))
    g16.save(os.path.join(OUT, 'gray16.png'))
    rgb16 = png16_rgb(np.asarray(p, dtype=np.uint16) * 257)
    open(os.path.join(OUT, 'rgb16.png'), 'wb').write(rgb16)

    inverse = {1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180,
               4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE, 6: Image.ROTATE_90,
               7: Image.TRANSVERSE, 8: Image.ROTATE_270}
    for o, op in inverse.items():
        stored = p if op is None else p.transpose(op)
        exif = Image.Exif()
        exif[0x0112] = o
        path = os.path.join(OUT, 'exif-%d.jpg' % o)
        stored.save(path, quality=95, subsampling=0, exif=exif.tobytes())
        if o == 6:
            stored.save(os.path.join(OUT, 'exif-6.png'), exif=exif.tobytes())
        back = ImageOps.exif_transpose(Image.open(path)).convert('RGB')
        assert back.size == p.size, (o, back.size)
        for i, c in enumerate(COLOURS):
            px = back.getpixel(((i % 4) * 8 + 4, (i // 4) * 8 + 4))
            assert max(abs(a - b) for a, b in zip(px, c)) < 12, (o, i, px, c)

    # A bigger JPEG cut in the middle of its entropy-coded data, one with
    # garbage in place of its scan, and broken PNGs.
    big = Image.new('RGB', (96, 64))
    for y in range(64):
        for x in range(96):
            big.putpixel((x, y), ((x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256))
    buf = io.BytesIO()
    big.save(buf, 'JPEG', quality=90)
    data = buf.getvalue()
    open(os.path.join(OUT, 'truncated.jpg'), 'wb').write(data[:len(data) * 2 // 3])
    sos = data.index(b'\xff\xda')
    corrupt = bytearray(data)
    for i in range(sos + 20, len(data) - 2):
        corrupt[i] = (i * 37 + 11) % 256 if (i * 37 + 11) % 256 != 0xFF else 0x00
    corrupt = bytes(corrupt[:sos + 20]) + bytes([0xFF, 0xD0]) + bytes(corrupt[sos + 20:])
    open(os.path.join(OUT, 'corrupt.jpg'), 'wb').write(corrupt)
    open(os.path.join(OUT, 'header-only.jpg'), 'wb').write(data[:sos])
    buf = io.BytesIO()
    big.save(buf, 'PNG')
    data = buf.getvalue()
    open(os.path.join(OUT, 'truncated.png'), 'wb').write(data[:len(data) // 2])
    idat = data.index(b'IDAT')
    bad = bytearray(data)
    bad[idat + 10] ^= 0x55  # IDAT CRC no longer matches: libpng refuses
    open(os.path.join(OUT, 'corrupt.png'), 'wb').write(bytes(bad))
    open(os.path.join(OUT, 'not-an-image.jpg'), 'wb').write(b'fname,labels\nthis is text\n')


if __name__ == '__main__':
    sys.exit(main())
