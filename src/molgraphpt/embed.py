"""Embedding molecules with a saved model (``Embedder``) — the one SMILES → PyG batch path.

SMILES become model input in one way everywhere outside training: RDKit featurization
(:func:`molgraphpt.chem.parallel.featurize_smiles`), the store's graph assembly
(:func:`molgraphpt.data.store.assemble_graphs`) and :func:`molgraphpt.data.pyg.decoded_to_batch`,
the same arrays and batches the training loaders produce. :func:`smiles_batches` is that path;
:class:`Embedder` and :func:`encode_smiles` (the molecule tower of a molecule–text model, used
by retrieval) run models over it.

Invalid input follows one policy everywhere here, that of
:func:`~molgraphpt.chem.parallel.featurize_smiles`: a value that is not a string (NaN from a pandas
column, None, bytes), an empty, non-ASCII, control-character or over-long SMILES, one RDKit cannot
parse, one with an impossible valence or too many heavy atoms is an
:class:`~molgraphpt.errors.InvalidSmilesError` naming its position with ``on_invalid="raise"``,
and is dropped (its position left out of ``kept``, a warning logged) with ``"skip"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor

from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH
from molgraphpt.chem.parallel import featurize_smiles
from molgraphpt.data.pyg import decoded_to_batch
from molgraphpt.data.store import assemble_graphs
from molgraphpt.errors import ConfigError
from molgraphpt.models.pretrained import load_graph_encoder

if TYPE_CHECKING:
    from torch_geometric.data import Batch

    from molgraphpt.models.moltext import MolTextModel

__all__ = ["Embedder", "encode_smiles", "smiles_batches"]


def smiles_batches(
    smiles: Sequence[str],
    *,
    batch_size: int = 256,
    on_invalid: Literal["raise", "skip"] = "raise",
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> tuple[Iterator[Batch], np.ndarray]:
    """Featurize ``smiles`` once and cut them into PyG batches of ``batch_size`` molecules.

    Args:
        smiles: SMILES strings (any sequence; a non-string item is an invalid SMILES).
        batch_size: Molecules per batch.
        on_invalid: ``raise`` on an invalid SMILES (the error names it and its position), or
            ``skip`` it (the positions left out of ``kept`` are the skipped ones).
        max_smiles_length: Longest accepted SMILES in characters
            (:mod:`molgraphpt.chem.guards`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        ``(batches, kept)``: an iterator of batches (int64 OGB features ``x [n, 9]``,
        ``edge_index [2, e]``, ``edge_attr [e, 3]``) over the kept molecules in input order, and
        ``kept [num_kept]``, their input positions.

    Raises:
        InvalidSmilesError: With ``on_invalid="raise"``, an invalid SMILES (see the module
            docstring).
        ConfigError: ``batch_size``, ``on_invalid`` or a limit is out of range, or ``smiles``
            is a single string.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", batch_size, expected="an integer >= 1")
    if isinstance(smiles, (str, bytes)):  # list() would split it into one-letter "molecules"
        raise ConfigError(
            "smiles", smiles[:40], expected="a sequence of SMILES strings, not one string ([s])"
        )
    feats = featurize_smiles(
        list(smiles),
        on_invalid=on_invalid,
        max_smiles_length=max_smiles_length,
        max_heavy_atoms=max_heavy_atoms,
    )
    atom_ptr = np.concatenate([[0], np.cumsum(feats.num_atoms)])
    bond_ptr = np.concatenate([[0], np.cumsum(feats.num_bonds)])

    def batches() -> Iterator[Batch]:
        for start in range(0, len(feats.num_atoms), batch_size):
            stop = min(start + batch_size, len(feats.num_atoms))
            a0, a1, b0, b1 = atom_ptr[start], atom_ptr[stop], bond_ptr[start], bond_ptr[stop]
            graphs = assemble_graphs(
                feats.atom_feats[a0:a1],
                feats.bond_atoms[b0:b1],
                feats.bond_feats[b0:b1],
                feats.num_atoms[start:stop],
                feats.num_bonds[start:stop],
            )
            yield decoded_to_batch(graphs)

    return batches(), np.asarray(feats.rows, dtype=np.int64)


@torch.no_grad()
def _embed_all(
    embed: Callable[[Batch], Tensor], batches: Iterator[Batch], device: torch.device, dim: int
) -> np.ndarray:
    out = [embed(batch.to(device)).float().cpu().numpy() for batch in batches]
    return np.concatenate(out) if out else np.zeros((0, dim), dtype=np.float32)


class Embedder:
    """Graph-level embeddings of SMILES from the graph encoder of any checkpoint.

    Args:
        encoder: A graph encoder returning :class:`GraphEncoderOutput`.
        device: Where to run it.
    """

    def __init__(self, encoder: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.encoder = encoder.eval().to(device)
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> Embedder:
        """Load the graph encoder of any checkpoint that holds one.

        Graph-pretrained, molecule–text and fine-tuned checkpoints all work: every one keeps its
        graph encoder under the same prefix (:func:`molgraphpt.models.load_graph_encoder`).
        """
        return cls(load_graph_encoder(directory), device)

    def embed_smiles(
        self,
        smiles: Sequence[str],
        *,
        batch_size: int = 256,
        on_invalid: Literal["raise", "skip"] = "raise",
        max_smiles_length: int = MAX_SMILES_LENGTH,
        max_heavy_atoms: int = MAX_HEAVY_ATOMS,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed ``smiles`` with the encoder's readout.

        Args:
            smiles: SMILES strings.
            batch_size: Molecules per forward pass.
            on_invalid: ``raise`` on an invalid SMILES, or ``skip`` it (see the module
                docstring).
            max_smiles_length: Longest accepted SMILES in characters.
            max_heavy_atoms: Most heavy atoms of an accepted molecule.

        Returns:
            ``(embeddings [num_kept, output_dim] float32, kept [num_kept] input positions)``;
            ``len(smiles) - num_kept`` SMILES were skipped.

        Raises:
            InvalidSmilesError: With ``on_invalid="raise"``, the first invalid SMILES.
        """
        batches, kept = smiles_batches(
            smiles,
            batch_size=batch_size,
            on_invalid=on_invalid,
            max_smiles_length=max_smiles_length,
            max_heavy_atoms=max_heavy_atoms,
        )
        dim = int(getattr(self.encoder, "output_dim", 0))
        emb = _embed_all(lambda b: self.encoder(b).graph, batches, self.device, dim)
        return emb, kept


@torch.no_grad()
def encode_smiles(
    model: MolTextModel, smiles: Sequence[str] | str, batch_size: int = 256
) -> Tensor:
    """Embed SMILES through a molecule–text model's graph tower, in eval mode.

    Every SMILES is featurized first, so an invalid one fails before any model work.

    Args:
        model: The molecule–text model (its ``embed_graphs``).
        smiles: The SMILES (a single string is one).
        batch_size: Molecules per forward pass.

    Returns:
        ``[len(smiles), proj_dim]`` float32 on the CPU, L2-normalised, in input order.

    Raises:
        InvalidSmilesError: A SMILES RDKit cannot parse; the message names it and its index.
    """
    smiles = [smiles] if isinstance(smiles, str) else list(smiles)
    batches, _ = smiles_batches(smiles, batch_size=batch_size)
    was_training = model.training
    model.eval()
    try:
        emb = _embed_all(model.embed_graphs, batches, model.device, model.cfg.proj_dim)
    finally:
        model.train(was_training)
    return torch.from_numpy(emb)
