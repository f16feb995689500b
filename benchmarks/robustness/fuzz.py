"""Property-based fuzzing at benchmark size (hypothesis, the strategies of tests/fuzz_strategies.py).

Four entry points, each fed generated inputs; the only exceptions allowed are molgraphpt's typed
errors (:class:`molgraphpt.errors.MolGraphPTError`), a counted skip never raises, and no single
call may take 5 s or more:

* ``single``: one value to :func:`molgraphpt.chem.smiles_to_graph` (raise mode);
* ``batch``: a list of values to :func:`molgraphpt.chem.featurize_smiles` with ``on_invalid="skip"``
  (must not raise; kept + skipped must be every row);
* ``table``: a CSV written from random rows (random SMILES, random label cells, lone surrogates
  written as raw bytes: invalid UTF-8) loaded by :func:`molgraphpt.data.datasets.load_csv`
  with ``on_invalid="skip"``;
* ``embed``: a list of values to :meth:`molgraphpt.embed.Embedder.embed_smiles` with skip.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molgraphpt.errors import MolGraphPTError

HANG_S = 5.0


class Tally:
    """Counts of one entry point: examples, typed errors, unexpected exceptions, slow calls."""

    def __init__(self) -> None:
        self.examples = self.typed_errors = 0
        self.unexpected: list[str] = []
        self.hangs: list[str] = []
        self.max_s = 0.0

    def run(self, call: Callable[[], None], shown: object) -> None:
        self.examples += 1
        start = time.perf_counter()
        try:
            call()
        except MolGraphPTError:
            self.typed_errors += 1
        except Exception as err:  # noqa: BLE001 - that is what is counted
            self.unexpected.append(f"{type(err).__name__}: {str(err)[:200]} <- {shown!r:.200}")
        elapsed = time.perf_counter() - start
        self.max_s = max(self.max_s, elapsed)
        if elapsed >= HANG_S:
            self.hangs.append(f"{elapsed:.1f}s <- {shown!r:.200}")

    def summary(self) -> dict:
        return {
            "examples": self.examples, "typed_errors": self.typed_errors,
            "unexpected": len(self.unexpected), "unexpected_examples": self.unexpected[:10],
            "hangs_over_5s": len(self.hangs), "hang_examples": self.hangs[:10],
            "slowest_call_s": round(self.max_s, 3),
        }


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def fuzz_single(n: int) -> dict:
    from molgraphpt.chem import smiles_to_graph
    from tests.fuzz_strategies import smiles_inputs

    tally = Tally()

    @_settings(n)
    @given(smiles_inputs())
    def check(value: object) -> None:
        tally.run(lambda: smiles_to_graph(value), value)  # type: ignore[arg-type]

    check()
    return tally.summary()


def fuzz_batch(n: int) -> dict:
    from molgraphpt.chem import featurize_smiles
    from tests.fuzz_strategies import smiles_inputs

    tally = Tally()

    def skip(values: list[object]) -> None:
        out = featurize_smiles(values, on_invalid="skip", chunk_size=4)  # type: ignore[arg-type]
        rows = sorted(out.rows.tolist() + out.invalid_rows.tolist())
        if rows != list(range(len(values))):
            raise AssertionError(f"kept + skipped rows {rows} are not every row")

    @_settings(n)
    @given(st.lists(smiles_inputs(), min_size=1, max_size=8))
    def check(values: list[object]) -> None:
        tally.run(lambda: skip(values), values)

    check()
    # a skip must never raise: a typed error here is a failure too
    out = tally.summary()
    out["unexpected"] += out["typed_errors"]
    return out


def _label_cells() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["0", "1", "", "1.0", "nan", "inf", "2", "-1", "yes"]),
                     st.text(max_size=5))


def _table_bytes(rows: list[tuple[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["smiles", "y"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


def fuzz_table(n: int, work: Path) -> dict:
    from molgraphpt.data.datasets import load_csv
    from tests.fuzz_strategies import SEED_SMILES, mutated_smiles, smiles_inputs

    tally = Tally()
    smiles = st.one_of(mutated_smiles(), smiles_inputs().map(str))
    counter = iter(range(10**9))

    def load(data: bytes, task: str) -> None:
        path = work / f"t{next(counter)}.csv"
        path.write_bytes(data)
        load_csv(path, smiles_col="smiles", targets=["y"], task_type=task,  # type: ignore[arg-type]
                 split="random", cache_dir=work / "cache", on_invalid="skip")

    clean_rows = st.tuples(st.sampled_from(SEED_SMILES), st.sampled_from(["0", "1", "0", "1", ""]))
    rows = st.one_of(
        st.lists(st.tuples(smiles, _label_cells()), min_size=0, max_size=12),
        st.lists(clean_rows, min_size=4, max_size=12),  # mostly loadable tables
        st.lists(st.one_of(clean_rows, st.tuples(smiles, _label_cells())), min_size=4, max_size=12),
    )

    @_settings(n)
    @given(rows, st.sampled_from(["classification", "regression"]))
    def check(rows: list[tuple[str, str]], task: str) -> None:
        data = _table_bytes(rows)
        tally.run(lambda: load(data, task), rows)

    check()
    return tally.summary()


def fuzz_embed(n: int) -> dict:
    from molgraphpt.embed import Embedder
    from molgraphpt.models.graph import GraphEncoderConfig, build_graph_encoder
    from tests.fuzz_strategies import smiles_inputs

    encoder = build_graph_encoder(GraphEncoderConfig(hidden_dim=16, num_layers=2)).eval()
    embedder = Embedder(encoder)
    tally = Tally()

    def skip(values: list[object]) -> None:
        emb, kept = embedder.embed_smiles(values, on_invalid="skip")  # type: ignore[arg-type]
        if len(emb) != len(kept) or len(kept) > len(values):
            raise AssertionError("embeddings and kept rows disagree")

    @_settings(n)
    @given(st.lists(smiles_inputs(), min_size=1, max_size=6))
    def check(values: list[object]) -> None:
        tally.run(lambda: skip(values), values)

    check()
    out = tally.summary()
    out["unexpected"] += out["typed_errors"]  # skip mode must not raise
    return out


def run_fuzz(total: int) -> dict:
    """Split ``total`` examples over the entry points (60/20/10/10 %); returns the tallies.

    molgraphpt's own log (one line per counted skip) is silenced to errors meanwhile.
    """
    logging.getLogger("molgraphpt").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="molgraphpt-fuzz-") as tmp:
        parts = {
            "single": fuzz_single(int(total * 0.6)),
            "batch": fuzz_batch(int(total * 0.2)),
            "table": fuzz_table(int(total * 0.1), Path(tmp)),
            "embed": fuzz_embed(int(total * 0.1)),
        }
    return {
        "fuzz_examples": sum(p["examples"] for p in parts.values()),
        "fuzz_unexpected_exceptions": sum(p["unexpected"] for p in parts.values()),
        "fuzz_hangs_over_5s": sum(p["hangs_over_5s"] for p in parts.values()),
        "fuzz_parts": parts,
    }
