"""Labelled synthetic images: the data the image classifiers in this repository are trained and tested on.

Each class is a geometric pattern drawn with random colours, scale, phase and position, plus pixel noise,
so that a correct answer is known for every generated image without shipping a data set. The class order
here is the order of `image_classifier/labels.txt`; `build_image_classifier.py` checks that they agree.

Only numpy is needed, so the tests can generate inputs without importing torch.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = (
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
    "disk",
    "ring",
    "cross",
    "plain",
)
IMAGE_SIZE = 32
CHANNELS = 3

# Foreground and background colours differ by at least this much (in [0, 1] per channel, summed), so that
# every pattern is visible through the noise; without it some samples are unlabelable grey-on-grey.
_MIN_COLOUR_CONTRAST = 0.6
_NOISE_STD = 0.06


def generate_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return `count` images (float32, shape [count, 3, 32, 32], values in [0, 1]) and their class indices.

    Classes are assigned round-robin so that every class appears in any batch of at least 8 images.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.int64) % len(CLASS_NAMES)
    images = np.stack([draw_pattern(int(label), rng) for label in labels])
    return images, labels


def draw_pattern(label: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one image of class `label` as float32 [3, 32, 32]."""
    mask = _PATTERN_MASKS[CLASS_NAMES[label]](rng)
    foreground, background = _contrasting_colours(rng)
    image = np.where(mask[None, :, :], foreground[:, None, None], background[:, None, None])
    image = image + rng.normal(0.0, _NOISE_STD, size=image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _coordinates() -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(IMAGE_SIZE, dtype=np.float64), np.arange(IMAGE_SIZE, dtype=np.float64), indexing="ij")


def _stripes(rng: np.random.Generator, along: np.ndarray) -> np.ndarray:
    period = rng.uniform(4.0, 10.0)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    return np.sin(2.0 * np.pi * along / period + phase) > 0.0


def _horizontal_stripes(rng: np.random.Generator) -> np.ndarray:
    rows, _ = _coordinates()
    return _stripes(rng, rows)


def _vertical_stripes(rng: np.random.Generator) -> np.ndarray:
    _, columns = _coordinates()
    return _stripes(rng, columns)


def _diagonal_stripes(rng: np.random.Generator) -> np.ndarray:
    rows, columns = _coordinates()
    direction = rng.choice([-1.0, 1.0])
    return _stripes(rng, (rows + direction * columns) / np.sqrt(2.0))


def _checkerboard(rng: np.random.Generator) -> np.ndarray:
    rows, columns = _coordinates()
    cell = rng.integers(3, 9)
    row_offset, column_offset = rng.integers(0, cell, size=2)
    return (((rows + row_offset) // cell + (columns + column_offset) // cell) % 2).astype(bool)


def _distance_from_random_centre(rng: np.random.Generator) -> np.ndarray:
    rows, columns = _coordinates()
    centre_row, centre_column = rng.uniform(10.0, 22.0, size=2)
    return np.hypot(rows - centre_row, columns - centre_column)


def _disk(rng: np.random.Generator) -> np.ndarray:
    return _distance_from_random_centre(rng) < rng.uniform(5.0, 11.0)


def _ring(rng: np.random.Generator) -> np.ndarray:
    distance = _distance_from_random_centre(rng)
    outer = rng.uniform(7.0, 12.0)
    return (distance < outer) & (distance > outer - rng.uniform(2.0, 3.5))


def _cross(rng: np.random.Generator) -> np.ndarray:
    rows, columns = _coordinates()
    centre_row, centre_column = rng.uniform(10.0, 22.0, size=2)
    half_width = rng.uniform(1.5, 3.5)
    return (np.abs(rows - centre_row) < half_width) | (np.abs(columns - centre_column) < half_width)


def _plain(rng: np.random.Generator) -> np.ndarray:
    return np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)


_PATTERN_MASKS = {
    "horizontal_stripes": _horizontal_stripes,
    "vertical_stripes": _vertical_stripes,
    "diagonal_stripes": _diagonal_stripes,
    "checkerboard": _checkerboard,
    "disk": _disk,
    "ring": _ring,
    "cross": _cross,
    "plain": _plain,
}


def _contrasting_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Bounded retries keep generation deterministic and finite; the fallback pair always has full contrast.
    for _ in range(100):
        foreground, background = rng.uniform(0.0, 1.0, size=(2, CHANNELS))
        if np.abs(foreground - background).sum() >= _MIN_COLOUR_CONTRAST:
            return foreground, background
    return np.ones(CHANNELS), np.zeros(CHANNELS)
