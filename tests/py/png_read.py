"""A PNG reader for the tests (zlib + struct + numpy): checks the signature, every
chunk's CRC, the IHDR, and undoes the five row filters, so a figure the program wrote
is read back as pixels. Only the 8-bit RGB / RGBA the C side writes."""
import struct
import zlib

import numpy as np


def read_png(path):
    """The image as a uint8 array [h, w, channels]; raises ValueError on a bad file."""
    raw = open(path, "rb").read()
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG signature")
    pos, idat, w, h, ch, seen_end = 8, b"", 0, 0, 0, False
    while pos + 12 <= len(raw):
        (n,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, data = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", raw[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + data) != crc:
            raise ValueError(f"{path}: bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", data[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"{path}: expected 8-bit RGB or RGBA, got depth {depth} colour type {color}")
            ch = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += data
        elif kind == b"IEND":
            seen_end = True
        pos += 12 + n
    if not (w and h and seen_end):
        raise ValueError(f"{path}: missing IHDR or IEND")
    stride = ch * w
    data = np.frombuffer(zlib.decompress(idat), np.uint8)
    if data.size != h * (stride + 1):
        raise ValueError(f"{path}: {data.size} bytes of image data, expected {h * (stride + 1)}")
    rows = data.reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if f == 0:
            row = line
        elif f == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(w, ch), axis=0).reshape(-1) & 255
        elif f == 2:
            row = (line + prev) & 255
        elif f in (3, 4):  # Average, Paeth: sequential along the row (plain ints are fastest)
            ln, up, r = line.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = r[i - ch] if i >= ch else 0
                b = up[i]
                if f == 3:
                    r[i] = (ln[i] + ((a + b) >> 1)) & 255
                else:
                    c = up[i - ch] if i >= ch else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    r[i] = (ln[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = np.array(r, np.int32)
        else:
            raise ValueError(f"{path}: row {y} has filter type {f}")
        out[y] = row
        prev = row.astype(np.int32)
    return out.reshape(h, w, ch)
