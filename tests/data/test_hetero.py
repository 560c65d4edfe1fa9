"""The heterogeneous graphs behind rgcn: synthetic generation, user files, sampling."""

from __future__ import annotations

import pytest
import torch

from hpotk.data import hetero
from hpotk.errors import ConfigError


@pytest.fixture(scope="module", autouse=True)
def _data_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPOTK_DATA_DIR", str(tmp_path_factory.mktemp("hetero-cache")))
        yield


def test_generation_is_deterministic_in_its_parameters():
    a, b = hetero.generate(400, 4, seed=3), hetero.generate(400, 4, seed=3)
    c = hetero.generate(400, 4, seed=4)
    for key in a.edge_types:
        assert torch.equal(a[key].edge_index, b[key].edge_index)
    assert torch.equal(a["paper"].y, b["paper"].y) and torch.equal(a["author"].x, b["author"].x)
    assert not torch.equal(a["paper"].y, c["paper"].y)


def test_types_features_and_graph_size_formula():
    data = hetero.generate(1000, 4, seed=0)
    assert set(data.node_types) == {"paper", "author", "venue", "topic"}
    assert len(data.edge_types) == 8  # 4 relations and their reverses
    assert "x" in data["paper"] and "x" in data["author"]
    assert "x" not in data["venue"] and "x" not in data["topic"]
    nodes = sum(data[t].num_nodes for t in data.node_types)
    edges = sum(data[e].edge_index.shape[1] for e in data.edge_types)
    assert hetero.graph_size({"name": "hetero-synthetic", "nodes": 1000}) == (nodes, edges)
    assert nodes == 1000


def test_splits_are_disjoint_deterministic_and_cover_the_labelled_targets():
    task = hetero.load_node_task({"name": "hetero-synthetic", "nodes": 400, "seed": 1})
    again = hetero.load_node_task({"name": "hetero-synthetic", "nodes": 400, "seed": 1})
    parts = [set(task.train.tolist()), set(task.val.tolist()), set(task.test.tolist())]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    papers = task.counts()[task.node_types.index("paper")]
    assert len(parts[0] | parts[1] | parts[2]) == papers
    assert len(parts[0]) == pytest.approx(0.6 * papers, abs=2)
    assert torch.equal(task.train, again.train) and torch.equal(task.test, again.test)
    assert bool((task.node_type[task.train] == task.node_types.index("paper")).all())


def test_label_is_planted_in_the_neighbourhood_not_the_features():
    """Paper features carry no label information; the venue's hidden class carries most of it."""
    from sklearn.linear_model import LogisticRegression

    data = hetero.generate(3000, 4, seed=0)
    y, x = data["paper"].y.numpy(), data["paper"].x.numpy()
    train, test = data["paper"].train_mask.numpy(), data["paper"].test_mask.numpy()
    features_only = LogisticRegression(max_iter=500).fit(x[train], y[train]).score(x[test], y[test])
    assert features_only < 0.35  # chance is 0.25
    # majority label of a venue's training papers predicts a test paper's label
    venue = data["paper", "published_in", "venue"].edge_index[1].numpy()
    votes = torch.zeros(data["venue"].num_nodes, 4)
    votes.index_put_((torch.from_numpy(venue[train]), torch.from_numpy(y[train])),
                     torch.ones(int(train.sum())), accumulate=True)
    by_venue = votes.argmax(1).numpy()[venue[test]]
    assert (by_venue == y[test]).mean() > 0.7


def test_prepare_caches_by_parameters():
    first, count, unit = hetero.prepare(nodes=300, seed=7)
    second, _, _ = hetero.prepare(nodes=300, seed=7)
    assert (count, unit) == (300, "nodes") and second.hit and second.path == first.path
    assert hetero.prepare(nodes=300, seed=8)[0].path != first.path
    assert hetero.prepare(size=300, seed=7)[0].path == first.path  # size: the same as nodes
    with pytest.raises(ConfigError, match="data.edges: unknown option"):
        hetero.prepare(edges=5)


def test_hpotk_data_builds_it_ahead_of_time():
    from hpotk.data import prepare

    summary = prepare("hetero-synthetic", size=350, seed=0)
    assert "hetero-synthetic" in summary and "350 nodes" in summary and "cache:" in summary
    assert "already cached" in prepare("hetero-synthetic", size=350, seed=0)


def test_synthetic_spec_is_checked():
    with pytest.raises(ConfigError, match="data.edges"):
        hetero.load_node_task({"name": "hetero-synthetic", "edges": 10})
    with pytest.raises(ConfigError, match="not both"):
        hetero.load_node_task({"name": "hetero-synthetic", "size": 300, "nodes": 300})
    with pytest.raises(ConfigError, match="data.nodes"):
        hetero.graph_size({"nodes": 30})
    with pytest.raises(ConfigError, match="data.name"):
        hetero.load_node_task({"name": "emt-adsorption"})


