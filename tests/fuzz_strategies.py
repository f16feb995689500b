"""Hypothesis strategies for fuzzing SMILES input (reusable outside the test suite).

Four families, combined by :func:`smiles_inputs`:

* :func:`any_text`: arbitrary Unicode text, lone surrogates included (``st.text`` over every code
  point, as ``errors="surrogateescape"`` produces them);
* :func:`mutated_smiles`: real SMILES with characters inserted, deleted or replaced, from the SMILES
  alphabet or from all of Unicode (one to four edits);
* :func:`long_smiles`: strings near and far beyond the default length limit (repeats of real
  SMILES fragments, up to 20,000 characters);
* :func:`non_strings`: values that are not strings (NaN, None, bytes, numbers).

A 20,000-example benchmark run can reuse them, e.g.::

    from hypothesis import given, settings
    from tests.fuzz_strategies import smiles_inputs

    @settings(max_examples=20_000, deadline=5000)
    @given(smiles_inputs())
    def check(value): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

#: Real SMILES to mutate: organic, aromatic, charged, stereo, salts, the hypervalent Al/B of
#: MoleculeNet, bracket atoms, ring closures with ``%``.
SEED_SMILES = (
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "[Na+].[Cl-]",
    "CC(=O)O[AlH3](O)O",
    "Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1",
    "C[N+](C)(C)C",
    "O=[N+]([O-])c1ccc(cc1)S(=O)(=O)N",
    "C1CC2CCC1C2",
    "C%10CCCCC%10",
    "[2H]C([2H])([2H])O",
    "*C(=O)O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
)
#: Characters that SMILES use (what an in-alphabet mutation draws from).
SMILES_ALPHABET = "BCNOPSFIHKLMRTZabcdegilmnoprstuy0123456789()[]=#$:/\\+-@%.* \t\n"


def unicode_chars() -> st.SearchStrategy[str]:
    """Any code point, with lone surrogates and ASCII control characters drawn often."""
    return st.one_of(
        st.characters(),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
        st.characters(min_codepoint=0, max_codepoint=31),  # ASCII control characters
    )


def any_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Arbitrary Unicode text, surrogates and control characters included."""
    return st.text(alphabet=unicode_chars(), max_size=max_size)


def _mutation(length: int) -> st.SearchStrategy[tuple[str, int, str]]:
    """One edit ``(kind, position, character)`` of a string of ``length`` characters."""
    chars = st.one_of(st.sampled_from(SMILES_ALPHABET), unicode_chars())
    return st.tuples(
        st.sampled_from(("insert", "delete", "replace")),
        st.integers(min_value=0, max_value=max(length, 1)),
        chars,
    )


def _apply(smiles: str, edits: list[tuple[str, int, str]]) -> str:
    for kind, position, char in edits:
        position = min(position, len(smiles))
        if kind == "insert":
            smiles = smiles[:position] + char + smiles[position:]
        elif kind == "delete":
            smiles = smiles[:position] + smiles[position + 1 :]
        else:
            smiles = smiles[:position] + char + smiles[position + 1 :]
    return smiles


@st.composite
def mutated_smiles(draw: st.DrawFn) -> str:
    """A real SMILES with one to four random edits (SMILES characters or any Unicode)."""
    smiles = draw(st.sampled_from(SEED_SMILES))
    edits = draw(st.lists(_mutation(len(smiles)), min_size=1, max_size=4))
    return _apply(smiles, edits)


@st.composite
def long_smiles(draw: st.DrawFn) -> str:
    """A repeat of a SMILES fragment, 2,500 to 20,000 characters long."""
    piece = draw(st.sampled_from(("C", "CC(C)", "c1ccccc1", "OCC", "C=C", "C1CC1")))
    length = draw(st.integers(min_value=2500, max_value=20_000))
    return (piece * (length // len(piece) + 1))[:length]


def non_strings() -> st.SearchStrategy[object]:
    """Values a SMILES column may hold that are not strings."""
    return st.one_of(
        st.just(float("nan")),
        st.none(),
        st.binary(max_size=20),
        st.integers(),
        st.floats(allow_nan=True),
    )


def smiles_inputs() -> st.SearchStrategy[object]:
    """Every family at once: what a featurizer may be handed."""
    return st.one_of(
        st.sampled_from(SEED_SMILES), any_text(), mutated_smiles(), long_smiles(), non_strings()
    )
