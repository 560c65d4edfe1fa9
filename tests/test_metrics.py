"""hpotk.metrics against scikit-learn's reference implementations."""

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from hpotk import metrics as m


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    scores = rng.normal(size=(200, 4)) + 1.5 * np.eye(4)[y]  # informative but imperfect
    return y, scores


@pytest.fixture
def binary():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=150)
    scores = rng.normal(size=(150, 2)) + np.eye(2)[y]
    return y, scores


def test_registry_names_are_seed_000_names_with_modes():
    assert set(m.METRICS) == {"acc", "acc_topk", "F1", "precision", "recall", "roc_auc",
                              "mse", "mae", "mrr"}
    assert set(m.MODES) == set(m.METRICS)
    assert m.MODES["mse"] == m.MODES["mae"] == "min"
    assert all(m.MODES[k] == "max" for k in m.METRICS if k not in ("mse", "mae"))


def test_acc_and_topk(multiclass):
    y, scores = multiclass
    assert m.acc(y, scores) == pytest.approx(sk.accuracy_score(y, scores.argmax(1)))
    assert m.acc(y, scores.argmax(1)) == pytest.approx(sk.accuracy_score(y, scores.argmax(1)))
    for k in (1, 2, 3):
        expected = sk.top_k_accuracy_score(y, scores, k=k, labels=range(4))
        assert m.acc_topk(y, scores, topk=k) == pytest.approx(expected)
    assert m.acc_topk(y, scores, topk=4) == 1.0


def test_acc_accepts_torch_tensors(multiclass):
    y, scores = multiclass
    assert m.acc(torch.tensor(y), torch.tensor(scores)) == pytest.approx(m.acc(y, scores))


def test_precision_recall_f1_multiclass_is_macro(multiclass):
    y, scores = multiclass
    pred = scores.argmax(1)
    assert m.precision(y, scores) == pytest.approx(sk.precision_score(y, pred, average="macro"))
    assert m.recall(y, scores) == pytest.approx(sk.recall_score(y, pred, average="macro"))
    assert m.F1(y, scores) == pytest.approx(sk.f1_score(y, pred, average="macro"))


def test_precision_recall_f1_binary_is_positive_class(binary):
    y, scores = binary
    pred = scores.argmax(1)
    assert m.precision(y, scores) == pytest.approx(sk.precision_score(y, pred))
    assert m.recall(y, scores) == pytest.approx(sk.recall_score(y, pred))
    assert m.F1(y, scores) == pytest.approx(sk.f1_score(y, pred))
    # and the macro average would differ: the binary convention really is used
    assert m.F1(y, scores) != pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-9)


def test_class_never_predicted_counts_as_zero_precision():
    y = np.array([0, 1, 2, 2])
    pred = np.array([0, 1, 1, 1])
    expected = sk.precision_score(y, pred, average="macro", zero_division=0)
    assert m.precision(y, pred) == pytest.approx(expected)


def test_roc_auc_binary_multiclass_multilabel(binary, multiclass):
    y, scores = binary
    probabilities = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    assert m.roc_auc(y, scores) == pytest.approx(sk.roc_auc_score(y, probabilities[:, 1]))
    assert m.roc_auc(y, scores[:, 1]) == pytest.approx(sk.roc_auc_score(y, scores[:, 1]))
    y, scores = multiclass
    probabilities = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    expected = sk.roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    assert m.roc_auc(y, scores) == pytest.approx(expected)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=(100, 3))
    label_scores = labels + rng.normal(size=(100, 3))
    assert m.roc_auc(labels, label_scores) == pytest.approx(
        sk.roc_auc_score(labels, label_scores, average="macro"))


def test_roc_auc_ties_count_half():
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.5, 0.5, 0.2, 0.9, 0.5])
    assert m.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))


def test_mse_mae():
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert m.mse(y, p) == pytest.approx(sk.mean_squared_error(y, p))
    assert m.mae(y, p) == pytest.approx(sk.mean_absolute_error(y, p))


def test_mrr_equals_label_ranking_average_precision_with_one_true_label():
    rng = np.random.default_rng(4)
    scores = torch.tensor(rng.normal(size=(60, 12)))
    scores[:5, :] = 0.0  # all tied rows: pessimistic rank (the worst)
    truth = torch.tensor(rng.integers(0, 12, size=60))
    ranks = m.rank_of_true(scores, truth)
    onehot = np.eye(12)[truth.numpy()]
    expected = sk.label_ranking_average_precision_score(onehot, scores.numpy())
    assert m.mrr(ranks) == pytest.approx(expected)
    assert ranks[:5].tolist() == [12.0] * 5


def test_filtered_rank_leaves_out_other_true_candidates():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.7]])
    truth = torch.tensor([1])
    assert m.rank_of_true(scores, truth).item() == 2.0
    exclude = torch.tensor([[True, True, False, False]])  # 0 is another true answer; 1 is ours
    assert m.rank_of_true(scores, truth, exclude).item() == 1.0
