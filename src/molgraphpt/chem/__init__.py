"""molgraphpt.chem: SMILES → RDKit → numpy graphs with OGB's categorical features. No torch.

* :mod:`~molgraphpt.chem.guards`: what every SMILES must be before RDKit sees it (a string, ASCII,
  no control characters, at most :data:`MAX_SMILES_LENGTH` characters; at most
  :data:`MAX_HEAVY_ATOMS` heavy atoms once parsed).
* :mod:`~molgraphpt.chem.smiles`: :func:`parse_smiles` and the policy for molecules RDKit will
  not sanitize (the valence rule of :mod:`~molgraphpt.chem.valence`); :func:`canonical_smiles`.
* :mod:`~molgraphpt.chem.features`: the OGB vocabularies and feature dimensions.
* :mod:`~molgraphpt.chem.graph`: :class:`MolGraph`, :func:`smiles_to_graph` (same arrays as
  ``ogb.utils.smiles2graph``, faster), :func:`mol_to_arrays` (the compact form the cache stores).
* :mod:`~molgraphpt.chem.parallel`: :func:`featurize_smiles` for many SMILES, in worker processes.
"""

from molgraphpt.chem.features import (
    ATOM_FEATURE_DIMS,
    ATOM_FEATURE_NAMES,
    ATOM_VOCABS,
    BOND_FEATURE_DIMS,
    BOND_FEATURE_NAMES,
    BOND_VOCABS,
    FEATURIZER_VERSION,
    MASK_ATOM_TYPE,
    atom_features,
    bond_features,
)
from molgraphpt.chem.graph import (
    MolGraph,
    arrays_to_graph,
    mol_to_arrays,
    mol_to_graph,
    smiles_to_graph,
)
from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH
from molgraphpt.chem.parallel import FeaturizedChunk, featurize_smiles
from molgraphpt.chem.smiles import ParsedMol, Unsanitizable, canonical_smiles, parse_smiles

__all__ = [
    "ATOM_FEATURE_DIMS",
    "ATOM_FEATURE_NAMES",
    "ATOM_VOCABS",
    "BOND_FEATURE_DIMS",
    "BOND_FEATURE_NAMES",
    "BOND_VOCABS",
    "FEATURIZER_VERSION",
    "MASK_ATOM_TYPE",
    "MAX_HEAVY_ATOMS",
    "MAX_SMILES_LENGTH",
    "FeaturizedChunk",
    "MolGraph",
    "ParsedMol",
    "Unsanitizable",
    "arrays_to_graph",
    "atom_features",
    "bond_features",
    "canonical_smiles",
    "featurize_smiles",
    "mol_to_arrays",
    "mol_to_graph",
    "parse_smiles",
    "smiles_to_graph",
]
