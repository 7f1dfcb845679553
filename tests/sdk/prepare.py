"""Prepares FASHN's official Python SDK tests (fashn 0.9.0 sdist) to run against Atelier.

- re-enables the API-resource tests (they ship with @pytest.mark.skip);
- rewrites every https://example.com image URL to a small PNG data URI (nothing may leave this
  machine) and the webhook URL to a loopback receiver.

usage: prepare.py SDIST_TAR_GZ WORK_DIR WEBHOOK_URL
"""
import base64
import re
import shutil
import struct
import sys
import tarfile
import zlib
from pathlib import Path


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"".join(bytes((x * 9 % 256, y * 13 % 256, 128)) for x in range(width)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main() -> None:
    sdist, work, hook = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    with tarfile.open(sdist) as t:
        t.extractall(work, filter="data")
    root = next(work.iterdir())
    test = root / "tests" / "api_resources" / "test_predictions.py"
    text = test.read_text()
    enabled = text.replace('    @pytest.mark.skip(reason="Mock server tests are disabled")\n', "")
    data_uri = "data:image/png;base64," + base64.b64encode(png(24, 32)).decode()
    rewritten = enabled.replace('"https://example.com/webhook"', f'"{hook}"')
    rewritten = re.sub(r'"https://example\.com/[^"]*"', f'"{data_uri}"', rewritten)
    if "example.com" in rewritten:
        sys.exit("prepare.py: an example.com URL is left in the tests")
    test.write_text(rewritten)
    skips = text.count("Mock server tests are disabled")
    print(f"prepared {test} ({skips} tests re-enabled, image URLs → data URIs, webhook → {hook})")
    print(root)


if __name__ == "__main__":
    main()
