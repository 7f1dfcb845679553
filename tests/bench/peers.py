"""Peers for `cargo xtask bench`, on the same 1024x1024 PNG the Rust bench wrote:
- Pillow's LANCZOS resize 1024^2 -> 2048^2;
- libvips (pyvips) lanczos3 resize, evaluated into memory;
- rembg's u2netp pipeline in Python onnxruntime: resize to 320^2 (LANCZOS), normalise, run, min-max
  the first output, resize the mask back (LANCZOS) -- what rembg.remove() does to get the mask;
- ffmpeg's libx264 (the static ffmpeg of imageio-ffmpeg, -preset veryfast) making the same clip as
  our Image to Video push-in: 5 s at 30 fps, 720x720, zoompan 1.00 -> 1.12 from the PNG, to MP4;
- the classic OpenCV face swap on our Face Swap's inputs: the same two MediaPipe ONNX models in
  onnxruntime (BlazeFace anchors decoded in numpy, the mesh on a 1.5x box crop), Delaunay by
  cv2.Subdiv2D, one warpAffine per triangle, convex-hull mask, cv2.seamlessClone (NORMAL_CLONE).
Prints one JSON object with the medians.
Usage: peers.py <input.png> <u2netp.onnx> <runs> <faceswap target.png> <face.jpg> <detector.onnx> <mesh.onnx>"""
import io
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
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


def anchors():
    a = []
    for stride, per in ((8, 2), (16, 6)):
        g = 128 // stride
        for y in range(g):
            for x in range(g):
                a += [((x + 0.5) / g, (y + 0.5) / g)] * per
    return np.array(a, dtype=np.float32)


class Faces:
    """BlazeFace short range + the 468-point mesh, in onnxruntime."""

    def __init__(self, det, mesh):
        self.det = ort.InferenceSession(det, providers=["CPUExecutionProvider"])
        self.mesh = ort.InferenceSession(mesh, providers=["CPUExecutionProvider"])
        self.anchors = anchors()

    def landmarks(self, img):
        h, w = img.shape[:2]
        side = max(w, h)
        sq = np.zeros((side, side, 3), np.uint8)
        ox, oy = (side - w) // 2, (side - h) // 2
        sq[oy:oy + h, ox:ox + w] = img
        x = cv2.resize(sq, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
        reg, cls = self.det.run(None, {self.det.get_inputs()[0].name: x[None]})
        i = int(np.argmax(cls[0, :, 0]))
        r, (ax, ay) = reg[0, i], self.anchors[i]
        cx, cy = (r[0] / 128 + ax) * side - ox, (r[1] / 128 + ay) * side - oy
        s = max(r[2], r[3]) / 128 * side * 1.5
        m = np.float32([[192 / s, 0, 96 - cx * 192 / s], [0, 192 / s, 96 - cy * 192 / s]])
        crop = cv2.warpAffine(img, m, (192, 192)).astype(np.float32) / 255
        pts = self.mesh.run(None, {self.mesh.get_inputs()[0].name: crop[None]})
        pts = next(p for p in pts if p.size == 1404).reshape(468, 3)[:, :2]
        return (pts - 96) * s / 192 + np.float32([cx, cy])


def opencv_faceswap(faces, target, face):
    t, r = faces.landmarks(target), faces.landmarks(face)
    h, w = target.shape[:2]
    sub = cv2.Subdiv2D((0, 0, w, h))
    idx = {}
    for k, p in enumerate(t):
        q = (float(np.clip(p[0], 0, w - 1)), float(np.clip(p[1], 0, h - 1)))
        idx[q] = k
        sub.insert(q)
    out = target.copy()
    for tri in sub.getTriangleList():
        v = [(tri[0], tri[1]), (tri[2], tri[3]), (tri[4], tri[5])]
        if not all(q in idx for q in v):
            continue
        k = [idx[q] for q in v]
        d, s_ = np.float32([t[j] for j in k]), np.float32([r[j] for j in k])
        x, y, bw, bh = cv2.boundingRect(d)
        sx, sy, sw, sh = cv2.boundingRect(s_)
        if bw <= 0 or bh <= 0 or sw <= 0 or sh <= 0:
            continue
        m = cv2.getAffineTransform(np.float32(s_ - [sx, sy]), np.float32(d - [x, y]))
        patch = cv2.warpAffine(face[sy:sy + sh, sx:sx + sw], m, (bw, bh), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros((bh, bw, 3), np.float32)
        cv2.fillConvexPoly(mask, np.int32(d - [x, y]), (1.0, 1.0, 1.0), 16, 0)
        roi = out[y:y + bh, x:x + bw]
        if roi.shape[:2] != patch.shape[:2]:
            continue
        out[y:y + bh, x:x + bw] = (roi * (1 - mask) + patch * mask).astype(np.uint8)
    hull = cv2.convexHull(np.int32(t))
    mask = np.zeros(target.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    bx, by, bw, bh = cv2.boundingRect(hull)
    return cv2.seamlessClone(out, target, mask, (bx + bw // 2, by + bh // 2), cv2.NORMAL_CLONE)


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
    faces = Faces(sys.argv[6], sys.argv[7])
    target = cv2.imread(sys.argv[4])[:, :, ::-1].copy()
    face = cv2.imread(sys.argv[5])[:, :, ::-1].copy()
    swapped = opencv_faceswap(faces, target, face)
    cv2.imwrite(os.path.join(tempfile.mkdtemp(), "opencv-faceswap.png"), swapped[:, :, ::-1])
    cvswap = timed(runs, lambda: opencv_faceswap(faces, target, face))
    # WebP at q95, method 4 (cwebp's default): cwebp's own encode time (-v), and Pillow's.
    webp_dir = tempfile.mkdtemp()
    cwebp_ms, cwebp_bytes = [], 0
    for _ in range(runs):
        out = os.path.join(webp_dir, "cwebp.webp")
        r = subprocess.run(["cwebp", "-v", "-q", "95", "-m", "4", path, "-o", out],
                           check=True, capture_output=True, text=True)
        m = re.search(r"Time to encode picture: ([0-9.]+)s", r.stderr + r.stdout)
        cwebp_ms.append(float(m.group(1)) * 1000.0)
        cwebp_bytes = os.path.getsize(out)
    cwebp_ms.sort()
    pillow_webp = timed(runs, lambda: img.save(io.BytesIO(), "WEBP", quality=95, method=4))
    print(json.dumps({
        "cwebp_q95_1024_ms": cwebp_ms[len(cwebp_ms) // 2],
        "cwebp_q95_1024_bytes": cwebp_bytes,
        "pillow_webp_q95_1024_ms": pillow_webp,
        "opencv_faceswap_1k_ms": cvswap,
        "x264_push_in_720_5s_ms": x264,
        "pillow_resize_2x_ms": pillow,
        "vips_resize_2x_ms": vips,
        "rembg_u2netp_mask_ms": rembg,
        "versions": {"pillow": Image.__version__, "vips": pyvips.version(0), "onnxruntime": ort.__version__,
                     "imageio_ffmpeg": imageio_ffmpeg.__version__, "opencv": cv2.__version__},
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
