"""Pure, seeded, vectorized corruptions of a whole PyG ``Batch`` of molecular graphs.

Every function here takes a batch of OGB-featurized molecules (``x`` ``[num_nodes, 9]``,
``edge_index`` ``[2, num_edges]`` with the two directions of each bond at consecutive positions
``2b, 2b + 1``, ``edge_attr`` ``[num_edges, 3]``, ``batch`` ``[num_nodes]``) and returns *new*
tensors; the input is never modified. Every graph is corrupted at once with tensor operations (no
per-graph Python loop), and the output is again a valid batch: the same number of graphs (a graph
may lose nodes but never disappears), a consistent ``batch`` / ``ptr``, bonds still stored as
consecutive direction pairs, no edge across graphs, edges grouped by graph. One-atom molecules and
molecules without bonds are handled.

Randomness: each function takes ``generator: torch.Generator | None``. ``None`` draws from torch's
global RNG of the batch's device (the one the training loop saves and restores on resume); a
generator draws on its own device and the draws are moved to the batch's device.

Counts follow the reference implementations: ``mask_atoms`` masks ``floor(n * rate) + 1`` atoms
(Hu et al.'s ``MaskAtom``), ``drop_nodes`` / ``mask_attributes`` / ``perturb_edges`` corrupt
``floor(n * rate)`` nodes or bonds and ``subgraph`` keeps ``floor(n * keep_ratio) + 1`` nodes
(GraphCL's chem augmentations), all capped to what the graph has.
"""

from __future__ import annotations

from molgraphpt.data.transforms._batch import induced_subgraph, make_batch, random_rank
from molgraphpt.data.transforms.augment import (
    AUGMENTATIONS,
    augment,
    drop_nodes,
    perturb_edges,
    subgraph,
)
from molgraphpt.data.transforms.context import (
    ContextPair,
    hop_distance,
    k_hop_context,
    negative_pairs,
    sample_centers,
)
from molgraphpt.data.transforms.masking import (
    MASK_BOND_TYPE,
    MaskedGraph,
    mask_atoms,
    mask_attributes,
)
from molgraphpt.data.transforms.tokens import IGNORE_INDEX, MaskedTokens, mask_tokens

__all__ = [
    "AUGMENTATIONS",
    "IGNORE_INDEX",
    "MaskedTokens",
    "mask_tokens",
    "MASK_BOND_TYPE",
    "ContextPair",
    "MaskedGraph",
    "augment",
    "drop_nodes",
    "hop_distance",
    "induced_subgraph",
    "k_hop_context",
    "make_batch",
    "mask_atoms",
    "mask_attributes",
    "negative_pairs",
    "perturb_edges",
    "random_rank",
    "sample_centers",
    "subgraph",
]
