"""Molecule–text pairs: reading pair files, a cached featurized pair dataset and its loader.

Files (``.gz`` allowed for each; the format is taken from a spec's ``format`` or detected):

* **CSV** with a header (standard CSV quoting).
* **TSV** with a header, read with ``csv.QUOTE_NONE``: quote characters are literal text. This is
  how ChEBI-20 (Text2Mol / MolT5: header ``CID<TAB>SMILES<TAB>description``) must be read: its
  descriptions contain quotes such as ``(also known as Teonanacatl or "magic mushrooms")``.
* **JSONL**: one JSON object a line.
* **L+M-24 property phrases** (``lpm24_props``): ``SMILES<TAB>{'phrase', 'phrase', ...}`` (a
  Python set literal) without header, as in ``train_props.txt.gz``. Detected from a file name
  containing ``train_props``, or from a first line of exactly two tab-separated fields whose
  second is ``{...}``.

Columns/keys are matched case-insensitively; when not given they are guessed: SMILES from
``smiles``, ``canonical_smiles``, ``isosmiles``, ``mol``, ``smi``; text from ``text``,
``description``, ``caption``, ``desc``. Blank rows are skipped; a row whose SMILES or text
alone is empty is skipped and counted too, or, with ``on_invalid="raise"`` (``read_pairs``:
``on_empty="raise"``), an error naming its line (both still count in ``num_rows``). Files are
UTF-8 (a byte-order mark is dropped, CRLF line endings work); other bytes are an error naming the
line and byte offset. Row numbers are 0-based data rows (header excluded; JSONL: line numbers);
messages name the file line as an editor counts it (header = line 1): ``PairTable.line_of``.

**Texts from L+M-24 phrases.** L+M-24's property lists are keyword phrases (``'antioxidant'``,
``'Energy source'``, ...), not sentences. :func:`read_lpm24_props` turns each list into one
sentence: underscores become spaces, duplicates and blanks are dropped, the phrases are *sorted*
and then shuffled with a generator seeded by ``derive_seed(seed, "lpm24", row)`` (so the text of
a row does not depend on Python's set order, ``PYTHONHASHSEED`` or the other rows), optionally
cut to ``max_phrases``, and put into one of the templates, also picked by that generator.
:data:`DEFAULT_TEMPLATES` are:

0. ``"The molecule is {a_list}."`` -> "The molecule is an antioxidant and a fragrance."
1. ``"This compound is known as {a_list}."`` -> "This compound is known as an antioxidant and a
   fragrance."
2. ``"It has the following properties: {list}."`` -> "It has the following properties:
   antioxidant and fragrance."
3. ``"The molecule is associated with {list}."``
4. ``"This molecule is relevant to {list}."``
5. ``"Known properties and uses of this compound: {list}."``

``{list}`` is the phrases joined as ``"x, y and z"``; ``{a_list}`` the same with an indefinite
article before each phrase (``a``/``an`` by the sound of its first word: ``an antioxidant``,
``a urease inhibitor``, ``an hour``, ``an NMDA antagonist``, ``a CDK inhibitor``). Custom
templates may use either slot.

**The dataset.** :func:`load_pair_dataset` reads every source (a path or a
:class:`~molgraphpt.data.config.PairSourceConfig`), drops the molecules whose RDKit
canonical SMILES is in one of the ``exclude`` files (any table with a SMILES column, ChEBI-20 TSV
included, or a pair spec), and featurizes the rest once through the feature cache
(:func:`~molgraphpt.data.cache.cached_store`). Invalid SMILES are skipped and counted. Row numbers
are global over the sources (the second source's rows follow the first's), the store records them
(``store.rows``), and :class:`PairDataset` keeps ``texts[k]`` / ``smiles[k]`` aligned with store
row ``k``. :class:`PairLoader` yields :class:`~molgraphpt.data.batch.MolTextBatch` with the graphs,
the tokenized texts and (optionally) KV-PLM SMILES tokens.

**Layout.** This package is split into small modules; import from ``molgraphpt.data.text``
(everything in ``__all__`` below is re-exported here):

* :mod:`~molgraphpt.data.text.readers`: :class:`PairTable`, :func:`detect_format`,
  :data:`PAIR_FORMATS` and :func:`read_pairs` (CSV / TSV / JSONL, column guessing).
* :mod:`~molgraphpt.data.text.templates`: :data:`DEFAULT_TEMPLATES`,
  :func:`indefinite_article`, :func:`phrases_to_text` and :func:`read_lpm24_props`.
* :mod:`~molgraphpt.data.text.sources`: source specs, :func:`load_pairs` (one source of any
  format) and :func:`read_smiles` (the SMILES of exclusion files).
* :mod:`~molgraphpt.data.text.dataset`: :class:`PairDataset`, :func:`load_pair_dataset` and its
  cache key (``PAIRS_VERSION``); :func:`load_pairs_from_config` (the pairs of a
  :class:`~molgraphpt.data.config.CorpusConfig`) and :func:`select_pairs` (the positions a run
  uses: ``max_pairs`` per source, then ``fraction`` / ``max_molecules``).
* :mod:`~molgraphpt.data.text.loader`: :class:`PairLoader` and :class:`TextFeatures`
  (precomputed text vectors it can serve instead of tokens).

:class:`~molgraphpt.chem.smiles_tokenizer.SmilesTokenizer` (KV-PLM SMILES tokens for
:class:`PairLoader`) is re-exported for convenience.
"""

from __future__ import annotations

from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer

# PAIRS_VERSION (part of the pair store's cache key) stays importable from here, as before the
# split, without being in __all__.
from molgraphpt.data.text.dataset import PAIRS_VERSION as PAIRS_VERSION
from molgraphpt.data.text.dataset import (
    PairDataset,
    load_pair_dataset,
    load_pairs_from_config,
    select_pairs,
)
from molgraphpt.data.text.loader import PairLoader, TextFeatures
from molgraphpt.data.text.readers import PAIR_FORMATS, PairTable, detect_format, read_pairs
from molgraphpt.data.text.sources import load_pairs, read_smiles
from molgraphpt.data.text.templates import (
    DEFAULT_TEMPLATES,
    indefinite_article,
    phrases_to_text,
    read_lpm24_props,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "PAIR_FORMATS",
    "PairDataset",
    "PairLoader",
    "PairTable",
    "SmilesTokenizer",
    "TextFeatures",
    "detect_format",
    "indefinite_article",
    "load_pair_dataset",
    "load_pairs",
    "load_pairs_from_config",
    "phrases_to_text",
    "read_lpm24_props",
    "read_pairs",
    "read_smiles",
    "select_pairs",
]
