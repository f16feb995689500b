"""Train/valid/test splits of molecule datasets, as index arrays.

Four splitters, each returning a :class:`SplitIndices` of 0-based row indices:

* :func:`scaffold_split`: the deterministic Bemis-Murcko scaffold split of Hu et al. 2020
  (arXiv:1905.12265, pretrain-gnns ``scaffold_split``), which OGB's molecule datasets ship. It
  reproduces OGB's ``split/scaffold/*.csv.gz`` files index for index.
* :func:`random_split`: a seeded random permutation.
* :func:`random_scaffold_split`: pretrain-gnns' ``random_scaffold_split`` (scaffold sets in a seeded
  random order), seed-for-seed.
* :func:`balanced_scaffold_split`: chemprop's ``scaffold_split(..., balanced=True)``, seed-for-seed.

Every seeded splitter builds its own random generator from ``seed`` and never touches a global
RNG. Use :func:`make_split` to pick a splitter by name from a config.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from molgraphpt._logging import rdkit_log_capture
from molgraphpt.chem.guards import (
    MAX_HEAVY_ATOMS,
    MAX_SMILES_LENGTH,
    check_heavy_atoms,
    check_limits,
    check_smiles_text,
)
from molgraphpt.chem.valence import valence_verdict
from molgraphpt.errors import ConfigError, DataFormatError, InvalidSmilesError, UnknownNameError

logger = logging.getLogger(__name__)

SplitKind = Literal["scaffold", "random", "random_scaffold", "balanced_scaffold"]
SPLIT_KINDS: tuple[str, ...] = get_args(SplitKind)
SPLIT_NAMES: tuple[str, str, str] = ("train", "valid", "test")

_FracLike = Sequence[float]
_DEFAULT_FRAC = (0.8, 0.1, 0.1)


@dataclass(frozen=True, eq=False)
class SplitIndices:
    """Row indices of the train, valid and test parts of one dataset.

    The constructor accepts any integer sequences and stores them as read-only, ascending int64
    arrays. It raises :class:`~molgraphpt.errors.DataFormatError` when an index is negative,
    repeated, or in more than one part.

    Attributes:
        train: ``[num_train]`` int64, ascending.
        valid: ``[num_valid]`` int64, ascending.
        test: ``[num_test]`` int64, ascending.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        for name in SPLIT_NAMES:
            object.__setattr__(self, name, _as_index_array(getattr(self, name), name))
        _check_disjoint(self.train, self.valid, self.test)

    @classmethod
    def from_indices(
        cls,
        train: Iterable[int] | np.ndarray,
        valid: Iterable[int] | np.ndarray,
        test: Iterable[int] | np.ndarray,
        *,
        num_total: int | None = None,
    ) -> SplitIndices:
        """Build a validated split, optionally checking the indices against the dataset size.

        Args:
            train: Train row indices, any order.
            valid: Valid row indices, any order.
            test: Test row indices, any order.
            num_total: Number of rows in the dataset; if given, every index must be below it.

        Returns:
            The split, with sorted int64 arrays.

        Raises:
            DataFormatError: An index is not an integer, negative, repeated, in two parts, or
                ``>= num_total``.
        """
        split = cls(
            np.asarray(list(train) if not isinstance(train, np.ndarray) else train),
            np.asarray(list(valid) if not isinstance(valid, np.ndarray) else valid),
            np.asarray(list(test) if not isinstance(test, np.ndarray) else test),
        )
        if num_total is not None:
            for name, idx in split.to_dict().items():
                if idx.size and idx[-1] >= num_total:
                    raise DataFormatError(
                        f"{name} split holds index {int(idx[-1])}, but the dataset has only "
                        f"{num_total} rows (valid indices are 0..{num_total - 1})"
                    )
        return split

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(num_train, num_valid, num_test)``."""
        return (int(self.train.size), int(self.valid.size), int(self.test.size))

    @property
    def num_total(self) -> int:
        """Number of indices in all three parts together."""
        return sum(self.sizes)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Return ``{"train": ..., "valid": ..., "test": ...}``, as OGB's ``get_idx_split``."""
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SplitIndices):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in SPLIT_NAMES)

    def __repr__(self) -> str:
        train, valid, test = self.sizes
        return f"SplitIndices(train={train}, valid={valid}, test={test})"


