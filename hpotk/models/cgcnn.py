"""CGCNN (Xie & Grossman, PRL 120, 145301, 2018) on PyTorch Geometric's ``CGConv``.

Atom features are embedded by a linear layer, refined by graph convolutions whose edge features
are Gaussian-expanded interatomic distances, pooled per crystal, and mapped to one number by a
fully connected head. The four architecture sizes are the NERSC Ray Tune guide's tunables.

Pooling: CGCNN's mean over all atoms, optionally concatenated with the mean over *site* atoms
(``site_pool``; for adsorption, the adsorbate). An adsorption energy is a property of the
adsorbate's local environment, which a mean over a dozen slab atoms dilutes; pooling the
adsorbate atom's own embedding as well hands the head that environment directly.
"""

from __future__ import annotations

import torch
from torch import nn


class GaussianDistance(nn.Module):
    """Expands distances in Gaussians centred on a grid from 0 to ``cutoff`` (CGCNN's edge features).

    Shapes:
        distance: [E] (Å) -> [E, num_gaussians]
    """

    def __init__(self, cutoff: float = 6.0, step: float = 0.2):
        super().__init__()
        centres = torch.arange(0.0, float(cutoff) + step / 2, step)
        self.register_buffer("centres", centres)
        self.width = float(step)

    @property
    def num_gaussians(self) -> int:
        return int(self.centres.numel())

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((distance.reshape(-1, 1) - self.centres) ** 2) / self.width**2)


class CGCNN(nn.Module):
    """Crystal graph convolutional network regressing one value per crystal.

    Args:
        num_atom_features: width of the input atom features.
        atom_embedding_size: width of the atom embedding the convolutions work on.
        num_graph_conv_layers: number of ``CGConv`` layers (each with batch norm, residual).
        fc_feat_size: width of the fully connected head.
        num_fc_layers: layers in the head before the output layer (>= 1, as in CGCNN's ``n_h``).
        cutoff: largest neighbour distance in the data (Å), the range of the Gaussians.
        site_pool: also pool over the atoms ``site_mask`` marks (then ``forward`` needs it).

    Shapes:
        x: [N, num_atom_features] atom features (all crystals of the batch)
        edge_index: [2, E] (row 0 neighbour, row 1 centre atom)
        edge_attr: [E] interatomic distances (Å)
        batch: [N] crystal index of each atom, values in [0, B)
        site_mask: [N] bool, the site atoms (at least one per crystal), when ``site_pool``
        output: [B] one prediction per crystal
    """

    def __init__(self, num_atom_features: int, atom_embedding_size: int = 64,
                 num_graph_conv_layers: int = 3, fc_feat_size: int = 128, num_fc_layers: int = 1,
                 cutoff: float = 6.0, site_pool: bool = False):
        super().__init__()
        from torch_geometric.nn import CGConv

        self.site_pool = bool(site_pool)
        self.distance = GaussianDistance(cutoff)
        self.embedding = nn.Linear(num_atom_features, atom_embedding_size)
        self.convs = nn.ModuleList(
            CGConv(atom_embedding_size, dim=self.distance.num_gaussians, aggr="add",
                   batch_norm=True)
            for _ in range(num_graph_conv_layers)
        )
        pooled_size = atom_embedding_size * (2 if self.site_pool else 1)
        head: list[nn.Module] = [nn.Linear(pooled_size, fc_feat_size), nn.Softplus()]
        for _ in range(num_fc_layers - 1):
            head += [nn.Linear(fc_feat_size, fc_feat_size), nn.Softplus()]
        head.append(nn.Linear(fc_feat_size, 1))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor,
                batch: torch.Tensor, num_graphs: int | None = None,
                site_mask: torch.Tensor | None = None) -> torch.Tensor:
        from torch_geometric.nn import global_mean_pool

        if self.site_pool and site_mask is None:
            raise ValueError("this CGCNN pools over site atoms (site_pool=True): pass site_mask")
        edge_features = self.distance(edge_attr)
        h = self.embedding(x)
        for conv in self.convs:
            h = nn.functional.softplus(conv(h, edge_index, edge_features))
        pooled = global_mean_pool(h, batch, size=num_graphs)
        if self.site_pool:
            site = global_mean_pool(h[site_mask], batch[site_mask], size=pooled.shape[0])
            pooled = torch.cat([pooled, site], dim=-1)
        return self.head(pooled).squeeze(-1)
