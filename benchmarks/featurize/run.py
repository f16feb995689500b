"""Featurization benchmark: OGB parity on all of HIV, speed against ogb / PyG / bare RDKit, cache size
and cache load speed.

    python benchmarks/featurize/run.py --data-root ../shared/data [--repeats 3]

Speed is measured side by side in this one process, interleaved (ours, ogb, PyG, RDKit in turn,
``--repeats`` rounds), and reported as the median rate and the ratio against ogb.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import data_root, machine, today, update_results_md, versions, write_json  # noqa: E402


def read_hiv(root: Path) -> list[str]:
    with gzip.open(root / "moleculenet" / "HIV.csv.gz", "rt") as handle:
        return [row["smiles"] for row in csv.DictReader(handle)]


def rate(fn, smiles: list[str]) -> float:
    start = time.perf_counter()
    fn(smiles)
    return len(smiles) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = data_root(args.data_root)

    from ogb.utils import smiles2graph
    from rdkit import Chem, RDLogger
    from torch_geometric.utils import from_smiles

    from molgraphpt.chem.graph import smiles_to_graph
    from molgraphpt.data.cache import Chunk, build_store
    from molgraphpt.data.loader import GraphLoader
    from molgraphpt.data.store import GraphStore

    RDLogger.DisableLog("rdApp.*")
    warnings.filterwarnings("ignore")
    smiles = read_hiv(root)
    # Molecules RDKit parses (sanitized): the set both featurizers can handle.
    parsable = [s for s in smiles if Chem.MolFromSmiles(s) is not None]
    print(f"HIV: {len(smiles)} SMILES, {len(parsable)} parse with RDKit {Chem.rdBase.rdkitVersion}")

    # Parity on every parsable molecule
    mismatches, examples = 0, []
    for smi in parsable:
        ref = smiles2graph(smi)
        ours = smiles_to_graph(smi)
        same = (
            np.array_equal(ours.x, ref["node_feat"])
            and ours.x.dtype == ref["node_feat"].dtype
            and np.array_equal(ours.edge_index, ref["edge_index"])
            and np.array_equal(ours.edge_attr, ref["edge_feat"])
        )
        if not same:
            mismatches += 1
            examples.append(smi) if len(examples) < 5 else None
    print(f"parity: {mismatches} mismatches of {len(parsable)}")

    def ours(batch):
        for s in batch:
            smiles_to_graph(s)

    def ogb(batch):
        for s in batch:
            smiles2graph(s)

    def pyg(batch):
        for s in batch:
            from_smiles(s)

    def rdkit_parse(batch):
        for s in batch:
            Chem.MolFromSmiles(s)

    rates: dict[str, list[float]] = {"ours": [], "ogb": [], "pyg": [], "rdkit": []}
    for r in range(args.repeats):
        for name, fn in (("ours", ours), ("ogb", ogb), ("pyg", pyg), ("rdkit", rdkit_parse)):
            rates[name].append(rate(fn, parsable))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratios = [o / g for o, g in zip(rates["ours"], rates["ogb"])]

    # Cache: size per molecule, and load vs featurize
    labels = np.zeros((len(smiles), 1), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        store, report = build_store(
            [Chunk(np.arange(len(smiles)), smiles, labels)], Path(tmp) / "hiv", num_tasks=1
        )
        featurize_s = time.perf_counter() - start
        graph_bytes = store.nbytes(graph_only=True) / len(store)
        all_bytes = store.nbytes() / len(store)
        loads, decodes = [], []
        for _ in range(3):
            start = time.perf_counter()
            reopened = GraphStore.open(Path(tmp) / "hiv").load_into_memory()
            for _batch in GraphLoader(reopened, batch_size=32).iter_epoch(0):
                pass
            loads.append(time.perf_counter() - start)
            start = time.perf_counter()
            reopened = GraphStore.open(Path(tmp) / "hiv")
            reopened.decode(np.arange(len(reopened)))
            decodes.append(time.perf_counter() - start)
    load_speedup = featurize_s / min(loads)
    print(
        f"store: {graph_bytes:.1f} graph bytes/mol ({all_bytes:.1f} with SMILES, labels, rows); "
        f"featurize+write {featurize_s:.1f}s, load as PyG batches {min(loads):.2f}s "
        f"({load_speedup:.0f}x), decode all {min(decodes):.3f}s"
    )

    result = {
        "n": len(parsable),
        "n_total": len(smiles),
        "parity_mismatches": mismatches,
        "parity_mismatch_examples": examples,
        "ours_mol_per_s": round(med["ours"], 1),
        "ogb_mol_per_s": round(med["ogb"], 1),
        "pyg_from_smiles_mol_per_s": round(med["pyg"], 1),
        "rdkit_parse_mol_per_s": round(med["rdkit"], 1),
        "speedup_vs_ogb": round(statistics.median(ratios), 3),
        "speedup_vs_ogb_per_round": [round(x, 3) for x in ratios],
        "bytes_per_molecule": round(graph_bytes, 1),
        "bytes_per_molecule_with_smiles_labels": round(all_bytes, 1),
        "cache_load_speedup": round(load_speedup, 1),
        "cache_decode_all_speedup": round(featurize_s / min(decodes), 1),
        "featurize_and_write_s": round(featurize_s, 2),
        "partially_sanitized": report.num_partial,
        "repeats": args.repeats,
        "command": "python benchmarks/featurize/run.py --data-root ../shared/data",
        "machine": machine(),
        "versions": versions(),
        "date": today(),
    }
    path = write_json("featurize", result)
    body = f"""Command: `{result["command"]}` — {result["date"]}, {result["machine"]["cpu"]} ({result["machine"]["cores"]} cores), 1 process.
Versions: {", ".join(f"{k} {v}" for k, v in result["versions"].items())}.

| measure (HIV, {result["n"]:,} RDKit-parsable SMILES) | value |
|---|---|
| parity with `ogb.utils.smiles2graph` (x, edge_index, edge_attr identical) | {result["parity_mismatches"]} mismatches |
| molgraphpt `smiles_to_graph` | {result["ours_mol_per_s"]:,.0f} mol/s |
| `ogb.utils.smiles2graph` | {result["ogb_mol_per_s"]:,.0f} mol/s |
| `torch_geometric.utils.from_smiles` | {result["pyg_from_smiles_mol_per_s"]:,.0f} mol/s |
| bare `Chem.MolFromSmiles` (ceiling) | {result["rdkit_parse_mol_per_s"]:,.0f} mol/s |
| **speed-up vs ogb** (median of per-round ratios; target ≥ 2×) | **{result["speedup_vs_ogb"]}×** |
| cache size, graph arrays (target < 200) | {result["bytes_per_molecule"]} bytes/molecule |
| cache size incl. SMILES, labels, row ids | {result["bytes_per_molecule_with_smiles_labels"]} bytes/molecule |
| cache load as PyG batches of 32 vs featurize (target ≥ 20×) | {result["cache_load_speedup"]}× |
| cache decode of all graphs at once vs featurize | {result["cache_decode_all_speedup"]}× |
"""
    update_results_md("Featurization (benchmarks/featurize)", body)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
