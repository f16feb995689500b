"""Conversion of numpy graphs to PyG ``Data`` and ``Batch`` objects.

:func:`batch_from_tensors` is the one place a ``Batch`` is assembled without
``Batch.from_data_list`` (it sets PyG's private slicing attributes; see its docstring);
:func:`decoded_to_batch` (store rows) and the graph transforms build their batches through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from molgraphpt.data.store import DecodedGraphs

if TYPE_CHECKING:
    from molgraphpt.chem.graph import MolGraph


def to_pyg(graph: MolGraph, y: np.ndarray | None = None) -> Data:
    """Wrap a :class:`~molgraphpt.chem.graph.MolGraph` as a PyG ``Data`` (int64 tensors).

    Args:
        graph: ``x`` [num_nodes, 9], ``edge_index`` [2, num_edges], ``edge_attr`` [num_edges, 3].
        y: Optional targets ``[num_tasks]``, stored as ``y`` ``[1, num_tasks]`` float32.
    """
    data = Data(
        x=torch.from_numpy(np.ascontiguousarray(graph.x, dtype=np.int64)),
        edge_index=torch.from_numpy(np.ascontiguousarray(graph.edge_index, dtype=np.int64)),
        edge_attr=torch.from_numpy(np.ascontiguousarray(graph.edge_attr, dtype=np.int64)),
        num_nodes=int(graph.x.shape[0]),
    )
    if y is not None:
        data.y = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(1, -1)
    return data


def decoded_to_batch(graphs: DecodedGraphs, y: np.ndarray | None = None) -> Batch:
    """Build a PyG ``Batch`` straight from concatenated arrays, without per-graph ``Data`` objects.

    The result is the same as ``Batch.from_data_list`` over the individual graphs (including
    ``ptr``, ``batch`` and the slicing information ``to_data_list`` needs), at a fraction of the
    cost: collation is a handful of vectorized numpy operations; :func:`batch_from_tensors`
    assembles the batch.

    Args:
        graphs: Concatenated graphs from :meth:`GraphStore.decode`.
        y: Optional targets ``[num_graphs, num_tasks]``.
    """
    num_graphs = len(graphs.num_nodes)
    num_nodes = torch.from_numpy(graphs.num_nodes)
    node_ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
    torch.cumsum(num_nodes, 0, out=node_ptr[1:])
    edge_ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
    torch.cumsum(torch.from_numpy(graphs.num_edges), 0, out=edge_ptr[1:])
    # numpy: torch.repeat_interleave parallelizes this tiny op and, with 2+ intra-op threads,
    # spends milliseconds waking them (100x numpy's time, ~8% of a GIN training step).
    graph_ids = np.arange(num_graphs, dtype=np.int64)
    return batch_from_tensors(
        torch.from_numpy(graphs.x),
        torch.from_numpy(graphs.edge_index),
        torch.from_numpy(graphs.edge_attr),
        torch.from_numpy(np.repeat(graph_ids, graphs.num_nodes)),
        node_ptr,
        edge_ptr,
        y=None if y is None else torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
    )


def batch_from_tensors(
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor,
    batch: Tensor,
    node_ptr: Tensor,
    edge_ptr: Tensor,
    y: Tensor | None = None,
) -> Batch:
    """Assemble a PyG ``Batch`` from concatenated graph tensors, as ``Batch.from_data_list`` would.

    The one place molgraphpt builds a ``Batch`` without ``from_data_list``: both
    :func:`decoded_to_batch` (store rows -> batch) and the graph transforms
    (:func:`~molgraphpt.data.transforms.make_batch`) end here. Edges must be grouped by graph
    (graph ``g``'s edges at ``edge_ptr[g]:edge_ptr[g + 1]``) and ``edge_index`` must hold
    batch-global node indices.

    Besides the public ``ptr`` and ``batch``, this sets three private attributes of PyG's
    ``Batch``, which ``from_data_list`` sets and ``Batch.get_example``, ``Batch.to_data_list`` and
    ``Batch.index_select`` / ``batch[idx]`` read (``torch_geometric.data.separate``) to cut a
    batch back into graphs; without them those raise ``RuntimeError`` ("... was not created via
    'Batch.from_data_list()'"):

    * ``_slice_dict[key]``: where each graph's rows of ``key`` start and stop ``[num_graphs + 1]``
      (``node_ptr`` for ``x``, ``edge_ptr`` for ``edge_index`` / ``edge_attr``, ``arange`` for
      ``y``);
    * ``_inc_dict[key]``: what was added to each graph's values when concatenating
      ``[num_graphs]`` (its first node index for ``edge_index``, 0 for the others), subtracted
      again when separating;
    * ``_num_graphs``: the number of graphs (``Batch.num_graphs``; graphs may be empty).

    Checked against PyG 2.8.1 (the version this project is tested with; pyproject allows
    ``>=2.5``): ``tests/unit/data`` compares these batches with ``Batch.from_data_list`` and
    separates them with ``to_data_list`` and ``index_select``. Re-check when upgrading PyG.

    Args:
        x: Atom features ``[num_nodes, 9]``.
        edge_index: Bonds ``[2, num_edges]`` (batch-global node indices, grouped by graph).
        edge_attr: Bond features ``[num_edges, 3]``.
        batch: Graph of each node ``[num_nodes]``, non-decreasing.
        node_ptr: First node of each graph, then ``num_nodes`` ``[num_graphs + 1]`` (int64).
        edge_ptr: First edge of each graph, then ``num_edges`` ``[num_graphs + 1]`` (int64).
        y: Graph-level targets ``[num_graphs, num_tasks]``, or None.

    Returns:
        The batch, on the device of ``x``.
    """
    num_graphs = node_ptr.numel() - 1
    device = x.device
    out = Batch(x=x, edge_index=edge_index, edge_attr=edge_attr, batch=batch, ptr=node_ptr)
    zeros = torch.zeros(num_graphs, dtype=torch.long, device=device)
    slices = {"x": node_ptr, "edge_index": edge_ptr, "edge_attr": edge_ptr}
    incs = {"x": zeros, "edge_index": node_ptr[:-1], "edge_attr": zeros}
    if y is not None:
        out.y = y
        slices["y"] = torch.arange(num_graphs + 1, device=device)
        incs["y"] = zeros
    out._num_graphs = num_graphs
    out._slice_dict = slices
    out._inc_dict = incs
    return out
