#!/usr/bin/env python3
"""Writes the small .npz files under tests/fixtures/npz/ the way numpy.savez and
numpy.savez_compressed lay them out (zip entries opened with force_zip64=True, .npy format
1.0 headers padded to 64 bytes), using only the standard library so it runs where NumPy is
absent. The arrays mimic a published MEMIT/ROME statistics file: the raw sum mom2.mom2, the
count mom2.count and a string entry the reader must skip.

  python3 tests/tools/make_npz_fixtures.py   # rewrites tests/fixtures/npz/*.npz
"""
import os
import struct
import zipfile

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "npz")


def npy(descr, shape, payload, fortran=False):
    if len(shape) == 1:
        shape_text = f"({shape[0]},)"
    else:
        shape_text = "(" + ", ".join(str(d) for d in shape) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload


def write(name, arrays, compression):
    os.makedirs(OUT, exist_ok=True)
    with zipfile.ZipFile(os.path.join(OUT, name), "w", compression=compression, allowZip64=True) as z:
        for key, data in arrays:
            with z.open(key + ".npy", "w", force_zip64=True) as f:
                f.write(data)


def main():
    d = 4
    mom2 = [0.5 * i for i in range(d * d)]  # row-major sum matrix, float32
    arrays = [
        ("mom2.mom2", npy("<f4", (d, d), struct.pack(f"<{d * d}f", *mom2))),
        ("mom2.count", npy("<i8", (), struct.pack("<q", 1234))),
        ("constructor", npy("<U20", (), "CombinedStat(mom2)  ".encode("utf-32-le"))),
    ]
    write("transformer.h.3.mlp.c_proj_float32_mom2_100.npz", arrays, zipfile.ZIP_STORED)
    write("model.layers.7.mlp.down_proj_float32_mom2_100.npz", arrays, zipfile.ZIP_DEFLATED)
    # Fortran order, float64: the column-major bytes of the same matrix.
    col = [mom2[r * d + c] for c in range(d) for r in range(d)]
    fortran = [("mom2.mom2", npy("<f8", (d, d), struct.pack(f"<{d * d}d", *col), fortran=True)),
               ("mom2.count", npy("<i8", (), struct.pack("<q", 1234)))]
    write("fortran.npz", fortran, zipfile.ZIP_STORED)


if __name__ == "__main__":
    main()
