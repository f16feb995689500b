"""Training and inference throughput of our GIN-VN against OGB's reference loop on ogbg-molhiv.

    python benchmarks/train_speed/run.py --data-root ../shared/data [--rounds 5 --graphs 4000]

Both pipelines are built in this one process from the same molecules (the first ``--graphs``
molecules of HIV's scaffold training split):

* reference (``reference.py``): OGB's ``GNN`` (gin-virtual, 5 layers, width 300, dropout 0.5,
  JK last, mean pooling) with ``MessagePassing`` GIN convolutions, trained by ``main_pyg.py``'s
  ``train`` (Adam lr 1e-3, BCE with logits on the labelled entries), batches of 32 from PyG's
  ``DataLoader`` over a list of ``Data`` objects made by ``ogb.utils.smiles2graph``.
* ours: :class:`~molgraphpt.models.heads.PropertyModel` (encoder ``gin`` + virtual node) inside
  :class:`~molgraphpt.objectives.supervised.PropertyPrediction`, trained by
  :func:`molgraphpt.training.loop.train` (the package's real loop: Adam lr 1e-3, masked BCE), batches
  of 32 from :class:`~molgraphpt.data.loader.GraphLoader` over a
  :class:`~molgraphpt.data.store.GraphStore` featurized by our featurizer.

Before timing, the reference weights are copied into our model (:func:`copy_reference_weights`,
with non-trivial ``eps``, virtual-node and BatchNorm states) and the outputs are compared: eval
mode on several batches, and train mode (batch statistics, dropout off) including the gradients.

Throughput is fwd + bwd + optimizer step including data loading and collation, over one pass of
the subset (shuffled), ``--rounds`` times, the two sides interleaved in each round (the order
alternates between rounds) with ``torch.set_num_threads(--threads)`` for both. Ours is the loop's
own ``TrainResult.train_graphs_per_s`` (it times batch fetching, forward, backward and steps; the
optimizer construction before and the checkpoint written after the pass are outside it, and are
reported separately as ``ours_train_wall_graphs_per_s``). Inference is a full no-grad pass:
``main_pyg.py``'s ``eval`` loop up to the evaluator, and our
:func:`molgraphpt.recipes.finetune.predict`. Ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import reference  # noqa: E402
from common import data_root, machine, today, update_results_md, versions, write_json  # noqa: E402

COMMAND = "python benchmarks/train_speed/run.py --data-root ../shared/data"

#: Our parameter / buffer names from OGB's (``reference.GNN``), applied in order.
NAME_MAP: list[tuple[str, str]] = [
    (
        r"^gnn_node\.atom_encoder\.atom_embedding_list\.(\d+)\.",
        r"encoder.atom_embedding.embeddings.\1.",
    ),
    (r"^gnn_node\.virtualnode_embedding\.", r"encoder.virtual_node.embedding."),
    (
        r"^gnn_node\.convs\.(\d+)\.bond_encoder\.bond_embedding_list\.(\d+)\.",
        r"encoder.convs.\1.bond_embedding.embeddings.\2.",
    ),
    (r"^gnn_node\.convs\.(\d+)\.mlp\.", r"encoder.convs.\1.mlp."),
    (r"^gnn_node\.convs\.(\d+)\.eps$", r"encoder.convs.\1.eps"),
    (r"^gnn_node\.batch_norms\.(\d+)\.", r"encoder.norms.\1."),
    (r"^gnn_node\.mlp_virtualnode_list\.(\d+)\.", r"encoder.virtual_node.mlps.\1."),
    (r"^graph_pred_linear\.", r"head.net.1."),
]


def our_name(ref_name: str) -> str:
    """Map a ``reference.GNN`` state-dict key to the ``PropertyModel`` key."""
    for pattern, replacement in NAME_MAP:
        new, n = re.subn(pattern, replacement, ref_name)
        if n:
            return new
    raise KeyError(f"no mapping for reference key {ref_name!r}")


def copy_reference_weights(ref: torch.nn.Module, ours: torch.nn.Module) -> None:
    """Load the reference's parameters and BatchNorm buffers into our model, key by key.

    Our atom-type table has one extra row (the attribute-masking token) that OGB's lacks: the 119
    OGB rows are copied and the mask row is left as it is (no OGB molecule indexes it).
    """
    target = ours.state_dict()
    mapped = {}
    for name, value in ref.state_dict().items():
        key = our_name(name)
        if key not in target:
            raise KeyError(f"{name} -> {key}: not in our model")
        dest = target[key].clone()
        if dest.shape != value.shape:
            if key != "encoder.atom_embedding.embeddings.0.weight":
                raise ValueError(f"{name} {tuple(value.shape)} vs {key} {tuple(dest.shape)}")
            dest[: value.shape[0]] = value
        else:
            dest = value.clone()
        mapped[key] = dest
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise KeyError(f"our keys without a reference counterpart: {missing}")
    ours.load_state_dict(mapped)


def randomize_states(ref: torch.nn.Module, seed: int = 0) -> None:
    """Give the states that start trivial (eps = 0, virtual node = 0, BN mean 0 / var 1 / affine
    1, 0) random values, so the equality check exercises every term."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            if isinstance(module, reference.GINConv):
                module.eps.copy_(torch.rand(1, generator=gen) - 0.5)
        emb = ref.gnn_node.virtualnode_embedding.weight
        emb.copy_(torch.randn(emb.shape, generator=gen) * 0.1)


