"""The network behind every image_classifier* model: a convolutional stem and a GRU that reads the rows.

The python-backend model (`model.py` beside this file), the TorchScript export and the ONNX export all
build this same module from the same `weights.pt`, so the three serve identical answers. It needs torch
only, so tests can run it in-process as an independent reference for what the server returns.

Why a recurrent reader: its 16 GRU steps run one after another whatever the batch size, so on one torch
thread a call on 16 images costs about 3.5x a call on one, not 16x. That per-call cost is what server-side dynamic batching amortises
(`make bench-batching`), as it does for the sequence models Triton usually serves; a pure CNN of this size
costs the same per image in any batch on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 8
STEM_CHANNELS = 8
HIDDEN_SIZE = 64


class PatternClassifier(nn.Module):
    """Conv 3x3 (8 channels) + ReLU + 2x2 max-pool, then a GRU (hidden 64) over the 16 feature rows, and a
    linear head on its last state: about 38k parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(IMAGE_SHAPE[0], STEM_CHANNELS, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16x16
        )
        row_features = STEM_CHANNELS * IMAGE_SHAPE[2] // 2
        self.rows = nn.GRU(row_features, HIDDEN_SIZE, batch_first=True)
        self.head = nn.Linear(HIDDEN_SIZE, NUM_CLASSES)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores [N, NUM_CLASSES]; training optimises these directly."""
        features = self.stem(images)  # [N, C, 16, 16]
        # One GRU step per feature row, top to bottom: [N, C, H, W] -> [N, H, C * W]. No reshape names the
        # batch size, so TorchScript traces and ONNX exports keep the batch dimension dynamic.
        rows = features.permute(0, 2, 1, 3).flatten(start_dim=2)
        states, _ = self.rows(rows)
        return self.head(states[:, -1])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map a batch [N, 3, 32, 32] of float images in [0, 1] to class probabilities [N, NUM_CLASSES]."""
        return torch.softmax(self.logits(images), dim=1)


def load_classifier(weights_path: Path) -> PatternClassifier:
    """Build the network in inference mode with the weights stored at `weights_path`."""
    classifier = PatternClassifier()
    # weights_only: the file is a plain state dict, and refusing pickled code keeps loading it safe.
    classifier.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return classifier.eval()
