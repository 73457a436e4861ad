#!/usr/bin/env python3
"""Export the pattern classifier to TorchScript for the `image_classifier_libtorch` model (PyTorch backend).

    python models/build_torchscript.py                          # writes models/image_classifier_libtorch/
    python models/build_torchscript.py --models-dir /tmp/out    # writes /tmp/out/image_classifier_libtorch/

Reads the trained weights from image_classifier/1/weights.pt (see build_image_classifier.py), traces the
network on a fixed input and writes `1/model.pt` (about 165 KB, committed) plus a copy of labels.txt.
The trace is deterministic: the same weights give a module with the same outputs on any machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# Importing network.py must not leave __pycache__/ in the model repository (see build_image_classifier.py).
sys.dont_write_bytecode = True

MODELS_DIR = Path(__file__).resolve().parent
SOURCE_VERSION_DIR = MODELS_DIR / "image_classifier" / "1"
sys.path.insert(0, str(SOURCE_VERSION_DIR))

import torch  # noqa: E402
from network import IMAGE_SHAPE, load_classifier  # noqa: E402

MODEL_NAME = "image_classifier_libtorch"


def export_torchscript(destination_models_dir: Path) -> Path:
    """Write <destination>/image_classifier_libtorch/1/model.pt and labels.txt; return the model.pt path."""
    classifier = load_classifier(SOURCE_VERSION_DIR / "weights.pt")
    # The network has no data-dependent control flow, so a trace is exact; the batch dimension stays
    # dynamic because no operation in it depends on the traced batch size.
    traced = torch.jit.trace(classifier, torch.zeros(2, *IMAGE_SHAPE))
    model_dir = destination_models_dir / MODEL_NAME
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    model_path = model_dir / "1" / "model.pt"
    traced.save(str(model_path))
    shutil.copyfile(MODELS_DIR / "image_classifier" / "labels.txt", model_dir / "labels.txt")
    return model_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="model repository to write into")
    arguments = parser.parse_args()
    print(f"wrote {export_torchscript(arguments.models_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
