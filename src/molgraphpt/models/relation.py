"""Relation classification over a sentence with two marked entities (Baldini Soares et al. 2019).

:class:`RelationModel` holds a Hugging Face encoder (:class:`~molgraphpt.models.text.TextEncoder`)
whose tokenizer has four extra special tokens, the entity markers ``[E1] head [/E1]`` and
``[E2] tail [/E2]`` (the embedding table is resized for them), and a dropout + linear classifier
over either the concatenated hidden states of the two start markers (``"entity_start"``, the
best variant of "Matching the Blanks") or the ``[CLS]`` state (``"cls"``).

:meth:`RelationModel.encode` turns sentences and their entity spans into token ids: the markers
are inserted around the spans, and a sentence longer than ``max_length`` is cut to a window
around the two entities (or, when even they do not fit, to two windows starting at the two start
markers), so both start markers are kept; :class:`RelationEncoding` counts the truncated rows and
the rows where an entity lost tokens.

Checkpoint directory (the base class's ``save_pretrained``)::

    config.yaml        RelationModelConfig (labels included)
    model.safetensors  the classifier (the transformer's weights are in text/)
    text/              the Hugging Face model + tokenizer, markers included (loads with a bare
                       AutoModel / AutoTokenizer)
    meta.json          provenance
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from molgraphpt.errors import ConfigError, ShapeError
from molgraphpt.models.pretrained import PretrainedModel
from molgraphpt.models.serialization import require_checkpoint
from molgraphpt.models.text import TextEncoder, TextEncoderConfig

__all__ = ["RelationEncoding", "RelationModel", "RelationModelConfig", "insert_markers"]

TEXT_DIR = "text"
TEXT_PREFIX = "text.model."
POOLINGS: tuple[str, ...] = ("entity_start", "cls")
DEFAULT_MARKERS: tuple[str, str, str, str] = ("[E1]", "[/E1]", "[E2]", "[/E2]")


@dataclass(frozen=True)
class RelationModelConfig:
    """Architecture of a relation classifier.

    Args:
        text: The encoder (``name_or_path``: an alias, an HF directory, a hub name, or the
            ``text/`` folder of a molecule–text checkpoint); ``text.max_length`` is the
            tokenization length of :meth:`RelationModel.encode`.
        num_labels: Number of relation labels.
        labels: The label names, in id order (``len(labels) == num_labels``).
        pooling: ``"entity_start"`` (concatenate the hidden states at ``[E1]`` and ``[E2]``) or
            ``"cls"``.
        dropout: Dropout before the classifier.
        markers: The four marker tokens ``(head open, head close, tail open, tail close)``,
            added to the tokenizer as special tokens.
        negative_label: The "no relation" label, if any (recorded for evaluation).

    Raises:
        ConfigError: A value is out of range.
    """

    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    num_labels: int = 2
    labels: tuple[str, ...] = ()
    pooling: Literal["entity_start", "cls"] = "entity_start"
    dropout: float = 0.1
    markers: tuple[str, str, str, str] = DEFAULT_MARKERS
    negative_label: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, TextEncoderConfig):
            raise ConfigError("model.text", self.text, expected="a TextEncoderConfig")
        if isinstance(self.num_labels, bool) or not isinstance(self.num_labels, int):
            raise ConfigError("model.num_labels", self.num_labels, expected="an integer >= 2")
        if self.num_labels < 2:
            raise ConfigError("model.num_labels", self.num_labels, expected="an integer >= 2")
        if self.labels and len(self.labels) != self.num_labels:
            raise ConfigError(
                "model.labels", list(self.labels), expected=f"{self.num_labels} label names"
            )
        if self.pooling not in POOLINGS:
            raise ConfigError("model.pooling", self.pooling, expected=f"one of {POOLINGS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout", self.dropout, expected="a float in [0, 1)")
        if len(set(self.markers)) != 4 or any(not m.strip() for m in self.markers):
            raise ConfigError("model.markers", self.markers, expected="four distinct tokens")
        if self.negative_label is not None and self.negative_label not in self.labels:
            raise ConfigError(
                "model.negative_label", self.negative_label, expected="one of model.labels"
            )


@dataclass
class RelationEncoding:
    """Token ids of sentences with entity markers.

    Attributes:
        input_ids: One list of ids per sentence (special tokens included, unpadded).
        head_pos: Position of the head start marker ``[E1]`` in each.
        tail_pos: Position of the tail start marker ``[E2]`` in each.
        truncated: Sentences longer than ``max_length`` (cut to a window).
        entity_cut: Sentences where a window cut tokens of an entity (an end marker lost).
    """

    input_ids: list[list[int]]
    head_pos: list[int]
    tail_pos: list[int]
    truncated: int = 0
    entity_cut: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


def insert_markers(
    text: str, head: tuple[int, int], tail: tuple[int, int], markers: Sequence[str]
) -> str:
    """``text`` with ``markers[0] head markers[1]`` and ``markers[2] tail markers[3]`` inserted.

    Nested spans are handled (the inner entity's markers sit inside the outer's).

    Raises:
        ShapeError: A span is empty or outside the text.
    """
    for name, (a, b) in (("head", head), ("tail", tail)):
        if not 0 <= a < b <= len(text):
            raise ShapeError(f"{name} span {(a, b)} is not inside a text of {len(text)} characters")
    events = []  # (position, order, marker): closes before opens at one position
    for (a, b), (opener, closer) in ((head, markers[:2]), (tail, markers[2:])):
        events.append((a, 1, -(b - a), f" {opener} "))
        events.append((b, 0, b - a, f" {closer} "))
    events.sort()
    out, last = [], 0
    for position, _, _, marker in events:
        out.append(text[last:position])
        out.append(marker)
        last = position
    out.append(text[last:])
    return "".join(out)


class RelationModel(PretrainedModel):
    """A text encoder with entity markers and a relation classifier.

    Args:
        cfg: The architecture.
        text: The encoder (default: loaded from ``cfg.text``); the markers are added to its
            tokenizer and its embedding table resized when they are new.

    Attributes:
        text: The :class:`TextEncoder` (state-dict prefix ``"text."``).
        classifier: ``Linear(k * hidden, num_labels)``, ``k`` = 2 for ``entity_start``.
        marker_ids: Token ids of the four markers.
    """

    model_type = "relation"
    config_class = RelationModelConfig

    def __init__(self, cfg: RelationModelConfig, text: TextEncoder | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.text = text if text is not None else TextEncoder.from_config(cfg.text)
        self.marker_ids = _add_markers(self.text, cfg.markers)
        width = self.text.hidden_size * (2 if cfg.pooling == "entity_start" else 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(width, cfg.num_labels)

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names (``label_<i>`` when the config has none)."""
        return self.cfg.labels or tuple(f"label_{i}" for i in range(self.cfg.num_labels))

    # ------------------------------------------------------------------------------ running

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, head_pos: Tensor, tail_pos: Tensor
    ) -> Tensor:
        """Logits ``[batch, num_labels]``.

        Args:
            input_ids: ``[batch, seq_len]`` token ids (from :meth:`encode`, padded).
            attention_mask: ``[batch, seq_len]``, 1 for tokens, 0 for padding.
            head_pos: ``[batch]`` positions of the head start marker.
            tail_pos: ``[batch]`` positions of the tail start marker.

        Raises:
            ShapeError: The shapes do not agree.
        """
        if input_ids.dim() != 2 or head_pos.shape != (len(input_ids),):
            raise ShapeError(
                f"RelationModel.forward needs input_ids [batch, seq_len] and head_pos/tail_pos "
                f"[batch]; got {tuple(input_ids.shape)}, {tuple(head_pos.shape)}, "
                f"{tuple(tail_pos.shape)}"
            )
        tokens = self.text(input_ids, attention_mask).tokens  # [B, L, H]
        if self.cfg.pooling == "entity_start":
            rows = torch.arange(len(tokens), device=tokens.device)
            pooled = torch.cat([tokens[rows, head_pos], tokens[rows, tail_pos]], dim=-1)
        else:
            pooled = tokens[:, 0]
        return self.classifier(self.dropout(pooled))

    def encode(
        self,
        texts: Sequence[str],
        heads: Sequence[tuple[int, int]],
        tails: Sequence[tuple[int, int]],
        max_length: int | None = None,
    ) -> RelationEncoding:
        """Token ids of sentences with markers around their entity spans (see module doc).

        Args:
            texts: Sentences without markers.
            heads: ``(start, end)`` character span of each head entity (end exclusive).
            tails: Span of each tail entity.
            max_length: Tokens per sentence, special tokens included (default
                ``cfg.text.max_length``); at least 8.

        Raises:
            ShapeError: The three lists differ in length, or a span is outside its text.
            ConfigError: ``max_length`` < 8.
        """
        if not len(texts) == len(heads) == len(tails):
            raise ShapeError(
                f"encode needs one head and tail span per text: {len(texts)} texts, "
                f"{len(heads)} heads, {len(tails)} tails"
            )
        max_length = max_length or self.cfg.text.max_length
        if max_length < 8:
            raise ConfigError("max_length", max_length, expected="an integer >= 8")
        tokenizer = self.text.tokenizer
        prefix, suffix = _special_template(tokenizer, self.cfg.markers[0], self.marker_ids[0])
        budget = max_length - len(prefix) - len(suffix)
        marked = [
            insert_markers(t, h, s, self.cfg.markers)
            for t, h, s in zip(texts, heads, tails, strict=True)
        ]
        ids_list = tokenizer(marked, add_special_tokens=False)["input_ids"] if marked else []
        out = RelationEncoding([], [], [])
        for ids in ids_list:
            window, cut = _window(list(ids), self.marker_ids, budget)
            out.truncated += int(len(ids) > budget)
            out.entity_cut += int(cut)
            full = prefix + window + suffix
            out.input_ids.append(full)
            out.head_pos.append(full.index(self.marker_ids[0]))
            out.tail_pos.append(full.index(self.marker_ids[2]))
        return out

    # -------------------------------------------------------------------------- checkpoint

    def _weights_skip(self) -> tuple[str, ...]:
        return (TEXT_PREFIX,)

    def _layout_info(self) -> dict[str, Any]:
        return {"text_dir": TEXT_DIR}

    def _extra_files(self, tmp: Path) -> None:
        self.text.save(tmp / TEXT_DIR)

    @classmethod
    def _build_from_checkpoint(cls, directory: Path, cfg: RelationModelConfig) -> RelationModel:
        require_checkpoint(directory, f"{TEXT_DIR}/config.json")
        return cls(cfg, TextEncoder.load(directory / TEXT_DIR, cfg.text))


