"""OGB's reference GIN-VN for ogbg-mol* and its training / inference loop, written out here.

A faithful transcription of the OGB example code (the ``ogb`` pip package ships the encoders but
not the examples):

* ``GINConv``, ``GNN_node_Virtualnode``: ``examples/graphproppred/mol/conv.py``
* ``GNN``: ``examples/graphproppred/mol/gnn.py``
* ``train``, ``eval`` (here ``predict``), the optimizer and the loader:
  ``examples/graphproppred/mol/main_pyg.py``

all from https://github.com/snap-stanford/ogb. ``AtomEncoder`` / ``BondEncoder`` are imported from
``ogb.graphproppred.mol_encoder``. Only the parts that ``--gnn gin-virtual`` (the default of
``main_pyg.py``) reaches are kept: GIN convolution, virtual node, JK ``last``/``sum``, mean / sum /
max pooling. The data objects are built as ``PygGraphPropPredDataset`` builds them: one PyG
``Data`` per molecule from ``ogb.utils.smiles2graph`` (int64 ``x``, ``edge_index``, ``edge_attr``;
``y`` ``[1, num_tasks]`` int64 for a classification dataset without missing labels, such as HIV).
Left out of the loops: the ``tqdm`` progress bars, the evaluator call and the epoch bookkeeping
(none of which changes the per-batch work; leaving out tqdm only makes the reference faster).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
from ogb.utils import smiles2graph
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import MessagePassing, global_add_pool, global_max_pool, global_mean_pool


# ----------------------------------------------------------------------------- conv.py
class GINConv(MessagePassing):
    """GIN convolution along the graph structure (OGB ``conv.py``)."""

    def __init__(self, emb_dim):
        super().__init__(aggr="add")
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(emb_dim, 2 * emb_dim),
            torch.nn.BatchNorm1d(2 * emb_dim),
            torch.nn.ReLU(),
            torch.nn.Linear(2 * emb_dim, emb_dim),
        )
        self.eps = torch.nn.Parameter(torch.Tensor([0]))
        self.bond_encoder = BondEncoder(emb_dim=emb_dim)

    def forward(self, x, edge_index, edge_attr):
        edge_embedding = self.bond_encoder(edge_attr)
        out = self.mlp(
            (1 + self.eps) * x + self.propagate(edge_index, x=x, edge_attr=edge_embedding)
        )
        return out

    def message(self, x_j, edge_attr):
        return F.relu(x_j + edge_attr)

    def update(self, aggr_out):
        return aggr_out


class GNN_node_Virtualnode(torch.nn.Module):  # noqa: N801 (OGB's name)
    """Virtual-node GNN producing node representations (OGB ``conv.py``)."""

    def __init__(self, num_layer, emb_dim, drop_ratio=0.5, JK="last", residual=False):  # noqa: N803
        super().__init__()
        self.num_layer = num_layer
        self.drop_ratio = drop_ratio
        self.JK = JK
        self.residual = residual
        if self.num_layer < 2:
            raise ValueError("Number of GNN layers must be greater than 1.")
        self.atom_encoder = AtomEncoder(emb_dim)
        # set the initial virtual node embedding to 0.
        self.virtualnode_embedding = torch.nn.Embedding(1, emb_dim)
        torch.nn.init.constant_(self.virtualnode_embedding.weight.data, 0)
        self.convs = torch.nn.ModuleList()
        self.batch_norms = torch.nn.ModuleList()
        self.mlp_virtualnode_list = torch.nn.ModuleList()
        for _ in range(num_layer):
            self.convs.append(GINConv(emb_dim))
            self.batch_norms.append(torch.nn.BatchNorm1d(emb_dim))
        for _ in range(num_layer - 1):
            self.mlp_virtualnode_list.append(
                torch.nn.Sequential(
                    torch.nn.Linear(emb_dim, 2 * emb_dim),
                    torch.nn.BatchNorm1d(2 * emb_dim),
                    torch.nn.ReLU(),
                    torch.nn.Linear(2 * emb_dim, emb_dim),
                    torch.nn.BatchNorm1d(emb_dim),
                    torch.nn.ReLU(),
                )
            )

    def forward(self, batched_data):
        x, edge_index, edge_attr, batch = (
            batched_data.x,
            batched_data.edge_index,
            batched_data.edge_attr,
            batched_data.batch,
        )
        # virtual node embeddings for graphs
        virtualnode_embedding = self.virtualnode_embedding(
            torch.zeros(batch[-1].item() + 1).to(edge_index.dtype).to(edge_index.device)
        )
        h_list = [self.atom_encoder(x)]
        for layer in range(self.num_layer):
            # add message from virtual nodes to graph nodes
            h_list[layer] = h_list[layer] + virtualnode_embedding[batch]
            # Message passing among graph nodes
            h = self.convs[layer](h_list[layer], edge_index, edge_attr)
            h = self.batch_norms[layer](h)
            if layer == self.num_layer - 1:
                # remove relu for the last layer
                h = F.dropout(h, self.drop_ratio, training=self.training)
            else:
                h = F.dropout(F.relu(h), self.drop_ratio, training=self.training)
            if self.residual:
                h = h + h_list[layer]
            h_list.append(h)
            # update the virtual nodes
            if layer < self.num_layer - 1:
                # add message from graph nodes to virtual nodes
                virtualnode_embedding_temp = (
                    global_add_pool(h_list[layer], batch) + virtualnode_embedding
                )
                # transform virtual nodes using MLP
                if self.residual:
                    virtualnode_embedding = virtualnode_embedding + F.dropout(
                        self.mlp_virtualnode_list[layer](virtualnode_embedding_temp),
                        self.drop_ratio,
                        training=self.training,
                    )
                else:
                    virtualnode_embedding = F.dropout(
                        self.mlp_virtualnode_list[layer](virtualnode_embedding_temp),
                        self.drop_ratio,
                        training=self.training,
                    )
        # Different implementations of Jk-concat
        if self.JK == "last":
            node_representation = h_list[-1]
        elif self.JK == "sum":
            node_representation = 0
            for layer in range(self.num_layer + 1):
                node_representation += h_list[layer]
        return node_representation


# ----------------------------------------------------------------------------- gnn.py
class GNN(torch.nn.Module):
    """OGB ``gnn.py`` ``GNN`` with ``gnn_type="gin"``, ``virtual_node=True`` (``gin-virtual``)."""

    def __init__(
        self,
        num_tasks,
        num_layer=5,
        emb_dim=300,
        residual=False,
        drop_ratio=0.5,
        JK="last",  # noqa: N803
        graph_pooling="mean",
    ):
        super().__init__()
        self.num_layer = num_layer
        self.drop_ratio = drop_ratio
        self.JK = JK
        self.emb_dim = emb_dim
        self.num_tasks = num_tasks
        self.graph_pooling = graph_pooling
        if self.num_layer < 2:
            raise ValueError("Number of GNN layers must be greater than 1.")
        self.gnn_node = GNN_node_Virtualnode(
            num_layer, emb_dim, JK=JK, drop_ratio=drop_ratio, residual=residual
        )
        if self.graph_pooling == "sum":
            self.pool = global_add_pool
        elif self.graph_pooling == "mean":
            self.pool = global_mean_pool
        elif self.graph_pooling == "max":
            self.pool = global_max_pool
        else:
            raise ValueError("Invalid graph pooling type.")
        self.graph_pred_linear = torch.nn.Linear(self.emb_dim, self.num_tasks)

    def forward(self, batched_data):
        h_node = self.gnn_node(batched_data)
        h_graph = self.pool(h_node, batched_data.batch)
        return self.graph_pred_linear(h_graph)


# ----------------------------------------------------------------------------- main_pyg.py
cls_criterion = torch.nn.BCEWithLogitsLoss()


def train(model, device, loader, optimizer):
    """One epoch of ``main_pyg.py``'s ``train`` (classification); returns the graphs trained on."""
    model.train()
    graphs = 0
    for batch in loader:
        batch = batch.to(device)
        if batch.x.shape[0] == 1 or batch.batch[-1] == 0:
            pass
        else:
            pred = model(batch)
            optimizer.zero_grad()
            is_valid = batch.y == batch.y
            loss = cls_criterion(
                pred.to(torch.float32)[is_valid], batch.y.to(torch.float32)[is_valid]
            )
            loss.backward()
            optimizer.step()
            graphs += batch.num_graphs
    return graphs


