"""Peers for `cargo xtask bench`, on the same 1024x1024 PNG the Rust bench wrote:
- Pillow's LANCZOS resize 1024^2 -> 2048^2;
- libvips (pyvips) lanczos3 resize, evaluated into memory;
- rembg's u2netp pipeline in Python onnxruntime: resize to 320^2 (LANCZOS), normalise, run, min-max
  the first output, resize the mask back (LANCZOS) -- what rembg.remove() does to get the mask.
Prints one JSON object with the medians. Usage: peers.py <input.png> <u2netp.onnx> [runs]"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
import pyvips
from PIL import Image


def timed(runs, f):
    f()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main():
    path, model = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    img = Image.open(path).convert("RGB")
    img.load()
    pillow = timed(runs, lambda: img.resize((2048, 2048), Image.LANCZOS))
    vimg = pyvips.Image.new_from_file(path, access="random").copy_memory()
    vips = timed(runs, lambda: vimg.resize(2.0, kernel="lanczos3").write_to_memory())
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])

    def rembg_mask():
        small = np.array(img.resize((320, 320), Image.LANCZOS)) / 255.0
        x = ((small - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        pred = sess.run(None, {name: x})[0][0, 0]
        pred = (pred - pred.min()) / (pred.max() - pred.min() + 1e-8)
        mask = Image.fromarray((pred * 255).astype(np.uint8)).resize(img.size, Image.LANCZOS)
        return mask

    rembg = timed(runs, rembg_mask)
    print(json.dumps({
        "pillow_resize_2x_ms": pillow,
        "vips_resize_2x_ms": vips,
        "rembg_u2netp_mask_ms": rembg,
        "versions": {"pillow": Image.__version__, "vips": pyvips.version(0), "onnxruntime": ort.__version__},
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