# ----------------------------------------------------------------------------------- data
def read_subset(root: Path, n: int) -> tuple[list[str], np.ndarray]:
    """SMILES and HIV_active labels ``[n, 1]`` of the first ``n`` scaffold-train molecules."""
    folder = root / "ogb_recon" / "ogbg_molhiv"
    with gzip.open(folder / "mapping" / "mol.csv.gz", "rt") as handle:
        rows = list(csv.DictReader(handle))
    with gzip.open(folder / "split" / "scaffold" / "train.csv.gz", "rt") as handle:
        train = [int(line) for line in handle.read().split()]
    picked = train[:n]
    smiles = [rows[i]["smiles"] for i in picked]
    labels = np.array([[float(rows[i]["HIV_active"])] for i in picked], dtype=np.float32)
    return smiles, labels


def build_our_store(smiles: list[str], labels: np.ndarray, directory: Path):
    """Featurize with our featurizer into a :class:`GraphStore`, loaded into memory."""
    from molgraphpt.data.cache import Chunk, build_store

    store, _ = build_store(
        [Chunk(np.arange(len(smiles)), smiles, labels)], directory, num_tasks=1, workers=1
    )
    return store.load_into_memory()


def check_same_graphs(store, data_list) -> None:
    """Our decoded graphs must equal the reference's ``Data`` objects exactly."""
    for i, data in enumerate(data_list):
        g = store.decode([i])
        same = (
            np.array_equal(g.x, data.x.numpy())
            and np.array_equal(g.edge_index, data.edge_index.numpy())
            and np.array_equal(g.edge_attr, data.edge_attr.numpy())
        )
        if not same:
            raise AssertionError(f"molecule {i}: our graph differs from ogb.utils.smiles2graph's")


# ------------------------------------------------------------------------------ equality
def max_abs_diff_outputs(ref, task, data_list, store, *, batches: int = 8) -> float:
    """Eval-mode outputs of both models on the same ``batches`` batches of 32."""
    from torch_geometric.data import Batch

    from molgraphpt.data.loader import GraphLoader

    ref.eval()
    task.eval()
    loader = GraphLoader(store, np.arange(min(len(store), 32 * batches)), batch_size=32)
    worst = 0.0
    with torch.no_grad():
        for k, batch in enumerate(loader.iter_epoch(0)):
            ref_batch = Batch.from_data_list(data_list[32 * k : 32 * (k + 1)])
            expected = ref(ref_batch)
            got = task.predict(batch)
            if not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
                raise AssertionError(
                    f"batch {k}: outputs differ, max abs diff {(got - expected).abs().max():.3g}"
                )
            worst = max(worst, float((got - expected).abs().max()))
    return worst


