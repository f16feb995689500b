"""Atom masking: Hu et al. 2020's ``MaskAtom`` (:func:`mask_atoms`) and GraphCL's ``maskN``.

:func:`mask_atoms` masks ``floor(n * rate) + 1`` atoms per graph (optionally their bonds too) and
returns a :class:`MaskedGraph` with the masked positions and their original types as targets;
:func:`mask_attributes` masks ``floor(n * rate)`` atoms as a GraphCL augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.chem.features import BOND_FEATURE_DIMS
from molgraphpt.data.transforms._batch import (
    _check_rate,
    _counts,
    _mask_rows,
    _parts,
    _scaled_count,
    make_batch,
    random_rank,
)
from molgraphpt.data.transforms.augment import _augment, _choice

#: Bond-type index given to masked bonds: OGB's ``misc`` bucket (the bond embedding has no
#: dedicated mask row; ``misc`` bonds are vanishingly rare in drug-like molecules).
MASK_BOND_TYPE: int = BOND_FEATURE_DIMS[0] - 1


@dataclass(frozen=True)
class MaskedGraph:
    """A batch with masked atoms, and what was masked.

    Attributes:
        graph: The corrupted batch (same nodes and edges as the input).
        index: Indices of the masked atoms in ``graph`` ``[num_masked]`` (ascending).
        target: Original atom type (column 0) of each masked atom ``[num_masked]``.
        bond_index: Position in ``edge_index`` of the first direction of every bond touching a
            masked atom ``[num_masked_bonds]``, or None when bonds were not masked.
        bond_target: Original bond type (column 0) of those bonds ``[num_masked_bonds]``, or None.
    """

    graph: Batch
    index: Tensor
    target: Tensor
    bond_index: Tensor | None = None
    bond_target: Tensor | None = None


def mask_atoms(
    graph: Batch,
    rate: float,
    *,
    generator: torch.Generator | None = None,
    mask_bonds: bool = False,
    keep_features: bool = False,
) -> MaskedGraph:
    """Mask ``floor(n * rate) + 1`` random atoms of every graph (Hu et al. 2020's ``MaskAtom``).

    A masked atom gets ``x[:, 0] = MASK_ATOM_TYPE``; its 8 other columns are set to 0 (Hu et al.
    set the atom type to the mask token and the chirality, the only other column they had, to 0),
    or kept with ``keep_features=True``. With ``mask_bonds``, every bond touching a masked atom
    gets bond type :data:`MASK_BOND_TYPE` and its other columns set to 0 (both directions), and
    its original bond type is returned as a target.

    Args:
        graph: Input batch (not modified).
        rate: Fraction of atoms to mask, in ``[0, 1)``; 0 masks nothing.
        generator: Source of randomness (None: torch's global RNG).
        mask_bonds: Also mask the bonds touching masked atoms.
        keep_features: Keep the non-type atom columns of masked atoms.

    Returns:
        :class:`MaskedGraph`.
    """
    _check_rate("mask_atoms.rate", rate)
    x, edge_index, edge_attr, batch, num_graphs = _parts(graph)
    if rate > 0:
        count = _scaled_count(_counts(batch, num_graphs), rate, plus_one=True)
        masked = random_rank(batch, num_graphs, generator) < count[batch]
    else:
        masked = torch.zeros(x.size(0), dtype=torch.bool, device=x.device)
    index = masked.nonzero().view(-1)
    target = x[index, 0]
    new_x = _mask_rows(x, masked, keep_features)
    bond_index = bond_target = None
    new_attr = edge_attr
    if mask_bonds:
        touched = masked[edge_index[0, 0::2]] | masked[edge_index[1, 0::2]]  # [num_bonds]
        bond_index = touched.nonzero().view(-1) * 2
        bond_target = edge_attr[bond_index, 0]
        edge_touched = touched.repeat_interleave(2)
        token = torch.zeros(edge_attr.size(1), dtype=edge_attr.dtype, device=edge_attr.device)
        token[0] = MASK_BOND_TYPE
        new_attr = edge_attr.clone()
        new_attr[edge_touched] = token
    out = make_batch(new_x, edge_index, new_attr, batch, num_graphs, like=graph)
    return MaskedGraph(out, index, target, bond_index, bond_target)


def mask_attributes(graph: Batch, rate: float, generator: torch.Generator | None = None) -> Batch:
    """Mask the features of ``floor(n * rate)`` random atoms per graph (GraphCL's ``maskN``).

    Masked atoms get the mask atom type and 0 in the other columns, as in :func:`mask_atoms`.
    (GraphCL replaced them by the mean feature vector, which has no meaning for categorical
    features; the mask token is its categorical counterpart.)

    Args:
        graph: Input batch (not modified).
        rate: Fraction of atoms to mask, in ``[0, 1)``.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        The corrupted batch.
    """
    _check_rate("mask_attributes.rate", rate)
    return _augment(graph, _choice(graph, "mask_attributes"), rate, generator)
