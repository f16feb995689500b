"""The sections of a relation-extraction run's report: data, metrics tables and figures.

A relation run (``molgraphpt finetune`` with ``task: relation``) is told from a property
fine-tuning run by its ``results.json``: ``task_type`` is ``"relation"`` (the relation recipe
always writes it; the property recipe writes ``classification`` / ``regression``), or, for a
summary without ``task_type``, its config copy says ``task: relation``. Neither the metric name
(``micro_f1`` could be any classifier's) nor the predictions header (a per-seed file that may be
missing) is used: see :func:`~molgraphpt.report.files.is_relation_summary`.

Reads ``results.json``, ``seed_<s>/metrics.csv`` (validation micro-F1 after each evaluation,
the training loss every ``train.log_every`` steps) and ``seed_<s>/test_predictions.csv``
(``line, text, label, predicted, p_<label>...``); draws the training curves and the test-set
confusion matrix, summed over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt.errors import DataFormatError
from molgraphpt.report.files import Run, columns_of, read_csv
from molgraphpt.report.finetune import seeds_of, selected_at, training_plot
from molgraphpt.report.markdown import Link, data_files, data_files_table, fmt, table
from molgraphpt.report.plots import confusion_figure, save_png

PREDICTIONS = "test_predictions.csv"
PROB_PREFIX = "p_"
#: ``(key in a seed's scores, column title)``; the positive-only ones only when recorded.
METRICS = (
    ("micro_f1", "micro-F1"),
    ("macro_f1", "macro-F1"),
    ("accuracy", "accuracy"),
    ("micro_f1_positive", "micro-F1 (positive labels)"),
    ("macro_f1_positive", "macro-F1 (positive labels)"),
)
SPLITS = (("valid", "Validation (dev split)"), ("test", "Test"))


# ------------------------------------------------------------------------------------- data


def data_section(run: Run) -> list[str]:
    """Dataset, labels, split sizes and label counts, skipped rows, input files and hashes."""
    s = run.summary
    info = s.get("data_info") if isinstance(s.get("data_info"), dict) else {}
    labels = label_names(s)
    lines = ["## Data", ""]
    lines.append(
        f"- dataset: **{s.get('dataset', 'not recorded')}** (relation extraction, "
        f"{s.get('num_labels', len(labels) or '?')} labels, metric `{s['metric']}`)"
    )
    if labels:
        lines.append(f"- labels: {', '.join(f'`{name}`' for name in labels)}")
    negative = info.get("negative_label")
    lines.append(
        f"- negative (no relation) label: `{negative}`"
        if negative
        else "- negative (no relation) label: none declared (every label is a relation)"
    )
    sizes = info.get("sizes") if isinstance(info.get("sizes"), dict) else {}
    if sizes:
        lines.append(
            f"- sentences {' / '.join(sizes)} = {' / '.join(fmt(n) for n in sizes.values())}"
        )
    skipped = info.get("skipped") if isinstance(info.get("skipped"), dict) else {}
    dropped = {k: v for k, v in skipped.items() if v}
    if dropped:
        lines.append(
            "- rows skipped: "
            + "; ".join(
                f"{split}: " + ", ".join(f"{why} {fmt(n)}" for why, n in reasons.items())
                if isinstance(reasons, dict)
                else f"{split}: {fmt(reasons)}"
                for split, reasons in dropped.items()
            )
        )
    elif skipped:
        lines.append("- rows skipped: none")
    lines += _tokenization_line(run)
    files = data_files(_with_roles(s))
    if not files:
        lines.append("- input file hashes: not recorded by this run")
    lines += data_files_table(files)
    counts = info.get("label_counts") if isinstance(info.get("label_counts"), dict) else {}
    if counts and labels:
        splits = list(counts)
        rows = [
            [f"`{name}`", *(fmt((counts[sp] or {}).get(name, 0)) for sp in splits)]
            for name in labels
        ]
        lines += ["", "Sentences per gold label:", "", *table(["label", *splits], rows)]
    return [*lines, ""]


def _tokenization_line(run: Run) -> list[str]:
    """Sentences cut to ``max_length`` (seed 0's encoding: every seed encodes the same)."""
    seeds = seeds_of(run)
    tok = seeds[0].get("tokenization") if seeds else None
    if not isinstance(tok, dict) or not tok:
        return []
    stats = {split: v for split, v in tok.items() if isinstance(v, dict)}
    max_length = _config(run.summary, "data", "max_length")
    head = f"- sentences longer than {max_length} tokens" if max_length else "- long sentences"
    if stats and not any(v.get("truncated") or v.get("entity_cut") for v in stats.values()):
        return [f"{head}: none (no sentence truncated)"]
    parts = [
        f"{split} {fmt(v.get('truncated'))} of {fmt(v.get('rows'))} truncated "
        f"({fmt(v.get('entity_cut'))} with an entity cut off)"
        for split, v in stats.items()
    ]
    return [f"{head}: " + "; ".join(parts)] if parts else []


def _with_roles(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with each ``data`` entry's role (train/dev/test) found from the config."""
    entries = summary.get("data")
    data_cfg = _config(summary, "data")
    if not isinstance(entries, list) or not isinstance(data_cfg, dict):
        return summary
    named = {
        split: str(data_cfg[split]) for split in ("train", "dev", "test") if data_cfg.get(split)
    }
    out = []
    for entry in entries:
        if isinstance(entry, dict) and "role" not in entry:
            path = str(entry.get("path", ""))
            role = next(
                (
                    split
                    for split, name in named.items()
                    if path == name or Path(path).as_posix().endswith("/" + Path(name).as_posix())
                ),
                None,
            )
            entry = {**entry, "role": role} if role else entry
        out.append(entry)
    return {**summary, "data": out}


def _config(summary: dict[str, Any], *keys: str) -> Any:
    """``summary["config"][k1][k2]...``, or None."""
    node: Any = summary.get("config")
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def label_names(summary: dict[str, Any]) -> list[str]:
    """The label vocabulary in id order (``data_info.labels``, else the per-label score keys)."""
    info = summary.get("data_info")
    labels = info.get("labels") if isinstance(info, dict) else None
    if isinstance(labels, list) and labels:
        return [str(name) for name in labels]
    per_label = summary.get("test_per_label") or summary.get("valid_per_label")
    return [str(name) for name in per_label] if isinstance(per_label, dict) else []


# ---------------------------------------------------------------------------------- metrics


def metrics_section(run: Run) -> list[str]:
    """Per-seed valid and test scores with mean ± std, then the per-label test scores."""
    seeds = seeds_of(run)
    lines = ["## Metrics", ""]
    for part, title in SPLITS:
        shown = [
            (key, name)
            for key, name in METRICS
            if any(key in (s.get(part) or {}) for s in seeds) or _summary_stats(run, part, key)
        ]
        rows = [
            [
                s["seed"],
                selected_at(s),
                fmt(s.get("epochs_run")),
                *(fmt((s.get(part) or {}).get(key)) for key, _ in shown),
            ]
            for s in seeds
        ]
        rows.append(["**mean ± std**", "", "", *(_mean_std(run, part, key) for key, _ in shown)])
        head = ["seed", "model selected at", "epochs run", *(name for _, name in shown)]
        lines += [f"### {title}", "", *table(head, rows), ""]
    lines.append(
        "The model of each seed is the one with the best validation micro-F1; epochs are "
        "counted from 1; std is over seeds (population std, as results.json records it). With "
        "one label per sentence, micro-F1 over all labels equals accuracy; the positive-label "
        "columns (written when a negative label is declared) leave the negative label out."
    )
    return [*lines, "", *_per_label_table(run)]


def _summary_stats(run: Run, part: str, key: str) -> dict[str, Any] | None:
    """The ``{"mean", "std"}`` results.json records for ``key`` on ``part`` (None if none)."""
    name = part if key == run.summary.get("metric", "micro_f1") else f"{part}_{key}"
    stats = run.summary.get(name)
    return stats if isinstance(stats, dict) and "mean" in stats else None


def _mean_std(run: Run, part: str, key: str) -> str:
    """``"mean ± std"`` of ``key`` over seeds: results.json's, else computed from the seeds."""
    stats = _summary_stats(run, part, key)
    if stats is None:
        values = [
            float(v)
            for s in seeds_of(run)
            if isinstance(v := (s.get(part) or {}).get(key), (int, float)) and not math.isnan(v)
        ]
        if not values:
            return "n/a"
        stats = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    return f"{fmt(stats.get('mean'))} ± {fmt(stats.get('std'))}"


def _per_label_table(run: Run) -> list[str]:
    """Test precision / recall / F1 per label (means over seeds) and its support."""
    per_label = run.summary.get("test_per_label")
    if not isinstance(per_label, dict) or not per_label:
        seeds = seeds_of(run)
        per_label = (seeds[0].get("test") or {}).get("per_label") if seeds else None
        if not isinstance(per_label, dict) or not per_label:
            return ["_No per-label test scores recorded._", ""]
    negative = (run.summary.get("data_info") or {}).get("negative_label")
    rows = []
    for name, scores in per_label.items():
        scores = scores if isinstance(scores, dict) else {}
        label = f"`{name}` (negative)" if name == negative else f"`{name}`"
        rows.append(
            [label, *(fmt(scores.get(k)) for k in ("precision", "recall", "f1", "support"))]
        )
    seeds = seeds_of(run)
    if len(seeds) > 1:
        over = f"means over the {len(seeds)} seeds"
    else:
        over = f"those of seed {seeds[0]['seed']}" if seeds else "as recorded"
    return [
        "### Test scores per label",
        "",
        *table(["label", "precision", "recall", "F1", "support"], rows),
        "",
        f"Precision, recall and F1 are {over}; support is the number of test sentences with "
        f"that gold label. A label never predicted has precision 0.",
        "",
    ]


# ---------------------------------------------------------------------------------- figures


def figures_section(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """Draw the training curves and the test confusion matrix into ``fig_dir``; their Markdown."""
    per_epoch = steps_per_epoch(run.summary)
    lines = ["## Training curves", "", *training_plot(run, fig_dir, link, per_epoch=per_epoch)]
    lines += ["## Test set: confusion matrix", "", *_confusion_plot(run, fig_dir, link)]
    return lines


def steps_per_epoch(summary: dict[str, Any]) -> int | None:
    """Optimizer steps per epoch: ``ceil(ceil(n_train / batch_size) / grad_accum)``.

    The relation loader keeps a last short batch as it is (no merging). None when
    ``results.json`` lacks a number.
    """
    try:
        n_train = int(summary["data_info"]["sizes"]["train"])
        train = summary["config"]["train"]
        batch_size, accum = int(train["batch_size"]), int(train.get("grad_accum") or 1)
    except (KeyError, TypeError, ValueError):
        return None
    if n_train <= 0 or batch_size <= 0 or accum <= 0:
        return None
    return math.ceil(math.ceil(n_train / batch_size) / accum)


@dataclass(frozen=True)
class RelationPredictions:
    """Gold and predicted labels of one seed's prediction file.

    Attributes:
        path: The file.
        labels: The labels of its ``p_<label>`` columns, in file order (the model's id order).
        gold: Gold label per sentence (``""`` where the file has none).
        predicted: Predicted label per sentence.
    """

    path: Path
    labels: list[str]
    gold: list[str]
    predicted: list[str]


def read_relation_predictions(path: Path) -> RelationPredictions:
    """Read a relation ``<split>_predictions.csv`` (``line, text, label, predicted, p_<label>``).

    Raises:
        DataFormatError: The ``label`` or ``predicted`` column is missing.
    """
    header, rows = read_csv(path)
    col = columns_of(header, ("label", "predicted"), path)
    labels = [name[len(PROB_PREFIX) :] for name in header if name.startswith(PROB_PREFIX)]
    gold, predicted = [], []
    for line, row in rows:
        if len(row) <= max(col.values()):
            raise DataFormatError(
                f"{path}, line {line}: {len(row)} cells, fewer than the header's "
                f"{len(header)}. Restore the file the run wrote, or rerun the run."
            )
        gold.append(row[col["label"]].strip())
        predicted.append(row[col["predicted"]].strip())
    return RelationPredictions(path, labels, gold, predicted)


def confusion_counts(
    seeds: Sequence[RelationPredictions], labels: Sequence[str]
) -> tuple[list[str], np.ndarray, int]:
    """Counts ``[gold, predicted]`` summed over ``seeds``.

    Returns:
        ``(labels, counts, unlabelled)``: ``labels`` extended by any label seen in a file but
        not in ``labels``; ``unlabelled`` sentences (no gold label) are left out and counted.
    """
    names = list(labels)
    for pred in seeds:
        for name in [*pred.labels, *pred.gold, *pred.predicted]:
            if name and name not in names:
                names.append(name)
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    unlabelled = 0
    for pred in seeds:
        for gold, guess in zip(pred.gold, pred.predicted):
            if not gold or not guess:
                unlabelled += 1
                continue
            counts[index[gold], index[guess]] += 1
    return names, counts, unlabelled


def _confusion_plot(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """The test confusion matrix summed over the seeds that have predictions."""
    seeds: list[RelationPredictions] = []
    missing = []
    for seed in seeds_of(run):
        path = run.run_dir / f"seed_{seed['seed']}" / PREDICTIONS
        if path.is_file():
            seeds.append(read_relation_predictions(path))
        else:
            missing.append(f"`seed_{seed['seed']}/{PREDICTIONS}`")
    lines = []
    if missing:
        lines += [f"_Missing, so left out of the matrix: {', '.join(missing)}._", ""]
    if not seeds:
        return [*lines, "_No confusion matrix: no seed has test predictions._", ""]
    names, counts, unlabelled = confusion_counts(seeds, label_names(run.summary))
    if not counts.sum():
        return [*lines, "_No confusion matrix: the test predictions have no gold labels._", ""]
    over = f"summed over {len(seeds)} seeds" if len(seeds) > 1 else f"seed {_seed_of(seeds[0])}"
    dataset = run.summary.get("dataset", "")
    fig = confusion_figure(
        counts,
        names,
        title=f"{dataset}: test-set confusion matrix ({over})",
        negative=(run.summary.get("data_info") or {}).get("negative_label"),
    )
    path = save_png(fig, fig_dir / "test_confusion.png")
    each = ", each test sentence once per seed" if len(seeds) > 1 else ""
    lines += [
        link(path, "test-set confusion matrix"),
        "",
        f"Rows are gold labels, columns predicted labels. Each cell counts test sentences "
        f"({over}{each}) and is shaded by its share of the row: the diagonal is each "
        f"label's recall.",
    ]
    if unlabelled:
        lines.append(f"{unlabelled} prediction(s) without a gold label are left out.")
    return [*lines, ""]


def _seed_of(pred: RelationPredictions) -> str:
    """``"0"`` from ``.../seed_0/test_predictions.csv``."""
    return pred.path.parent.name.removeprefix("seed_")