def train_mode_diffs(data_list, store, seed: int = 0) -> dict[str, float]:
    """Train mode (BatchNorm batch statistics), dropout off: loss and every gradient."""
    from torch_geometric.data import Batch

    from molgraphpt.data.loader import GraphLoader

    torch.manual_seed(seed)
    ref = reference.GNN(num_tasks=1, num_layer=5, emb_dim=300, drop_ratio=0.0)
    randomize_states(ref, seed)
    task = build_ours(dropout=0.0)
    copy_reference_weights(ref, task.model)
    ref.train()
    task.train()
    batch = next(iter(GraphLoader(store, np.arange(32), batch_size=32).iter_epoch(0)))
    ref_batch = Batch.from_data_list(data_list[:32])
    pred = ref(ref_batch)
    valid = ref_batch.y == ref_batch.y
    ref_loss = reference.cls_criterion(pred.float()[valid], ref_batch.y.float()[valid])
    ref_loss.backward()
    our_loss = task(batch).loss
    our_loss.backward()
    ours_params = dict(task.model.named_parameters())
    grad_diff, grad_scale = 0.0, 0.0
    for name, param in ref.named_parameters():
        mine = ours_params[our_name(name)].grad
        theirs = param.grad
        if mine.shape != theirs.shape:  # the atom-type table's extra mask row
            mine = mine[: theirs.shape[0]]
        grad_diff = max(grad_diff, float((mine - theirs).abs().max()))
        grad_scale = max(grad_scale, float(theirs.abs().max()))
    return {
        "train_mode_loss_abs_diff": abs(float(our_loss) - float(ref_loss)),
        "train_mode_grad_max_abs_diff": grad_diff,
        "train_mode_grad_max_abs": grad_scale,
    }


# ------------------------------------------------------------------------------- models
def build_ours(dropout: float = 0.5):
    """Our GIN-VN with the reference's architecture, as a supervised task."""
    from molgraphpt.models.graph import GraphEncoderConfig
    from molgraphpt.models.heads import PropertyModel, PropertyModelConfig
    from molgraphpt.objectives.supervised import PropertyPrediction, PropertyPredictionConfig

    encoder = GraphEncoderConfig(
        arch="gin",
        hidden_dim=300,
        num_layers=5,
        dropout=dropout,
        jk="last",
        readout="mean",
        virtual_node=True,
    )
    model = PropertyModel(PropertyModelConfig(encoder=encoder, num_tasks=1))
    return PropertyPrediction(model, PropertyPredictionConfig("classification"))


