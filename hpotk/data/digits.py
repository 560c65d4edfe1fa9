"""scikit-learn's handwritten digits (shipped with the package: no download), split and scaled."""

from __future__ import annotations

from typing import Any


def load_digits_split(spec: dict[str, Any]) -> dict[str, Any]:
    """Train/val/test tensors of the 8x8 digits, scaled to [0, 1], split deterministically.

    Args:
        spec: ``{"seed": int, "val_fraction": float, "test_fraction": float}`` (all optional).

    Returns:
        ``{"x_train", "y_train", "x_val", "y_val", "x_test", "y_test"}``; x: [N, 64] float32,
        y: [N] int64.
    """
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    seed = int(spec.get("seed", 0))
    val_fraction = float(spec.get("val_fraction", 0.15))
    test_fraction = float(spec.get("test_fraction", 0.15))
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
        stratify=y_rest,
    )
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    as_y = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    return {
        "x_train": as_x(x_train), "y_train": as_y(y_train),
        "x_val": as_x(x_val), "y_val": as_y(y_val),
        "x_test": as_x(x_test), "y_test": as_y(y_test),
    }