def _user_graph(float_labels: bool = False, masks: bool = True):
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["user"].x = torch.randn(30, 5)
    data["item"].num_nodes = 12
    rel = torch.stack([torch.arange(30), torch.arange(30) % 12])
    data["user", "buys", "item"].edge_index = rel
    data["item", "bought_by", "user"].edge_index = rel.flip(0)
    data["user"].y = torch.rand(30) if float_labels else torch.arange(30) % 3
    if masks:
        data["user"].train_mask = torch.arange(30) < 20
        data["user"].val_mask = (torch.arange(30) >= 20) & (torch.arange(30) < 25)
        data["user"].test_mask = torch.arange(30) >= 25
    return data


def test_loads_a_users_heterodata_file(tmp_path):
    path = tmp_path / "graph.pt"
    torch.save(_user_graph(), path)
    task = hetero.load_node_task({"path": str(path), "target": "user"})
    assert task.num_nodes == 42 and task.num_edges == 60 and task.num_classes == 3
    assert task.scores is None and task.features[task.node_types.index("item")] is None
    offset = 0 if task.node_types[0] == "user" else 12
    assert task.train.tolist() == [offset + i for i in range(20)]
    assert task.test.tolist() == [offset + i for i in range(25, 30)]
    assert hetero.graph_size({"path": str(path), "target": "user"}) == (42, 60)
    assert hetero.graph_size({"path": str(path)}) == (42, 60)  # no target needed to count
    # the flattened edges are the file's edges
    src, dst = task.edge_index
    kind = task.edge_types.index(("user", "buys", "item"))
    buys = task.edge_type == kind
    assert torch.equal(task.local_index[src[buys]], torch.arange(30))
    assert torch.equal(task.local_index[dst[buys]], torch.arange(30) % 12)


def test_users_file_without_masks_gets_a_seeded_split_and_float_labels_mean_regression(tmp_path):
    path = tmp_path / "graph.pt"
    torch.save(_user_graph(float_labels=True, masks=False), path)
    a = hetero.load_node_task({"path": str(path), "target": "user", "seed": 1})
    b = hetero.load_node_task({"path": str(path), "target": "user", "seed": 1})
    assert a.labels is None and a.scores is not None and a.num_classes == 0
    assert torch.equal(a.train, b.train) and len(a.train) == 18 and len(a.val) == 6


def test_bad_user_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        hetero.load_node_task({"path": str(tmp_path / "missing.pt"), "target": "user"})
    path = tmp_path / "graph.pt"
    torch.save(_user_graph(), path)
    with pytest.raises(ConfigError, match="data.target.*item.*user"):
        hetero.load_node_task({"path": str(path), "target": "paper"})
    other = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), other)
    with pytest.raises(ConfigError, match="holds a Tensor"):
        hetero.load_node_task({"path": str(other), "target": "user"})


def test_sampler_keeps_at_most_fanout_edges_per_node_and_relation():
    task = hetero.load_node_task({"name": "hetero-synthetic", "nodes": 400, "seed": 0})
    sampler = hetero.NeighbourSampler(task.edge_index, task.edge_type, task.num_nodes)
    seeds = task.train[:32]
    nodes, edge_index, edge_type = sampler.sample(seeds, [2, 1], torch.Generator().manual_seed(0))
    assert torch.equal(nodes[:32], seeds) and len(set(nodes.tolist())) == len(nodes)
    dst = nodes[edge_index[1]]
    per_key = torch.unique(dst * 100 + edge_type, return_counts=True)[1]
    assert int(per_key.max()) <= 2
    # every sampled edge is a real edge of the graph
    real = set(zip(task.edge_index[0].tolist(), task.edge_index[1].tolist(),
                   task.edge_type.tolist(), strict=True))
    got = zip(nodes[edge_index[0]].tolist(), dst.tolist(), edge_type.tolist(), strict=True)
    assert all(edge in real for edge in got)
    again = sampler.sample(seeds, [2, 1], torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip((nodes, edge_index, edge_type), again, strict=True))


def test_sampler_fanout_minus_one_keeps_every_incoming_edge():
    task = hetero.load_node_task({"name": "hetero-synthetic", "nodes": 400, "seed": 0})
    sampler = hetero.NeighbourSampler(task.edge_index, task.edge_type, task.num_nodes)
    seeds = task.train[:5]
    nodes, edge_index, _ = sampler.sample(seeds, [-1], torch.Generator().manual_seed(0))
    incoming = torch.isin(task.edge_index[1], seeds).sum()
    assert edge_index.shape[1] == int(incoming)
    assert bool((edge_index[1] < 5).all())
