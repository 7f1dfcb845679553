"""subscribe() with FASHN's official Python SDK against Atelier: background-remove end to end,
checking the output and credits_used. Run by `cargo xtask test` with ATELIER_URL and ATELIER_KEY."""
import base64
import os
import struct
import urllib.request
import zlib
from pathlib import Path

from fashn import Fashn

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "model-photo-512.jpg"


def alpha_at(png: bytes, x: int, y: int) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, width, ctype = 8, b"", 0, 0
    while at < len(png):
        (n,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + n]
        if kind == b"IHDR":
            width, ctype = struct.unpack(">I", data[:4])[0], data[9]
        elif kind == b"IDAT":
            idat += data
        at += 12 + n
    assert ctype == 6, "RGBA"
    raw, stride = zlib.decompress(idat), width * 4
    rows, prev = [], bytearray(stride)
    for r in range(y + 1):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 4] if i >= 4 else 0
            b = prev[i]
            c = prev[i - 4] if i >= 4 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return rows[y][x * 4 + 3]


def test_subscribe_background_remove() -> None:
    client = Fashn(api_key=os.environ["ATELIER_KEY"], base_url=os.environ["ATELIER_URL"])
    image = "data:image/jpeg;base64," + base64.b64encode(FIXTURE.read_bytes()).decode()
    result = client.predictions.subscribe(model_name="background-remove", inputs={"image": image})
    assert result.status == "completed", result.error
    assert result.credits_used == 1
    assert result.output and len(result.output) == 1
    png = urllib.request.urlopen(result.output[0], timeout=30).read()
    assert alpha_at(png, 0, 0) < 10, "transparent corner"