def _as_index_array(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        arr = np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise DataFormatError(f"{name} indices must be 1-D, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise DataFormatError(f"{name} indices must be integers, got dtype {arr.dtype}")
    arr = np.sort(arr.astype(np.int64, copy=False))
    if arr.size and arr[0] < 0:
        raise DataFormatError(f"{name} indices must be >= 0, got {int(arr[0])}")
    repeated = arr[1:][arr[1:] == arr[:-1]]
    if repeated.size:
        raise DataFormatError(f"{name} split lists index {int(repeated[0])} more than once")
    arr.setflags(write=False)
    return arr


def _check_disjoint(train: np.ndarray, valid: np.ndarray, test: np.ndarray) -> None:
    parts = {"train": train, "valid": valid, "test": test}
    pairs = [("train", "valid"), ("train", "test"), ("valid", "test")]
    for a, b in pairs:
        shared = np.intersect1d(parts[a], parts[b], assume_unique=True)
        if shared.size:
            raise DataFormatError(
                f"the {a} and {b} splits share {shared.size} indices (first: {int(shared[0])}); "
                "each row must be in exactly one split"
            )


# --------------------------------------------------------------------------- scaffolds


def murcko_scaffold(
    smiles: str,
    *,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> str:
    """Return the Bemis-Murcko scaffold SMILES of a molecule.

    Same result as ``MurckoScaffold.MurckoScaffoldSmiles(smiles=..., includeChirality=...)``;
    acyclic molecules have the empty scaffold ``""``. Surrounding whitespace is stripped (OGB's
    esol mapping has trailing spaces). SMILES that current RDKit refuses to sanitize, such as
    hypervalent Al/B/Ge complexes (``CC(=O)O[AlH3](O)O``; 7 HIV and 8 Tox21 rows since RDKit
    2024.09), are parsed without sanitization and partially sanitized (everything but the valence
    check) before the scaffold is taken, so that they still get a scaffold. The text is checked
    first (:func:`~molgraphpt.chem.guards.check_smiles_text`: ASCII, no control characters, at
    most ``max_smiles_length`` characters), and molecules with an impossible valence (an
    over-valent C, N, O, ...: :mod:`molgraphpt.chem.valence`) or more than ``max_heavy_atoms``
    heavy atoms are invalid, as in featurization. RDKit's scaffold code is cubic in the size of
    the molecule: about 0.3 s at 500 heavy atoms, 3 s at 1,000.

    Args:
        smiles: SMILES string.
        include_chirality: Keep stereo marks in the scaffold SMILES (Hu et al. and OGB: True).
        max_smiles_length: Longest accepted SMILES, in characters (see
            :mod:`molgraphpt.chem.guards`); pass the value the molecules were featurized with.
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        Canonical scaffold SMILES.

    Raises:
        InvalidSmilesError: The SMILES is empty, not a string, breaks a rule of
            :mod:`~molgraphpt.chem.guards`, cannot be parsed or has an impossible valence.
        ConfigError: A limit is not a positive integer.
    """
    check_limits(max_smiles_length, max_heavy_atoms)
    with rdkit_log_capture():
        return _murcko(smiles, include_chirality, (max_smiles_length, max_heavy_atoms))[0]


def _murcko(smiles: str, include_chirality: bool, limits: tuple[int, int]) -> tuple[str, bool]:
    """Scaffold of ``smiles`` and whether the unsanitized fallback was needed (no log capture).

    ``limits`` is ``(max_smiles_length, max_heavy_atoms)``.
    """
    text = check_smiles_text(smiles, max_smiles_length=limits[0])
    mol = Chem.MolFromSmiles(text)
    if mol is not None:
        check_heavy_atoms(mol, smiles, limits[1])
        return _scaffold_smiles(mol, include_chirality), False

    mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        raise InvalidSmilesError(smiles, "RDKit cannot parse it (syntax error)")
    verdict = valence_verdict(mol)
    if not verdict.acceptable:
        reason = verdict.reason or "it fails RDKit's sanitization"
        raise InvalidSmilesError(smiles, f"RDKit cannot sanitize it ({reason})")
    check_heavy_atoms(mol, smiles, limits[1])
    try:
        mol.UpdatePropertyCache(strict=False)
        Chem.SanitizeMol(mol, Chem.SANITIZE_ALL ^ Chem.SANITIZE_PROPERTIES, catchErrors=True)
        try:
            scaffold = _scaffold_smiles(mol, include_chirality)
        except ValueError:
            # MurckoScaffold.GetScaffoldForMol recomputes valences strictly, which fails when
            # the hypervalent atom is in a ring and so stays in the scaffold.
            core = Chem.MurckoDecompose(mol)
            core.ClearComputedProps()
            core.UpdatePropertyCache(strict=False)
            Chem.GetSymmSSSR(core)
            scaffold = Chem.MolToSmiles(core, isomericSmiles=include_chirality)
    except (ValueError, RuntimeError) as err:
        raise InvalidSmilesError(smiles, f"RDKit cannot sanitize it ({err})") from err
    logger.debug("scaffold of unsanitizable SMILES %r taken without valence check", smiles)
    return scaffold, True


def _scaffold_smiles(mol: Chem.Mol, include_chirality: bool) -> str:
    scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)
    return scaffold or ""


def group_by_scaffold(
    smiles: Sequence[str],
    *,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> dict[str, list[int]]:
    """Group row indices by Murcko scaffold.

    Args:
        smiles: ``[num_mols]`` SMILES strings.
        include_chirality: Passed to :func:`murcko_scaffold`.
        max_smiles_length: Longest accepted SMILES, in characters (see
            :mod:`molgraphpt.chem.guards`); pass the value the molecules were featurized with.
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        ``{scaffold: ascending row indices}``, scaffolds in order of first appearance.

    Raises:
        InvalidSmilesError: A SMILES has no scaffold; the error names its row.
        ConfigError: A limit is not a positive integer.
    """
    check_limits(max_smiles_length, max_heavy_atoms)
    limits = (max_smiles_length, max_heavy_atoms)
    groups: dict[str, list[int]] = {}
    cache: dict[str, str] = {}
    num_fallback = 0
    with rdkit_log_capture():
        for row, smi in enumerate(smiles):
            scaffold = cache.get(smi) if isinstance(smi, str) else None
            if scaffold is None:
                try:
                    scaffold, fallback = _murcko(smi, include_chirality, limits)
                except InvalidSmilesError as err:
                    raise err.at(row=row) from None
                num_fallback += fallback
                cache[smi] = scaffold
            groups.setdefault(scaffold, []).append(row)
    if num_fallback:
        logger.info(
            "%d of %d SMILES failed RDKit's valence check; their scaffolds were taken from a "
            "partially sanitized molecule",
            num_fallback,
            len(smiles),
        )
    return groups


# --------------------------------------------------------------------------- splitters


def scaffold_split(
    smiles: Sequence[str],
    frac: _FracLike = _DEFAULT_FRAC,
    *,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> SplitIndices:
    """Deterministic scaffold split of Hu et al. 2020 (arXiv:1905.12265), as used by OGB.

    Scaffold groups are ordered by (size, smallest row index), largest first. Each group goes
    to train unless that would take train above ``frac[0] * N``; then to valid unless train +
    valid would exceed ``(frac[0] + frac[1]) * N``; else to test. With the default fractions
    this reproduces OGB's ``split/scaffold`` files (checked on bbbp, bace, esol and freesolv).

    Args:
        smiles: ``[num_mols]`` SMILES strings, in dataset row order.
        frac: ``(train, valid, test)`` fractions, summing to 1.
        include_chirality: Keep stereo marks in scaffolds (True in Hu et al. and OGB).
        max_smiles_length: Longest accepted SMILES (see :func:`murcko_scaffold`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The split.

    Raises:
        ConfigError: ``frac`` is not three non-negative numbers summing to 1.
        InvalidSmilesError: A SMILES cannot be parsed.
    """
    limits = {"max_smiles_length": max_smiles_length, "max_heavy_atoms": max_heavy_atoms}
    frac_train, frac_valid, _ = _check_frac(frac)
    groups = group_by_scaffold(smiles, include_chirality=include_chirality, **limits).values()
    ordered = sorted(groups, key=lambda group: (len(group), group[0]), reverse=True)
    train_cutoff = frac_train * len(smiles)
    valid_cutoff = (frac_train + frac_valid) * len(smiles)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in ordered:
        if len(train) + len(group) > train_cutoff:
            if len(train) + len(valid) + len(group) > valid_cutoff:
                test.extend(group)
            else:
                valid.extend(group)
        else:
            train.extend(group)
    return SplitIndices(np.asarray(train), np.asarray(valid), np.asarray(test))


def random_split(n: int, frac: _FracLike = _DEFAULT_FRAC, *, seed: int) -> SplitIndices:
    """Seeded random split of ``n`` rows.

    Rows are permuted with ``numpy.random.default_rng(seed)``; the first ``int(frac[0] * n)``
    go to train, the next ``int(frac[1] * n)`` to valid and the rest to test.

    Args:
        n: Number of rows.
        frac: ``(train, valid, test)`` fractions, summing to 1.
        seed: Seed in ``[0, 2**32)``.

    Returns:
        The split.

    Raises:
        ConfigError: ``n`` is negative, ``frac`` is invalid, or ``seed`` is out of range.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError("split.num_rows", n, expected="a non-negative int")
    frac_train, frac_valid, _ = _check_frac(frac)
    perm = np.random.default_rng(_check_seed(seed)).permutation(int(n))
    num_train = int(frac_train * n)
    num_valid = int(frac_valid * n)
    return SplitIndices(
        perm[:num_train], perm[num_train : num_train + num_valid], perm[num_train + num_valid :]
    )


def random_scaffold_split(
    smiles: Sequence[str],
    frac: _FracLike = _DEFAULT_FRAC,
    *,
    seed: int,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> SplitIndices:
    """Random scaffold split of pretrain-gnns (Hu et al. 2020, ``random_scaffold_split``).

    Scaffold groups are put in a random order drawn from ``numpy.random.RandomState(seed)``
    (the generator pretrain-gnns uses, so a seed gives the same split as there). Walking that
    order, a group goes to valid while valid stays within ``floor(frac[1] * N)``, else to test
    while test stays within ``floor(frac[2] * N)``, else to train. Valid and test therefore
    never exceed their share, and train takes what does not fit.

    Args:
        smiles: ``[num_mols]`` SMILES strings, in dataset row order.
        frac: ``(train, valid, test)`` fractions, summing to 1.
        seed: Seed in ``[0, 2**32)``.
        include_chirality: Keep stereo marks in scaffolds (pretrain-gnns: True).
        max_smiles_length: Longest accepted SMILES (see :func:`murcko_scaffold`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The split.

    Raises:
        ConfigError: ``frac`` or ``seed`` is invalid.
        InvalidSmilesError: A SMILES cannot be parsed.
    """
    limits = {"max_smiles_length": max_smiles_length, "max_heavy_atoms": max_heavy_atoms}
    _, frac_valid, frac_test = _check_frac(frac)
    rng = np.random.RandomState(_check_seed(seed))
    groups = list(group_by_scaffold(smiles, include_chirality=include_chirality, **limits).values())
    max_valid = math.floor(frac_valid * len(smiles))
    max_test = math.floor(frac_test * len(smiles))
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for i in rng.permutation(len(groups)):
        group = groups[i]
        if len(valid) + len(group) <= max_valid:
            valid.extend(group)
        elif len(test) + len(group) <= max_test:
            test.extend(group)
        else:
            train.extend(group)
    return SplitIndices(np.asarray(train), np.asarray(valid), np.asarray(test))


def balanced_scaffold_split(
    smiles: Sequence[str],
    frac: _FracLike = _DEFAULT_FRAC,
    *,
    seed: int,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> SplitIndices:
    """Balanced scaffold split of chemprop (``scaffold_split(..., balanced=True)``).

    Groups larger than half the valid size or half the test size ("big" groups) come first, so
    they land in train; then the other groups. Each of the two lists is shuffled with
    ``random.Random(seed)`` (a private generator, as in chemprop, so a seed gives chemprop's
    split; chemprop computes scaffolds with ``include_chirality=False``). A group goes to train
    while train stays within ``frac[0] * N``, else to valid while valid stays within
    ``frac[1] * N``, else to test.

    Args:
        smiles: ``[num_mols]`` SMILES strings, in dataset row order.
        frac: ``(train, valid, test)`` fractions, summing to 1.
        seed: Seed in ``[0, 2**32)``.
        include_chirality: Keep stereo marks in scaffolds.
        max_smiles_length: Longest accepted SMILES (see :func:`murcko_scaffold`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The split.

    Raises:
        ConfigError: ``frac`` or ``seed`` is invalid.
        InvalidSmilesError: A SMILES cannot be parsed.
    """
    limits = {"max_smiles_length": max_smiles_length, "max_heavy_atoms": max_heavy_atoms}
    frac_train, frac_valid, frac_test = _check_frac(frac)
    rng = random.Random(_check_seed(seed))
    groups = group_by_scaffold(smiles, include_chirality=include_chirality, **limits).values()
    train_size, valid_size, test_size = (
        f * len(smiles) for f in (frac_train, frac_valid, frac_test)
    )
    big = [g for g in groups if len(g) > valid_size / 2 or len(g) > test_size / 2]
    small = [g for g in groups if not (len(g) > valid_size / 2 or len(g) > test_size / 2)]
    rng.shuffle(big)
    rng.shuffle(small)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in big + small:
        if len(train) + len(group) <= train_size:
            train.extend(group)
        elif len(valid) + len(group) <= valid_size:
            valid.extend(group)
        else:
            test.extend(group)
    return SplitIndices(np.asarray(train), np.asarray(valid), np.asarray(test))


def make_split(
    kind: SplitKind,
    smiles: Sequence[str],
    frac: _FracLike = _DEFAULT_FRAC,
    seed: int = 0,
    *,
    include_chirality: bool = True,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> SplitIndices:
    """Split a dataset with the splitter named ``kind``.

    Args:
        kind: One of ``"scaffold"``, ``"random"``, ``"random_scaffold"``, ``"balanced_scaffold"``.
        smiles: ``[num_mols]`` SMILES strings (``"random"`` only uses their number).
        frac: ``(train, valid, test)`` fractions, summing to 1.
        seed: Seed for the seeded splitters; ignored by ``"scaffold"``.
        include_chirality: Passed to the scaffold splitters.
        max_smiles_length: Longest accepted SMILES (see :func:`murcko_scaffold`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The split.

    Raises:
        UnknownNameError: ``kind`` is not a known splitter.
        ConfigError: ``frac`` or ``seed`` is invalid.
        InvalidSmilesError: A SMILES cannot be parsed (scaffold splitters).
    """
    limits = {"max_smiles_length": max_smiles_length, "max_heavy_atoms": max_heavy_atoms}
    splitters: dict[str, Callable[[], SplitIndices]] = {
        "scaffold": lambda: scaffold_split(
            smiles, frac, include_chirality=include_chirality, **limits
        ),
        "random": lambda: random_split(len(smiles), frac, seed=seed),
        "random_scaffold": lambda: random_scaffold_split(
            smiles, frac, seed=seed, include_chirality=include_chirality, **limits
        ),
        "balanced_scaffold": lambda: balanced_scaffold_split(
            smiles, frac, seed=seed, include_chirality=include_chirality, **limits
        ),
    }
    if kind not in splitters:
        raise UnknownNameError("split", kind, choices=SPLIT_KINDS)
    return splitters[kind]()


# --------------------------------------------------------------------------- validation


def _check_frac(frac: _FracLike) -> tuple[float, float, float]:
    expected = "three non-negative numbers (train, valid, test) summing to 1, e.g. (0.8, 0.1, 0.1)"
    try:
        values = tuple(frac)
    except TypeError:
        raise ConfigError("split.frac", frac, expected=expected) from None
    if len(values) != 3 or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values
    ):
        raise ConfigError("split.frac", frac, expected=expected)
    floats = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v >= 0 for v in floats) or abs(sum(floats) - 1.0) > 1e-6:
        raise ConfigError("split.frac", frac, expected=expected, hint=f"they sum to {sum(floats)}")
    return floats  # type: ignore[return-value]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError("split.seed", seed, expected="an int in [0, 2**32)")
    return int(seed)
