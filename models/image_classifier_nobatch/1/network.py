"""The convolutional network behind every image_classifier* model.

The python-backend model (`model.py` beside this file), the TorchScript export and the ONNX export all
build this same module from the same `weights.pt`, so the three serve identical answers. It needs torch
only, so tests can run it in-process as an independent reference for what the server returns.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 8


class PatternClassifier(nn.Module):
    """Three conv blocks and a linear head: about 18k parameters, about 2.2M multiply-adds per 3x32x32 image."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
        )
        self.head = nn.Linear(32 * 4 * 4, NUM_CLASSES)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores [N, NUM_CLASSES]; training optimises these directly."""
        return self.head(torch.flatten(self.features(images), start_dim=1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map a batch [N, 3, 32, 32] of float images in [0, 1] to class probabilities [N, NUM_CLASSES]."""
        return torch.softmax(self.logits(images), dim=1)


def load_classifier(weights_path: Path) -> PatternClassifier:
    """Build the network in inference mode with the weights stored at `weights_path`."""
    classifier = PatternClassifier()
    # weights_only: the file is a plain state dict, and refusing pickled code keeps loading it safe.
    classifier.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return classifier.eval()
