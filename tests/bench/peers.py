"""Peers for `cargo xtask bench`, on the same 1024x1024 PNG the Rust bench wrote:
- Pillow's LANCZOS resize 1024^2 -> 2048^2;
- libvips (pyvips) lanczos3 resize, evaluated into memory;
- rembg's u2netp pipeline in Python onnxruntime: resize to 320^2 (LANCZOS), normalise, run, min-max
  the first output, resize the mask back (LANCZOS) -- what rembg.remove() does to get the mask;
- ffmpeg's libx264 (the static ffmpeg of imageio-ffmpeg, -preset veryfast) making the same clip as
  our Image to Video push-in: 5 s at 30 fps, 720x720, zoompan 1.00 -> 1.12 from the PNG, to MP4.
Prints one JSON object with the medians. Usage: peers.py <input.png> <u2netp.onnx> [runs]"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import imageio_ffmpeg

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
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out = os.path.join(tempfile.mkdtemp(), "push-in.mp4")
    # 150 frames, zoom eased linearly from 1.00 to 1.12 towards the centre, scaled to 720x720.
    cmd = [ffmpeg, "-v", "error", "-y", "-loop", "1", "-i", path, "-vf",
           "zoompan=z='1+0.12*on/149':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=150:s=720x720:fps=30",
           "-frames:v", "150", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", out]
    x264 = timed(max(3, runs // 2), lambda: subprocess.run(cmd, check=True))
    print(json.dumps({
        "x264_push_in_720_5s_ms": x264,
        "pillow_resize_2x_ms": pillow,
        "vips_resize_2x_ms": vips,
        "rembg_u2netp_mask_ms": rembg,
        "versions": {"pillow": Image.__version__, "vips": pyvips.version(0), "onnxruntime": ort.__version__,
                     "imageio_ffmpeg": imageio_ffmpeg.__version__},
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
