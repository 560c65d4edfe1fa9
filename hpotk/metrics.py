"""Evaluation metrics by their Neptune ML ``eval_metric`` names.

Every function takes array-likes (numpy arrays, torch tensors on any device, lists) and returns
a Python float. `METRICS` maps a name to its function and `MODES` says whether larger
(``"max"``) or smaller (``"min"``) is better; trainables report ``val_<name>`` and
``test_<name>``.

Conventions:

- classification metrics take ``y_true`` [n] (class ids) and ``scores`` [n, C] (logits or
  probabilities); `acc`, `F1`, `precision`, `recall` also accept predicted class ids [n].
- `F1`, `precision`, `recall`: for two classes, of the positive class 1
  (``TP / (TP + FP)`` as Neptune ML defines them); for more classes, the unweighted mean over
  classes (macro average); a class never predicted counts as 0 precision.
- `roc_auc`: two classes: area under the ROC curve of the positive class score; more classes:
  macro one-vs-rest; multi-label ``y_true`` [n, C] of 0/1: macro over the labels (classes
  without both a positive and a negative are left out of the mean).
- `mse`, `mae`: ``y_true`` and ``y_pred`` of the same shape.
- `mrr`: the mean of 1/rank over ranks [n] (1 = best), from `rank_of_true`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["METRICS", "MODES", "F1", "acc", "acc_topk", "mae", "mrr", "mse", "precision",
           "rank_of_true", "recall", "roc_auc"]


def _np(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _labels(scores: Any) -> np.ndarray:
    array = _np(scores)
    return array.argmax(axis=1) if array.ndim == 2 else array.astype(np.int64)


def acc(y_true: Any, scores: Any) -> float:
    """Fraction of samples whose top-scoring class is the true one."""
    truth = _np(y_true).astype(np.int64)
    return float(np.mean(_labels(scores) == truth)) if truth.size else 0.0


def acc_topk(y_true: Any, scores: Any, topk: int = 1) -> float:
    """Fraction of samples whose true class is among the ``topk`` highest scores.

    Ties are counted against the true class: it is in the top k only if fewer than k classes
    score strictly higher.
    """
    truth = _np(y_true).astype(np.int64)
    array = _np(scores).astype(np.float64)
    if truth.size == 0:
        return 0.0
    true_score = array[np.arange(len(truth)), truth]
    higher = (array > true_score[:, None]).sum(axis=1)
    return float(np.mean(higher < int(topk)))


def _confusion(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    truth = _np(y_true).astype(np.int64)
    predicted = _labels(scores)
    array = _np(scores)
    classes = max(int(truth.max(initial=-1)), int(predicted.max(initial=-1))) + 1
    if array.ndim == 2:
        classes = max(classes, array.shape[1])
    tp = np.bincount(truth[truth == predicted], minlength=classes).astype(np.float64)
    predicted_count = np.bincount(predicted, minlength=classes).astype(np.float64)
    true_count = np.bincount(truth, minlength=classes).astype(np.float64)
    return tp, predicted_count, true_count, classes


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def _average(per_class: np.ndarray, classes: int) -> float:
    if classes <= 2:
        return float(per_class[1]) if classes == 2 else 0.0
    return float(np.mean(per_class))


def precision(y_true: Any, scores: Any) -> float:
    """``TP / (TP + FP)``: positive class for two classes, macro average for more."""
    tp, predicted_count, _, classes = _confusion(y_true, scores)
    return _average(_safe_divide(tp, predicted_count), classes)


def recall(y_true: Any, scores: Any) -> float:
    """``TP / (TP + FN)``: positive class for two classes, macro average for more."""
    tp, _, true_count, classes = _confusion(y_true, scores)
    return _average(_safe_divide(tp, true_count), classes)


def F1(y_true: Any, scores: Any) -> float:  # noqa: N802 - Neptune ML's name
    """Harmonic mean of precision and recall: positive class for two classes, macro for more."""
    tp, predicted_count, true_count, classes = _confusion(y_true, scores)
    return _average(_safe_divide(2 * tp, predicted_count + true_count), classes)


def _binary_auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney U / (n_pos * n_neg), ties counted as half; None without both classes."""
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    # average rank (1-based) of each group of tied scores
    boundaries = np.flatnonzero(np.diff(sorted_score)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(score)]])
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[truth.astype(bool)].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def _softmax(array: np.ndarray) -> np.ndarray:
    shifted = array - array.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (binary, macro one-vs-rest multi-class, or macro multi-label).

    Multi-class scores are turned into probabilities with a softmax first (one-vs-rest AUC of a
    class depends on the other classes' scores only through that normalisation).
    """
    truth = _np(y_true)
    array = _np(scores).astype(np.float64)
    if truth.ndim == 2:  # multi-label
        areas = [_binary_auc(truth[:, c].astype(np.int64), array[:, c])
                 for c in range(truth.shape[1])]
    else:
        truth = truth.astype(np.int64)
        if array.ndim == 1:
            areas = [_binary_auc(truth, array)]
        elif array.shape[1] == 2:
            areas = [_binary_auc(truth, _softmax(array)[:, 1])]
        else:
            probabilities = _softmax(array)
            areas = [_binary_auc((truth == c).astype(np.int64), probabilities[:, c])
                     for c in range(array.shape[1])]
    areas = [a for a in areas if a is not None]
    return float(np.mean(areas)) if areas else float("nan")


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error."""
    difference = _np(y_pred).astype(np.float64) - _np(y_true).astype(np.float64)
    return float(np.mean(difference ** 2)) if difference.size else 0.0


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    difference = _np(y_pred).astype(np.float64) - _np(y_true).astype(np.float64)
    return float(np.mean(np.abs(difference))) if difference.size else 0.0


def mrr(ranks: Any) -> float:
    """Mean reciprocal rank of ranks [n] (1 = the true answer scored highest)."""
    array = _np(ranks).astype(np.float64)
    return float(np.mean(1.0 / array)) if array.size else 0.0


def rank_of_true(scores: Any, true_index: Any, exclude: Any = None) -> Any:
    """Rank (1-based) of each row's true candidate among the candidates it is scored against.

    Ties count against the true candidate (its rank is 1 + the number of candidates scoring
    higher or equal, other than itself), so a model that scores everything equal gets the worst
    rank, not the best. ``exclude`` removes other known-true candidates from the ranking
    ("filtered" ranking in link prediction).

    Args:
        scores: torch.Tensor [n, num_candidates].
        true_index: torch.Tensor [n] (long), the column of each row's true candidate.
        exclude: optional bool torch.Tensor [n, num_candidates]; True = leave that candidate out
            (the true candidate itself is never left out).

    Returns:
        torch.Tensor [n] (float) of ranks.
    """
    import torch

    rows = torch.arange(scores.shape[0], device=scores.device)
    true_score = scores[rows, true_index].unsqueeze(1)
    at_least = scores >= true_score
    if exclude is not None:
        at_least &= ~exclude
    at_least[rows, true_index] = False
    return 1.0 + at_least.sum(dim=1).to(torch.float64)


METRICS: dict[str, Callable[..., float]] = {
    "acc": acc,
    "acc_topk": acc_topk,
    "F1": F1,
    "precision": precision,
    "recall": recall,
    "roc_auc": roc_auc,
    "mse": mse,
    "mae": mae,
    "mrr": mrr,
}

MODES: dict[str, str] = {
    "acc": "max",
    "acc_topk": "max",
    "F1": "max",
    "precision": "max",
    "recall": "max",
    "roc_auc": "max",
    "mse": "min",
    "mae": "min",
    "mrr": "max",
}

#: which task each metric applies to (the trainables refuse a metric for the wrong task).
TASKS: dict[str, str] = {
    "acc": "classification", "acc_topk": "classification", "F1": "classification",
    "precision": "classification", "recall": "classification", "roc_auc": "classification",
    "mse": "regression", "mae": "regression", "mrr": "ranking",
}
