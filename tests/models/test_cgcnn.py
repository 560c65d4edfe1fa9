"""CGCNN model: shapes, depth, invariance to atom order, gradients."""

from __future__ import annotations

import pytest
import torch

from hpotk.models.cgcnn import CGCNN, GaussianDistance


def _batch(num_graphs: int = 3, features: int = 15, seed: int = 0):
    from torch_geometric.data import Batch, Data

    generator = torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(num_graphs):
        atoms = 5 + k
        edges = 4 * atoms
        site = torch.zeros(atoms, dtype=torch.bool)
        site[-1] = True
        graphs.append(Data(
            x=torch.rand(atoms, features, generator=generator),
            edge_index=torch.randint(0, atoms, (2, edges), generator=generator),
            edge_attr=1 + 4 * torch.rand(edges, generator=generator),
            site=site,
        ))
    return Batch.from_data_list(graphs)


def test_gaussian_distance_shapes():
    expand = GaussianDistance(cutoff=6.0, step=0.2)
    assert expand.num_gaussians == 31
    out = expand(torch.tensor([0.0, 3.0, 6.0]))
    assert out.shape == (3, 31)
    assert torch.allclose(out.max(dim=1).values, torch.ones(3))
    assert out[1].argmax() == 15


@pytest.mark.parametrize(("convs", "fcs"), [(1, 1), (3, 2)])
def test_forward_gives_one_value_per_crystal(convs, fcs):
    batch = _batch()
    model = CGCNN(15, atom_embedding_size=8, num_graph_conv_layers=convs, fc_feat_size=16,
                  num_fc_layers=fcs)
    assert len(model.convs) == convs
    assert sum(isinstance(m, torch.nn.Linear) for m in model.head) == fcs + 1
    out = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, batch.num_graphs)
    assert out.shape == (3,)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_prediction_does_not_depend_on_atom_order():
    batch = _batch(num_graphs=1)
    model = CGCNN(15, atom_embedding_size=8, num_graph_conv_layers=2, fc_feat_size=16).eval()
    permutation = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(1))
    inverse = torch.argsort(permutation)
    with torch.no_grad():
        out = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, 1)
        moved = model(batch.x[permutation], inverse[batch.edge_index], batch.edge_attr,
                      batch.batch, 1)
    assert torch.allclose(out, moved, atol=1e-5)


def test_site_pool_reads_the_site_atoms_as_well_as_the_mean():
    batch = _batch()
    model = CGCNN(15, atom_embedding_size=8, num_graph_conv_layers=2, fc_feat_size=16,
                  site_pool=True).eval()
    assert model.head[0].in_features == 16, "mean pool and site pool, concatenated"
    with torch.no_grad():
        out = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, batch.num_graphs,
                    site_mask=batch.site)
        # another atom of crystal 0 marked as its site: only crystal 0's prediction moves
        other = batch.site.clone()
        other[0], other[4] = True, False
        moved = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, batch.num_graphs,
                      site_mask=other)
    assert out.shape == (3,)
    assert not torch.allclose(out[0], moved[0]) and torch.equal(out[1:], moved[1:])
    with pytest.raises(ValueError, match="site_mask"):
        model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, batch.num_graphs)


def test_site_pool_does_not_depend_on_atom_order():
    batch = _batch(num_graphs=1)
    model = CGCNN(15, atom_embedding_size=8, num_graph_conv_layers=2, fc_feat_size=16,
                  site_pool=True).eval()
    permutation = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(2))
    inverse = torch.argsort(permutation)
    with torch.no_grad():
        out = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch, 1,
                    site_mask=batch.site)
        moved = model(batch.x[permutation], inverse[batch.edge_index], batch.edge_attr,
                      batch.batch, 1, site_mask=batch.site[permutation])
    assert torch.allclose(out, moved, atol=1e-5)