# ------------------------------------------------------------------------------- timing
def cpu_idle_fraction(seconds: float = 1.0) -> float:
    """Fraction of the machine's CPU time spent idle over the next ``seconds`` (Linux)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return 1.0
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_idle(max_wait: float, threshold: float = 0.9) -> float:
    """Wait (up to ``max_wait`` s) until other jobs leave the CPU idle; return the idle fraction."""
    deadline = time.monotonic() + max_wait
    idle = cpu_idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = cpu_idle_fraction(2.0)
    return idle


def time_ref_train(model, optimizer, data_list, batch_size: int) -> float:
    loader = reference.make_loader(data_list, batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    graphs = reference.train(model, "cpu", loader, optimizer)
    return graphs / (time.perf_counter() - start)


def time_our_train(task, store, batch_size: int, threads: int, seed: int) -> tuple[float, float]:
    from molgraphpt.data.loader import GraphLoader
    from molgraphpt.training.config import TrainConfig
    from molgraphpt.training.loop import train

    loader = GraphLoader(store, batch_size=batch_size, shuffle=True, seed=seed)
    cfg = TrainConfig(
        epochs=1,
        batch_size=batch_size,
        lr=1e-3,
        optimizer="adam",
        progress=False,
        num_threads=threads,
        device="cpu",
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = train(task, loader, cfg, run_dir=run_dir)
        wall = time.perf_counter() - start
    return result.train_graphs_per_s, len(store) / wall


def time_ref_infer(model, data_list, batch_size: int) -> float:
    loader = reference.make_loader(data_list, batch_size=batch_size, shuffle=False)
    start = time.perf_counter()
    _, y_pred = reference.predict(model, "cpu", loader)
    return len(y_pred) / (time.perf_counter() - start)


def time_our_infer(task, store, batch_size: int) -> float:
    from molgraphpt.data.loader import GraphLoader
    from molgraphpt.recipes.finetune import predict

    loader = GraphLoader(store, batch_size=batch_size, shuffle=False)
    start = time.perf_counter()
    y_pred = predict(task, loader, torch.device("cpu"))
    return len(y_pred) / (time.perf_counter() - start)


def profile_tables(ref, optimizer, task, data_list, store, batch_size: int, steps: int) -> str:
    """torch.profiler tables (self CPU time) of ``steps`` training steps of each side."""
    from torch.profiler import ProfilerActivity, profile

    from molgraphpt.data.loader import GraphLoader
    from molgraphpt.training import TrainConfig, build_optimizer

    n = steps * batch_size
    our_opt = build_optimizer(list(task.parameters()), TrainConfig())
    loader = GraphLoader(store, np.arange(n), batch_size=batch_size, shuffle=True)

    def ours() -> None:
        task.train()
        for batch in loader.iter_epoch(0):
            task(batch).loss.backward()
            our_opt.step()
            our_opt.zero_grad(set_to_none=True)

    def theirs() -> None:
        reference.train(ref, "cpu", reference.make_loader(data_list[:n], batch_size), optimizer)

    out = []
    for name, fn in (("reference", theirs), ("ours", ours)):
        fn()  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        out.append(f"== {name}: {steps} training steps of {batch_size} graphs\n{table}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--graphs", type=int, default=4000, help="training molecules per pass")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="STEPS",
        help="also write torch.profiler tables of STEPS training steps per side",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, update no results")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each round, wait up to SECONDS for other jobs to leave the "
        "CPU >= 90%% idle (the machine is shared)",
    )
    args = parser.parse_args()
    root = data_root(args.data_root)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    smiles, labels = read_subset(root, args.graphs)
    data_list = [reference.to_data(s, y) for s, y in zip(smiles, labels)]
    with tempfile.TemporaryDirectory() as tmp:
        store = build_our_store(smiles, labels, Path(tmp) / "hiv")
    check_same_graphs(store, data_list)
    print(
        f"{len(store)} molecules of HIV's scaffold train split; graphs identical in both pipelines"
    )

    torch.manual_seed(0)
    ref = reference.build_model(num_tasks=1)
    randomize_states(ref)
    ref_opt = reference.build_optimizer(ref)
    task = build_ours()
    copy_reference_weights(ref, task.model)
    max_abs_diff = max_abs_diff_outputs(ref, task, data_list, store)
    train_diffs = train_mode_diffs(data_list, store)
    print(f"eval outputs: max abs diff {max_abs_diff:.3g}; train mode (no dropout): {train_diffs}")

    rounds: dict[str, list[float]] = {
        k: [] for k in ("ref_train", "ours_train", "ours_train_wall", "ref_infer", "ours_infer")
    }
    load_avg, idle = [], []  # before each round: this machine is shared with other jobs
    for r in range(args.rounds):
        idle.append(round(wait_for_idle(args.wait_idle), 2) if args.wait_idle else None)
        load_avg.append(round(os.getloadavg()[0], 2))
        sides = [
            ("ref_train", lambda: time_ref_train(ref, ref_opt, data_list, args.batch_size)),
            (
                "ours_train",
                lambda r=r: time_our_train(task, store, args.batch_size, args.threads, seed=r),
            ),
            ("ref_infer", lambda: time_ref_infer(ref, data_list, args.batch_size)),
            ("ours_infer", lambda: time_our_infer(task, store, args.batch_size)),
        ]
        if r % 2:  # alternate who goes first, so slow drifts of the machine's load cancel
            sides = [sides[1], sides[0], sides[3], sides[2]]
        for name, fn in sides:
            value = fn()
            if name == "ours_train":
                rounds["ours_train"].append(value[0])
                rounds["ours_train_wall"].append(value[1])
            else:
                rounds[name].append(value)
        print(
            f"round {r}: train ours {rounds['ours_train'][-1]:.0f} / ref "
            f"{rounds['ref_train'][-1]:.0f} graphs/s "
            f"({rounds['ours_train'][-1] / rounds['ref_train'][-1]:.2f}x); infer ours "
            f"{rounds['ours_infer'][-1]:.0f} / ref {rounds['ref_infer'][-1]:.0f} graphs/s "
            f"({rounds['ours_infer'][-1] / rounds['ref_infer'][-1]:.2f}x)",
            flush=True,
        )

    train_ratios = [o / f for o, f in zip(rounds["ours_train"], rounds["ref_train"])]
    infer_ratios = [o / f for o, f in zip(rounds["ours_infer"], rounds["ref_infer"])]
    med = {k: statistics.median(v) for k, v in rounds.items()}
    result = {
        "ours_train_graphs_per_s": round(med["ours_train"], 1),
        "ref_train_graphs_per_s": round(med["ref_train"], 1),
        "ratio_train": round(statistics.median(train_ratios), 3),
        "ours_infer_graphs_per_s": round(med["ours_infer"], 1),
        "ref_infer_graphs_per_s": round(med["ref_infer"], 1),
        "ratio_infer": round(statistics.median(infer_ratios), 3),
        "ratio_definition": "median over rounds of ours/ref measured in the same round",
        "ours_train_wall_graphs_per_s": round(med["ours_train_wall"], 1),
        "per_round": {
            **{k: [round(x, 1) for x in v] for k, v in rounds.items()},
            "ratio_train": [round(x, 3) for x in train_ratios],
            "ratio_infer": [round(x, 3) for x in infer_ratios],
            "load_avg_1min_before": load_avg,
            "cpu_idle_fraction_before": idle,
        },
        "max_abs_diff": max_abs_diff,
        **train_diffs,
        "graphs_per_pass": len(store),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "torch_threads": args.threads,
        "model": "GIN-VN: gin-virtual, 5 layers, emb 300, dropout 0.5, JK last, mean pooling",
        "ours_loop": "molgraphpt.training.loop.train (TrainConfig: adam lr 1e-3, fp32, 1 epoch)",
        "command": f"{COMMAND} --rounds {args.rounds} --graphs {args.graphs}"
        + (f" --wait-idle {args.wait_idle:g}" if args.wait_idle else ""),
        "machine": machine(),
        "versions": versions(),
        "date": today(),
    }
    print(
        f"train: ours {result['ours_train_graphs_per_s']} vs ref {result['ref_train_graphs_per_s']}"
        f" graphs/s, ratio {result['ratio_train']}x; infer: ours "
        f"{result['ours_infer_graphs_per_s']} vs ref {result['ref_infer_graphs_per_s']} graphs/s, "
        f"ratio {result['ratio_infer']}x"
    )
    if args.profile:
        tables = profile_tables(ref, ref_opt, task, data_list, store, args.batch_size, args.profile)
        print(tables)
        if not args.no_write:
            (HERE.parent / "results").mkdir(exist_ok=True)
            (HERE.parent / "results" / "train_speed_profile.txt").write_text(tables)
    if args.no_write:
        return
    path = write_json("train_speed", result)
    per_round = ", ".join(f"{x:.2f}" for x in train_ratios)
    per_round_infer = ", ".join(f"{x:.2f}" for x in infer_ratios)
    body = f"""Command: `{result["command"]}` — {result["date"]}, {result["machine"]["cpu"]} ({result["machine"]["cores"]} cores), torch threads = {args.threads} for both.
