"""The RGCN model: shapes, options, and that it learns what a feature-only model cannot."""

from __future__ import annotations

import pytest
import torch

from hpotk.data import hetero
from hpotk.models.mlp import MLP
from hpotk.models.rgcn import RGCN


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Scatter kernels slow down tenfold when their threads compete with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("rgcn-model-cache")))
        return hetero.load_node_task({"name": "hetero-synthetic", "nodes": 800, "seed": 0})


def _model(task, **options):
    return RGCN(task.counts(), [0 if f is None else f.shape[1] for f in task.features],
                len(task.edge_types), task.num_classes, **options)


def _forward(model, task):
    return model(task.node_type, task.local_index, task.features, task.edge_index,
                 task.edge_type)


def test_output_shape_and_options(task):
    model = _model(task, num_hidden=16, num_layers=3, num_bases=2, layer_norm=True,
                   concat_node_embed=True, dropout=0.2)
    assert _forward(model, task).shape == (task.num_nodes, task.num_classes)
    assert len(model.convs) == 3 and model.convs[0].num_bases == 2
    assert isinstance(model.norms[0], torch.nn.LayerNorm)
    # concat-node-embed: featured types get an embedding too
    assert set(model.embeddings) == {"0", "1", "2", "3"}
    plain = _model(task, num_hidden=16, concat_node_embed=False, self_loop=False)
    featured = {str(i) for i, f in enumerate(task.features) if f is not None}
    assert not featured & set(plain.embeddings)
    assert plain.convs[0].root is None and model.convs[0].root is not None
    assert _model(task, num_bases=0).convs[0].num_bases is None  # full weight per relation


def test_low_mem_and_fast_convolutions_compute_the_same_function(task):
    torch.manual_seed(0)
    low = _model(task, num_hidden=8, low_mem=True)
    fast = _model(task, num_hidden=8, low_mem=False)
    fast.load_state_dict(low.state_dict())
    assert type(low.convs[0]).__name__ == "RGCNConv"
    assert type(fast.convs[0]).__name__ == "FastRGCNConv"
    with torch.no_grad():
        assert torch.allclose(_forward(low, task), _forward(fast, task), atol=1e-5)


def _train(model, forward, labels, train, epochs=60):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward()[train], labels[train])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return forward()


def test_rgcn_learns_the_planted_labels_a_feature_only_model_cannot(task):
    torch.manual_seed(0)
    labels = torch.full((task.num_nodes,), -1)
    labels[:len(task.labels)] = task.labels  # papers come first in the synthetic graph
    assert task.node_types[0] == "paper"
    rgcn = _model(task, num_hidden=16)
    out = _train(rgcn, lambda: _forward(rgcn, task), labels, task.train)
    rgcn_acc = (out[task.test].argmax(1) == labels[task.test]).float().mean().item()

    paper_x = task.features[0]
    mlp = MLP(paper_x.shape[1], task.num_classes, hidden_size=16)
    out = _train(mlp, lambda: mlp(paper_x), task.labels, task.train)
    mlp_acc = (out[task.test].argmax(1) == task.labels[task.test]).float().mean().item()
    majority = torch.bincount(task.labels[task.train]).max().item() / len(task.train)
    assert mlp_acc < 0.4 and majority < 0.4
    assert rgcn_acc > 0.7, (rgcn_acc, mlp_acc)
