#!/usr/bin/env python3
"""Train the pattern classifier and write the python-backend models `image_classifier` and `image_classifier_nobatch`.

    python models/build_image_classifier.py            # writes into models/
    python models/build_image_classifier.py --check    # trains and reports accuracy, writes nothing

Writes `image_classifier/1/weights.pt` (a float32 state dict, about 155 KB) and `image_classifier/labels.txt`,
then copies the version directory and labels into `image_classifier_nobatch/`, whose only difference is its
config.pbtxt (no dynamic batching). The copy, not a symlink, is deliberate: a model repository reaches the
server through image layers, volumes and `kubectl cp`, and not every path keeps links.

Training is seeded and single-threaded, so a rerun on the same CPU type gives the same weights; another CPU
may differ in the last float bits, which is why the tests check accuracy and agreement, never bytes.
It takes about 40 s on two cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# Importing the sibling modules below must not leave __pycache__/ in models/: Triton treats every directory
# at the top of a model repository as a model and fails on one without config.pbtxt.
sys.dont_write_bytecode = True

MODELS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(MODELS_DIR / "image_classifier" / "1"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from network import PatternClassifier  # noqa: E402

from synthetic_patterns import CLASS_NAMES, generate_images  # noqa: E402

SEED = 20241122
TRAIN_IMAGES = 8192
HELD_OUT_IMAGES = 1024
EPOCHS = 16
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
# Below this the weights are not worth committing: the served answers would be noise.
REQUIRED_HELD_OUT_ACCURACY = 0.97

VERSION_FILES = ("model.py", "network.py", "weights.pt")


def train_classifier() -> tuple[PatternClassifier, float]:
    """Train on seeded synthetic patterns; return the network and its accuracy on a separate seed."""
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    images, labels = generate_images(TRAIN_IMAGES, seed=SEED)
    held_out_images, held_out_labels = generate_images(HELD_OUT_IMAGES, seed=SEED + 1)

    classifier = PatternClassifier()
    optimiser = torch.optim.Adam(classifier.parameters(), lr=LEARNING_RATE)
    # The recurrent reader's accuracy wanders between epochs at a fixed rate; decaying it settles the weights.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS)
    order = np.random.default_rng(SEED)
    for epoch in range(EPOCHS):
        permutation = order.permutation(TRAIN_IMAGES)
        classifier.train()
        for start in range(0, TRAIN_IMAGES, BATCH_SIZE):
            batch = permutation[start : start + BATCH_SIZE]
            loss = F.cross_entropy(classifier.logits(torch.from_numpy(images[batch])), torch.from_numpy(labels[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()
        accuracy = held_out_accuracy(classifier, held_out_images, held_out_labels)
        print(f"epoch {epoch + 1}/{EPOCHS}: last batch loss {loss.item():.4f}, held-out accuracy {accuracy:.4f}")
    return classifier.eval(), accuracy


def held_out_accuracy(classifier: PatternClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    classifier.eval()
    with torch.inference_mode():
        predicted = classifier(torch.from_numpy(images)).argmax(dim=1).numpy()
    return float((predicted == labels).mean())


def write_model_directories(classifier: PatternClassifier, models_dir: Path) -> None:
    """Write weights and labels into image_classifier/, then mirror them into image_classifier_nobatch/."""
    batching_dir = models_dir / "image_classifier"
    (batching_dir / "1").mkdir(parents=True, exist_ok=True)
    torch.save(classifier.state_dict(), batching_dir / "1" / "weights.pt")
    (batching_dir / "labels.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES))

    nobatch_dir = models_dir / "image_classifier_nobatch"
    (nobatch_dir / "1").mkdir(parents=True, exist_ok=True)
    for name in VERSION_FILES:
        shutil.copyfile(batching_dir / "1" / name, nobatch_dir / "1" / name)
    shutil.copyfile(batching_dir / "labels.txt", nobatch_dir / "labels.txt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="train and report accuracy without writing models/")
    arguments = parser.parse_args()

    classifier, accuracy = train_classifier()
    if accuracy < REQUIRED_HELD_OUT_ACCURACY:
        print(f"held-out accuracy {accuracy:.4f} is below {REQUIRED_HELD_OUT_ACCURACY}; nothing written", file=sys.stderr)
        return 1
    if arguments.check:
        print("check only: models/ left unchanged")
        return 0
    write_model_directories(classifier, MODELS_DIR)
    print(f"wrote {MODELS_DIR / 'image_classifier'} and {MODELS_DIR / 'image_classifier_nobatch'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
