"""Writes charts/triton-loadtest/files/labelled-images.json: the images the load profiles send, with their classes.

    .venv/bin/python ci/loadtest/labelled_images.py [--check]

The images come from models/synthetic_patterns.py (generate_images(COUNT, seed=SEED): two of each of the eight
pattern classes, the set the local tier checks the served models on) and are stored as 8-bit pixels (value x
255, rounded), base64, so the file stays small enough for a ConfigMap and the load profiles need no numpy to
read it (the official Locust image has none). tests/load checks that the file is what this script makes and
that the served network classifies every stored image as labelled. With --check nothing is written and the
exit status is 1 when the committed file is stale.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.harness.model_config import MODELS_DIR, load_python_source  # noqa: E402

OUTPUT = ROOT / "charts" / "triton-loadtest" / "files" / "labelled-images.json"
COUNT = 16
SEED = 11
SCALE = 255


def quantised_images() -> tuple[np.ndarray, list[str]]:
    """The stored images as uint8 [COUNT, 3, 32, 32] and the class name of each."""
    patterns = load_python_source(MODELS_DIR / "synthetic_patterns.py", "models_synthetic_patterns")
    images, labels = patterns.generate_images(COUNT, seed=SEED)
    return np.rint(images * SCALE).astype(np.uint8), [patterns.CLASS_NAMES[int(label)] for label in labels]


def build() -> str:
    pixels, classes = quantised_images()
    document = {
        "source": f"models/synthetic_patterns.py generate_images({COUNT}, seed={SEED}), pixels x {SCALE} rounded to uint8; "
        "written by ci/loadtest/labelled_images.py",
        "dims": list(pixels.shape[1:]),
        "scale": SCALE,
        "images": [{"class": name, "pixels": base64.b64encode(image.tobytes()).decode()} for image, name in zip(pixels, classes)],
    }
    return json.dumps(document, indent=1) + "\n"


def main() -> int:
    wanted = build()
    if "--check" in sys.argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != wanted:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run .venv/bin/python ci/loadtest/labelled_images.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(wanted)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(wanted)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