def _add_markers(text: TextEncoder, markers: Sequence[str]) -> tuple[int, int, int, int]:
    """Add the marker tokens to the tokenizer (resizing the embeddings); their ids."""
    from transformers import AddedToken

    tokenizer = text.tokenizer
    vocab = tokenizer.get_vocab()
    new = [m for m in markers if m not in vocab]
    if new:
        tokens = [AddedToken(m, special=True, normalized=False) for m in new]
        tokenizer.add_tokens(tokens, special_tokens=True)
    if len(tokenizer) > text.vocab_size:
        text.model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    ids = tuple(int(tokenizer.convert_tokens_to_ids(m)) for m in markers)
    unk = getattr(tokenizer, "unk_token_id", None)
    if len(set(ids)) != 4 or (unk is not None and unk in ids):
        raise ConfigError(
            "model.markers", tuple(markers), expected="tokens the tokenizer keeps whole"
        )
    return ids[0], ids[1], ids[2], ids[3]


def _special_template(tokenizer: Any, marker: str, marker_id: int) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer puts before and after a single sequence ([CLS] / [SEP])."""
    ids = list(tokenizer(marker, add_special_tokens=True)["input_ids"])
    at = ids.index(marker_id)
    return ids[:at], ids[at + 1 :]


def _window(ids: list[int], marker_ids: Sequence[int], budget: int) -> tuple[list[int], bool]:
    """At most ``budget`` ids keeping both start markers; whether an entity lost tokens."""
    if len(ids) <= budget:
        return ids, False
    where = {m: ids.index(m) for m in marker_ids if m in ids}
    starts = sorted(where[m] for m in (marker_ids[0], marker_ids[2]))
    lo = min(where.values())
    hi = max(where.values())
    if hi - lo + 1 <= budget:  # both entities fit: centre them
        start = max(0, lo - (budget - (hi - lo + 1)) // 2)
        start = min(start, len(ids) - budget)
        return ids[start : start + budget], False
    first, second = starts
    half = budget // 2
    if second < first + half:
        window = ids[first : first + budget]
    else:
        window = ids[first : first + half] + ids[second : second + budget - half]
    return window, True