Versions: {", ".join(f"{k} {v}" for k, v in result["versions"].items())}.

GIN-VN on ogbg-molhiv ({len(store):,} scaffold-train molecules per pass, batch {args.batch_size}), against a
transcription of OGB's `examples/graphproppred/mol` model and loop (`benchmarks/train_speed/reference.py`).
Training = fwd + bwd + Adam step including data loading and collation (ours through `GraphLoader` and
`training.loop.train`, OGB's through PyG `DataLoader`); inference = a full no-grad prediction pass.
Ratios are medians of the per-round ratios, the two sides interleaved in each round.

| measure | ours | OGB reference | ratio |
|---|---|---|---|
| training graphs/s (target ≥ 1.3×) | {result["ours_train_graphs_per_s"]:,.0f} | {result["ref_train_graphs_per_s"]:,.0f} | **{result["ratio_train"]}×** (rounds: {per_round}) |
| inference graphs/s | {result["ours_infer_graphs_per_s"]:,.0f} | {result["ref_infer_graphs_per_s"]:,.0f} | **{result["ratio_infer"]}×** (rounds: {per_round_infer}) |

Same weights, same batches: eval-mode outputs max abs diff {max_abs_diff:.2g} (`torch.allclose`,
rtol = atol = 1e-5, 8 batches); train mode without dropout: loss diff
{train_diffs["train_mode_loss_abs_diff"]:.2g}, gradients max abs diff {train_diffs["train_mode_grad_max_abs_diff"]:.2g}
(largest gradient {train_diffs["train_mode_grad_max_abs"]:.2g}). See `benchmarks/train_speed/README.md` for the profile.
"""
    update_results_md("Training speed (benchmarks/train_speed)", body)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
