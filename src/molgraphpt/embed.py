"""Embedding molecules with a saved model (``molgraphpt embed``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from molgraphpt.chem.parallel import featurize_smiles
from molgraphpt.data.pyg import decoded_to_batch
from molgraphpt.data.store import assemble_graphs
from molgraphpt.models.heads import PropertyModel, PropertyModelConfig
from molgraphpt.models.serialization import load_pretrained


class Embedder:
    """Graph-level embeddings of SMILES from a ``save_pretrained`` directory.

    Args:
        encoder: A graph encoder returning :class:`GraphEncoderOutput`.
        device: Where to run it.
    """

    def __init__(self, encoder: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.encoder = encoder.eval().to(device)
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> Embedder:
        """Load the graph encoder of a fine-tuned model directory."""
        model, _ = load_pretrained(directory, PropertyModelConfig, PropertyModel)
        return cls(model.encoder, device)

    @torch.no_grad()
    def embed_smiles(
        self,
        smiles: Sequence[str],
        *,
        batch_size: int = 256,
        on_invalid: Literal["raise", "skip"] = "raise",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed ``smiles``.

        Args:
            smiles: SMILES strings.
            batch_size: Molecules per forward pass.
            on_invalid: ``raise`` on an invalid SMILES, or ``skip`` it.

        Returns:
            ``(embeddings [num_kept, output_dim] float32, kept [num_kept] input positions)``.
        """
        feats = featurize_smiles(list(smiles), on_invalid=on_invalid)
        atom_ptr = np.concatenate([[0], np.cumsum(feats.num_atoms)])
        bond_ptr = np.concatenate([[0], np.cumsum(feats.num_bonds)])
        out = []
        for start in range(0, len(feats.num_atoms), batch_size):
            stop = min(start + batch_size, len(feats.num_atoms))
            out.append(self._embed_slice(feats, atom_ptr, bond_ptr, start, stop))
        dim = getattr(self.encoder, "output_dim", 0)
        emb = np.concatenate(out) if out else np.zeros((0, dim), dtype=np.float32)
        return emb, np.asarray(feats.rows, dtype=np.int64)

    def _embed_slice(self, feats, atom_ptr, bond_ptr, start: int, stop: int) -> np.ndarray:  # noqa: ANN001
        a0, a1, b0, b1 = atom_ptr[start], atom_ptr[stop], bond_ptr[start], bond_ptr[stop]
        graphs = assemble_graphs(
            feats.atom_feats[a0:a1],
            feats.bond_atoms[b0:b1],
            feats.bond_feats[b0:b1],
            feats.num_atoms[start:stop],
            feats.num_bonds[start:stop],
        )
        batch = decoded_to_batch(graphs).to(self.device)
        return self.encoder(batch).graph.float().cpu().numpy()
