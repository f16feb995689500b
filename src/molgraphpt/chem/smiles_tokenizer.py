"""Byte-pair encoding of SMILES strings (KV-PLM's SMILES tokens), torch-free.

KV-PLM (Zeng et al., Nat. Commun. 2022) feeds SMILES to its text encoder as BPE sub-words learned
on SMILES. :class:`SmilesTokenizer` does the same with the Hugging Face ``tokenizers`` library:

* Each SMILES is one "word": there is no pre-tokenizer, so merges may cross brackets, bonds and
  ring digits and multi-character atoms such as ``Cl``, ``Br`` or ``[nH]`` become single tokens
  once they are frequent enough in the training SMILES (a whitespace/punctuation pre-tokenizer
  would split ``[nH]`` into ``[``, ``nH``, ``]`` and never merge it back).
* The initial alphabet is every character of the training SMILES plus :data:`SMILES_ALPHABET`,
  so common SMILES characters absent from the training set still encode (not as ``[UNK]``).
* Special tokens have fixed ids: ``[PAD]`` 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4.

:meth:`SmilesTokenizer.encode_batch` returns numpy ``int64`` arrays ``input_ids`` and
``attention_mask`` ``[batch_size, seq_len]``: ``[CLS] tokens [SEP]``, right-padded with ``[PAD]``
to the longest row of the batch, and truncated to ``max_length`` (``[SEP]`` is always kept). The
tokenizer is saved as a standard ``tokenizer.json`` (``tokenizers.Tokenizer.from_file`` reads it).

Every SMILES goes through :func:`~molgraphpt.chem.guards.check_smiles_text` first, the check the
featurizer applies: a non-string, a non-ASCII or control character (which would otherwise become
``[UNK]``, or crash the Rust tokenizer for a lone surrogate) or a SMILES longer than
``max_smiles_length`` raises :class:`~molgraphpt.errors.InvalidSmilesError` naming its position in
the input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt.chem.guards import MAX_SMILES_LENGTH, check_smiles_text
from molgraphpt.errors import (
    ConfigError,
    DataFormatError,
    InvalidSmilesError,
    MissingDependencyError,
)

__all__ = ["SMILES_ALPHABET", "SPECIAL_TOKENS", "SmilesTokenizer"]

#: Special tokens, in id order.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: Characters always in the initial alphabet (organic-subset and common bracket-atom letters,
#: digits, bonds, branches, ring-closure ``%``, charges, chirality ``@``, ``.`` and ``*``).
SMILES_ALPHABET = tuple("BCNOPSFIHKLMRTZabcdegilmnoprstuy0123456789()[]=#$:/\\+-@%.*")


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as err:  # pragma: no cover - a dependency of transformers
        raise MissingDependencyError(
            "SmilesTokenizer needs the 'tokenizers' package: pip install tokenizers"
        ) from err
    return tokenizers


def _checked(smiles: Iterable[str], max_smiles_length: int, *, skip_blank: bool) -> list[str]:
    """Each SMILES stripped and checked (:func:`check_smiles_text`); blanks dropped if asked.

    Raises:
        InvalidSmilesError: A SMILES breaks a rule of :mod:`molgraphpt.chem.guards`; the error
            names its 0-based position in ``smiles``.
    """
    out = []
    for row, smi in enumerate(smiles):
        if skip_blank and isinstance(smi, str) and not smi.strip():
            continue
        try:
            out.append(check_smiles_text(smi, max_smiles_length=max_smiles_length))
        except InvalidSmilesError as err:
            raise err.at(row=row) from None
    return out


class SmilesTokenizer:
    """BPE tokenizer over SMILES characters with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` specials.

    Build one with :meth:`train`, :meth:`load` or :meth:`from_str`; the constructor takes a
    ``tokenizers.Tokenizer`` and checks its special-token ids.

    Raises:
        DataFormatError: The tokenizer lacks a special token or has it at another id.
    """

    def __init__(self, tokenizer: Any) -> None:
        for expected, token in enumerate(SPECIAL_TOKENS):
            found = tokenizer.token_to_id(token)
            if found != expected:
                raise DataFormatError(
                    f"SMILES tokenizer has {token} at id {found}, expected {expected}; it was not "
                    f"made by SmilesTokenizer.train (special tokens must be {list(SPECIAL_TOKENS)})"
                )
        self._tok = tokenizer

    # ----------------------------------------------------------------------------- building

    @classmethod
    def train(
        cls,
        smiles: Iterable[str],
        vocab_size: int = 1000,
        min_frequency: int = 2,
        *,
        max_smiles_length: int = MAX_SMILES_LENGTH,
    ) -> SmilesTokenizer:
        """Learn BPE merges on ``smiles`` (surrounding whitespace stripped, blanks ignored).

        Args:
            smiles: Training SMILES (any iterable; read once).
            vocab_size: Target vocabulary size, specials and alphabet included (the result may be
                smaller when no pair reaches ``min_frequency``).
            min_frequency: Occurrences a pair needs to be merged.
            max_smiles_length: Longest accepted SMILES (see :mod:`molgraphpt.chem.guards`).

        Raises:
            ConfigError: ``vocab_size`` or ``min_frequency`` is out of range.
            DataFormatError: ``smiles`` holds no non-blank string.
            InvalidSmilesError: A SMILES is not a string, is too long or holds a non-ASCII or
                control character (the error names its position).
        """
        minimum = len(SPECIAL_TOKENS) + len(SMILES_ALPHABET)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < minimum:
            raise ConfigError(
                "smiles_tokenizer.vocab_size", vocab_size, expected=f"an integer >= {minimum}"
            )
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int):
            raise ConfigError(
                "smiles_tokenizer.min_frequency", min_frequency, expected="an integer >= 1"
            )
        if min_frequency < 1:
            raise ConfigError(
                "smiles_tokenizer.min_frequency", min_frequency, expected="an integer >= 1"
            )
        if isinstance(smiles, str):
            raise ConfigError(
                "smiles", smiles[:40], expected="an iterable of SMILES strings, not one string"
            )
        data = _checked(smiles, max_smiles_length, skip_blank=True)
        if not data:
            raise DataFormatError(
                "no SMILES to train the SMILES tokenizer on (the input is empty or blank)"
            )
        tk = _tokenizers()
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token="[UNK]"))
        tokenizer.decoder = tk.decoders.Fuse()
        alphabet = sorted(set(SMILES_ALPHABET).union(*map(set, data)))
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
            show_progress=False,
        )
        tokenizer.train_from_iterator(data, trainer=trainer, length=len(data))
        return cls(tokenizer)

    @classmethod
    def from_str(cls, text: str) -> SmilesTokenizer:
        """Rebuild from :meth:`to_str`'s JSON.

        Raises:
            DataFormatError: ``text`` is not a tokenizer JSON made by this class.
        """
        try:
            tokenizer = _tokenizers().Tokenizer.from_str(text)
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise DataFormatError(f"not a valid tokenizer JSON ({err})") from None
        return cls(tokenizer)

    def to_str(self) -> str:
        """The tokenizer as a JSON string (the content of ``tokenizer.json``)."""
        return self._tok.to_str()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``tokenizer.json`` to ``path`` (a file, or a folder to put it in); returns it."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(self.to_str(), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SmilesTokenizer:
        """Read a tokenizer saved by :meth:`save` (a file, or a folder holding tokenizer.json).

        Raises:
            FileNotFoundError: No such file.
            DataFormatError: The file is not a SMILES tokenizer JSON.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"SMILES tokenizer file {path} does not exist; train one with "
                f"SmilesTokenizer.train(...) and save it with .save(path)"
            )
        try:
            return cls.from_str(path.read_text(encoding="utf-8"))
        except DataFormatError as err:
            raise DataFormatError(f"{path}: {err}") from None

    def __getstate__(self) -> dict[str, Any]:
        return {"json": self.to_str()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._tok = _tokenizers().Tokenizer.from_str(state["json"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SmilesTokenizer):
            return NotImplemented
        return json.loads(self.to_str()) == json.loads(other.to_str())

    __hash__ = None  # type: ignore[assignment]

    # ---------------------------------------------------------------------------- using

    @property
    def vocab_size(self) -> int:
        """Number of tokens, specials included."""
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def pad_id(self) -> int:
        """Id of ``[PAD]`` (0)."""
        return 0

    @property
    def unk_id(self) -> int:
        """Id of ``[UNK]`` (1)."""
        return 1

    @property
    def cls_id(self) -> int:
        """Id of ``[CLS]`` (2)."""
        return 2

    @property
    def sep_id(self) -> int:
        """Id of ``[SEP]`` (3)."""
        return 3

    @property
    def mask_id(self) -> int:
        """Id of ``[MASK]`` (4)."""
        return 4

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of every special token."""
        return tuple(range(len(SPECIAL_TOKENS)))

    def get_vocab(self) -> dict[str, int]:
        """Token -> id."""
        return dict(self._tok.get_vocab(with_added_tokens=True))

    def tokenize(self, smiles: str, *, max_smiles_length: int = MAX_SMILES_LENGTH) -> list[str]:
        """The BPE tokens of one SMILES, without ``[CLS]``/``[SEP]``.

        Raises:
            InvalidSmilesError: As :func:`~molgraphpt.chem.guards.check_smiles_text`.
        """
        text = check_smiles_text(smiles, max_smiles_length=max_smiles_length)
        return list(self._tok.encode(text, add_special_tokens=False).tokens)

    def encode_batch(
        self,
        smiles: Sequence[str],
        max_length: int = 64,
        *,
        max_smiles_length: int = MAX_SMILES_LENGTH,
    ) -> dict[str, np.ndarray]:
        """Token ids of a batch of SMILES.

        Args:
            smiles: ``batch_size`` SMILES (surrounding whitespace is stripped).
            max_length: Longest row, ``[CLS]`` and ``[SEP]`` included (>= 2); longer SMILES lose
                their last tokens, never the ``[SEP]``.
            max_smiles_length: Longest accepted SMILES in characters (pass the value the
                molecules were featurized with; see :mod:`molgraphpt.chem.guards`).

        Returns:
            ``{"input_ids": [B, L], "attention_mask": [B, L]}`` int64, ``L`` = the longest row
            of the batch (at most ``max_length``), rows ``[CLS] tokens [SEP] [PAD]...``.

        Raises:
            ConfigError: ``max_length`` is below 2 or ``smiles`` is one string.
            InvalidSmilesError: A SMILES is empty or breaks a rule of
                :mod:`molgraphpt.chem.guards`; the error names its position in the batch.
        """
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ConfigError("smiles_max_length", max_length, expected="an integer >= 2")
        if isinstance(smiles, str):
            raise ConfigError(
                "smiles", smiles[:40], expected="a list of SMILES strings, not one string"
            )
        texts = _checked(smiles, max_smiles_length, skip_blank=False)
        encodings = self._tok.encode_batch(texts, add_special_tokens=False)
        ids = [e.ids[: max_length - 2] for e in encodings]
        width = max((len(i) for i in ids), default=0) + 2
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, tokens in enumerate(ids):
            n = len(tokens)
            input_ids[row, 0] = self.cls_id
            input_ids[row, 1 : n + 1] = tokens
            input_ids[row, n + 1] = self.sep_id
            mask[row, : n + 2] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The SMILES of one row of ids (special tokens, padding included, are dropped)."""
        special = set(self.special_ids)
        kept = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) not in special]
        return str(self._tok.decode(kept, skip_special_tokens=True))

    def __repr__(self) -> str:
        return f"SmilesTokenizer(vocab_size={self.vocab_size})"