@torch.no_grad()
def predict(model, device, loader):
    """``main_pyg.py``'s ``eval`` up to the evaluator: ``(y_true, y_pred)`` numpy arrays."""
    model.eval()
    y_true, y_pred = [], []
    for batch in loader:
        batch = batch.to(device)
        if batch.x.shape[0] == 1:
            pass
        else:
            pred = model(batch)
            y_true.append(batch.y.view(pred.shape).detach().cpu())
            y_pred.append(pred.detach().cpu())
    return torch.cat(y_true, dim=0).numpy(), torch.cat(y_pred, dim=0).numpy()


def build_model(num_tasks: int = 1) -> GNN:
    """``main_pyg.py --gnn gin-virtual`` defaults: 5 layers, width 300, dropout 0.5, JK last."""
    return GNN(num_tasks=num_tasks, num_layer=5, emb_dim=300, drop_ratio=0.5, JK="last")


def build_optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    """``optim.Adam(model.parameters(), lr=0.001)`` as in ``main_pyg.py``."""
    return torch.optim.Adam(model.parameters(), lr=0.001)


def to_data(smiles: str, label: np.ndarray) -> Data:
    """One molecule as ``PygGraphPropPredDataset`` stores it (``read_graph_pyg`` + label)."""
    graph = smiles2graph(smiles)
    data = Data()
    data.num_nodes = int(graph["num_nodes"])
    data.edge_index = torch.from_numpy(graph["edge_index"]).to(torch.int64)
    data.edge_attr = torch.from_numpy(graph["edge_feat"]).to(torch.int64)
    data.x = torch.from_numpy(graph["node_feat"]).to(torch.int64)
    data.y = torch.from_numpy(np.asarray(label)).view(1, -1).to(torch.long)
    return data


def make_loader(data_list: list[Data], batch_size: int = 32, shuffle: bool = True) -> DataLoader:
    """``DataLoader(dataset[split], batch_size=32, shuffle=True, num_workers=0)``."""
    return DataLoader(data_list, batch_size=batch_size, shuffle=shuffle, num_workers=0)
