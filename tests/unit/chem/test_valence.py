"""The valence rule of partial sanitization: real hypervalent compounds kept, impossible not."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from rdkit import Chem

from molgraphpt.chem import featurize_smiles, parse_smiles, smiles_to_graph
from molgraphpt.chem.splits import murcko_scaffold
from molgraphpt.chem.valence import NEVER_HYPERVALENT, valence_verdict
from molgraphpt.errors import InvalidSmilesError

# Every row of MoleculeNet that RDKit >= 2024.09 does not sanitize (file: line), all hypervalent
# Al, B or Ge, all accepted by older RDKit.
HYPERVALENT = {
    "HIV:139": "O=C1O[Al]23(OC1=O)(OC(=O)C(=O)O2)OC(=O)C(=O)O3",
    "HIV:989": "Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1",
    "HIV:12884": "Oc1ccc(C2Oc3cc(O)cc4c3C(=[O+][AlH3-3]35([O+]=C6c7c(cc(O)cc7[OH+]3)OC(c3ccc(O)"
    "cc3O)C6O)([O+]=C3c6c(cc(O)cc6[OH+]5)OC(c5ccc(O)cc5O)C3O)[OH+]4)C2O)c(O)c1",
    "HIV:18295": "CC1=C2[OH+][AlH3-3]34([O+]=C2C=CN1C)([O+]=C1C=CN(C)C(C)=C1[OH+]3)[O+]=C1C=CN(C)"
    "C(C)=C1[OH+]4",
    "HIV:30786": "CC(c1cccs1)=[N+]1[N-]C(N)=[S+][AlH3-]12[OH+]B(c1ccccc1)[OH+]2",
    "HIV:30787": "CC(c1ccccn1)=[N+]1[N-]C(N)=[S+][AlH3-]12[OH+]B(c1ccccc1)[OH+]2",
    "HIV:35730": "[Na+].c1ccc([SH+][GeH2+]2[SH+]c3ccccc3[SH+]2)c([SH+][GeH2+]2[SH+]c3ccccc3"
    "[SH+]2)c1",
    "tox21:1324": "NC(=O)NC1N=C(O[AlH3](O)O)NC1=O",
    "tox21:2292": "O=CO[AlH3](OC=O)OC=O",
    "tox21:2299": "CC(=O)O[AlH3](O)O",
    "tox21:3560": "CC(=O)O[AlH3](O)OC(C)=O",
    "tox21:4567": "CCOC(=O)/C=C(/C)O[AlH3](OC(C)CC)OC(C)CC",
    "tox21:4651": "CCCCO[AlH3](OCCCC)OCCCC",
    "tox21:5540": "O=S(=O)(OC[C@H]1O[C@H](O[C@]2(COS(=O)(=O)O[AlH3](O)O)O[C@H](COS(=O)(=O)O[AlH3]"
    "(O)O)[C@@H](OS(=O)(=O)O[AlH3](O)O)[C@@H]2OS(=O)(=O)O[AlH3](O)O)[C@H](OS(=O)(=O)O[AlH3](O)"
    "O)[C@@H](OS(=O)(=O)O[AlH3](O)O)[C@@H]1OS(=O)(=O)O[AlH3](O)O)O[AlH3](O)O.O[AlH3](O)[AlH3]"
    "(O)O.O[AlH3](O)[AlH3](O)O.O[AlH3](O)[AlH3](O)O.O[AlH3](O)[AlH3](O)O",
    "tox21:6725": "CCCCCCCCCCCCCCCCCC(=O)O[AlH3](O)O",
}
# Valences no chemistry allows (each was accepted by the old partial sanitization).
IMPOSSIBLE = {
    "C(C)(C)(C)(C)C": "atom # 0 C, 5",
    "[CH5]": "atom # 0 C, 5",
    "[H]([H])[H]": "atom # 0 H, 2",
    "FC(F)(F)(F)F": "atom # 1 C, 5",
    "O(C)(C)C": "atom # 0 O, 3",
    "N(C)(C)(C)(C)C": "atom # 0 N, 5",
    "CCl(C)C": "Cl, 3",
    "c1ccccc1C(C)(C)(C)(C)C": "atom # 6 C, 6",
    "CC(=O)O[AlH3](O)OC(C)(C)(C)(C)C": "atom # 7 C, 6",  # an allowed Al does not excuse a C
}
# Charged or hypervalent forms RDKit itself accepts, and real hypervalence of other elements.
ACCEPTED = ["C[N+](C)(C)C", "CN(=O)=O", "C[O+](C)C", "FS(F)(F)(F)(F)F", "F[Xe](F)(F)F"]
ACCEPTED += ["FP(F)(F)(F)F", "C[Si](C)(C)(C)C", "F[I](F)(F)(F)(F)(F)F", "[B-](F)(F)(F)F"]
DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "moleculenet"


@pytest.mark.parametrize("where", list(HYPERVALENT))
def test_moleculenet_hypervalent_rows_are_kept(where: str) -> None:
    smiles = HYPERVALENT[where]
    assert Chem.MolFromSmiles(smiles) is None  # RDKit alone refuses them
    parsed = parse_smiles(smiles)
    assert parsed.partial and valence_verdict(Chem.MolFromSmiles(smiles, sanitize=False)).acceptable
    assert smiles_to_graph(smiles).num_nodes == parsed.mol.GetNumAtoms()
    assert isinstance(murcko_scaffold(smiles), str)
    with pytest.raises(InvalidSmilesError, match="unsanitizable='partial'"):
        parse_smiles(smiles, unsanitizable="invalid")


@pytest.mark.parametrize("smiles", list(IMPOSSIBLE))
def test_impossible_valences_are_invalid(smiles: str) -> None:
    with pytest.raises(InvalidSmilesError, match="no chemistry gives") as info:
        parse_smiles(smiles)
    assert IMPOSSIBLE[smiles] in info.value.reason
    with pytest.raises(InvalidSmilesError):
        murcko_scaffold(smiles)
    out = featurize_smiles(["CCO", smiles, "CC(=O)O[AlH3](O)O"], on_invalid="skip")
    assert out.rows.tolist() == [0, 2] and out.invalid_rows.tolist() == [1]


@pytest.mark.parametrize("smiles", ACCEPTED)
def test_other_hypervalence_is_accepted(smiles: str) -> None:
    assert parse_smiles(smiles).mol.GetNumAtoms() > 1


def test_kekulization_failures_stay_invalid() -> None:
    for smiles in ("c1cccc1", "c1cc1[AlH3](O)(O)O"):  # the second: an allowed Al, bad ring
        with pytest.raises(InvalidSmilesError, match="kekulize"):
            parse_smiles(smiles)
    with pytest.raises(InvalidSmilesError, match="C, 6"):
        parse_smiles("c1cccc1[CH5]")  # both problems: the impossible valence is named


def test_never_hypervalent_elements() -> None:
    symbols = {Chem.GetPeriodicTable().GetElementSymbol(z) for z in NEVER_HYPERVALENT}
    assert symbols == {"H", "He", "C", "N", "O", "F", "Ne", "Cl", "Br"}


def _smiles_column(path: Path) -> list[str]:
    with gzip.open(path, "rt", newline="") as handle:
        return [row["smiles"] for row in csv.DictReader(handle)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "partial"), [("HIV", 7), ("tox21", 8)])
def test_every_row_of_hiv_and_tox21_is_kept(name: str, partial: int) -> None:
    path = DATA / f"{name}.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    smiles = _smiles_column(path)
    out = featurize_smiles(smiles, on_invalid="skip")
    assert len(out.invalid_rows) == 0, out.invalid_examples
    lines = sorted(int(k.split(":")[1]) for k in HYPERVALENT if k.startswith(f"{name}:"))
    assert len(lines) == partial
    assert [row + 2 for row in out.partial_rows.tolist()] == lines  # line = row + 2 (header)
