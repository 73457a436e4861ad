#!/usr/bin/env python3
"""Export the pattern classifier to ONNX, the source of the `image_classifier_trt` TensorRT engine.

    python models/build_onnx.py                          # writes models/image_classifier_trt/onnx/model.onnx
    python models/build_onnx.py --models-dir /tmp/out    # writes /tmp/out/image_classifier_trt/onnx/model.onnx

Reads the trained weights from image_classifier/1/weights.pt and writes `onnx/model.onnx` (about 155 KB,
committed) plus a copy of labels.txt. The engine `1/model.plan` is not made here: a TensorRT engine only
runs on the GPU product (and TensorRT version) it was built on, so the chart builds it on the target node
from this file. Needs the `onnx` package (torch's exporter imports it).
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

MODEL_NAME = "image_classifier_trt"
# TensorRT binds tensors by these names, so they are the names in the model's config.pbtxt.
INPUT_NAME = "IMAGE"
OUTPUT_NAME = "PROBABILITIES"
# Opset 17 is the newest that TensorRT 8.6 parses, and TensorRT 10 reads it too.
OPSET = 17


def export_onnx(destination_models_dir: Path) -> Path:
    """Write <destination>/image_classifier_trt/onnx/model.onnx and labels.txt; return the model.onnx path."""
    classifier = load_classifier(SOURCE_VERSION_DIR / "weights.pt")
    model_dir = destination_models_dir / MODEL_NAME
    (model_dir / "onnx").mkdir(parents=True, exist_ok=True)
    onnx_path = model_dir / "onnx" / "model.onnx"
    torch.onnx.export(
        classifier,
        (torch.zeros(1, *IMAGE_SHAPE),),
        str(onnx_path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        # The batch dimension stays symbolic so that one engine serves every batch size up to
        # max_batch_size; the engine build gives it a min/opt/max range.
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=OPSET,
        # The TorchScript-based exporter: the newer dynamo one needs onnxscript and gives the same graph here.
        dynamo=False,
    )
    shutil.copyfile(MODELS_DIR / "image_classifier" / "labels.txt", model_dir / "labels.txt")
    return onnx_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="model repository to write into")
    arguments = parser.parse_args()
    print(f"wrote {export_onnx(arguments.models_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
