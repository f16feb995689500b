"""What each speed change of our GIN-VN training step gives, measured cumulatively in one process.

    python benchmarks/train_speed/ablation.py --data-root ../shared/data [--batches 60]

Six training steps (forward, backward, optimizer step) are timed on the same pre-collated batches,
round-robin batch by batch, so that every variant sees the same load of this shared machine:

* ``reference``: OGB's model and step (``reference.py``);
* ``S0 before``: our model as it was before the speed work (per-column embedding lookups,
  ``F.dropout``, out-of-place ReLU / adds, PyG ``global_add_pool``, per-parameter Adam), by
  instance-level overrides written out below;
* ``S1 +fused Adam``; ``S2 +cheap dropout``; ``S3 +one-lookup embeddings``;
* ``S4 +in-place ops, bond codes encoded once per batch`` (= the package's current code, no override).

Collation is timed separately (ms per batch of 32): PyG ``DataLoader`` over ``Data`` objects, our
``GraphLoader`` with the former ``torch.repeat_interleave`` batch vector, and as it is now.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import reference  # noqa: E402
import run  # noqa: E402
from common import data_root  # noqa: E402


# ----------------------------------------------------- the code before the speed changes
def per_column_embedding(self, features):
    """Former ``CategoricalEmbedding.forward``: one lookup per column, summed."""
    out = self.embeddings[0](features[:, 0])
    for column, embedding in enumerate(self.embeddings[1:], start=1):
        out = out + embedding(features[:, column])
    return out


def gin_conv_out_of_place(self, x, edge_index, edge_attr):
    """Former ``GINConv.forward``."""
    source, target = edge_index[0], edge_index[1]
    messages = F.relu(x.index_select(0, source) + self.bond_embedding(edge_attr))
    aggregated = messages.new_zeros((x.size(0), messages.size(1))).index_add_(0, target, messages)
    return self.mlp((1 + self.eps) * x + aggregated)


def encoder_out_of_place(drop):
    """Former ``GraphEncoder.forward`` (and ``VirtualNode.update``) with dropout ``drop``."""
    from torch_geometric.nn import global_add_pool

    from molgraphpt.models.graph.layers import combine_layers
    from molgraphpt.models.outputs import GraphEncoderOutput

    def forward(self, graph):
        x, edge_index, edge_attr, batch = graph.x, graph.edge_index, graph.edge_attr, graph.batch
        num_graphs, cfg, vn = graph.num_graphs, self.cfg, self.virtual_node
        layers = [self.atom_embedding(x)]
        vn_state = vn.initial(num_graphs)
        for index in range(cfg.num_layers):
            layers[index] = layers[index] + vn_state.index_select(0, batch)
            h = self.norms[index](self.convs[index](layers[index], edge_index, edge_attr))
            if index < cfg.num_layers - 1:
                h = F.relu(h)
            h = drop(h, cfg.dropout, self.training)
            layers.append(h)
            if index < cfg.num_layers - 1:
                pooled = global_add_pool(layers[index], batch, size=num_graphs) + vn_state
                vn_state = drop(vn.mlps[index](pooled), vn.dropout, vn.training)
        node = combine_layers(layers, cfg.jk)
        return GraphEncoderOutput(node=node, graph=self.readout(node, batch, num_graphs))

    return forward


def torch_dropout(x, p, training):
    return F.dropout(x, p, training)


def fast_dropout(x, p, training):
    from molgraphpt.models.graph.layers import dropout

    return dropout(x, p, training)


def make_variant(stage: int, state: dict):
    """Task + optimizer of stage ``stage`` (0..4), from the same initial weights ``state``."""
    from molgraphpt.training import TrainConfig, build_optimizer
    from molgraphpt.training.optim import param_groups

    task = run.build_ours()
    task.load_state_dict(state)
    encoder = task.model.encoder
    if stage < 4:  # out-of-place ops, PyG pooling
        for module in encoder.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False
        drop = fast_dropout if stage >= 2 else torch_dropout
        encoder.forward = types.MethodType(encoder_out_of_place(drop), encoder)
        for conv in encoder.convs:
            conv.forward = types.MethodType(gin_conv_out_of_place, conv)
    if stage < 3:  # one lookup per column
        for module in encoder.modules():
            if type(module).__name__ == "CategoricalEmbedding":
                module.forward = types.MethodType(per_column_embedding, module)
    groups = param_groups(task, 0.0, lr=1e-3)
    if stage < 1:
        optimizer = torch.optim.Adam(groups, lr=1e-3)  # the per-parameter loop
    else:
        optimizer = build_optimizer(groups, TrainConfig())
    return task, optimizer


# -------------------------------------------------------------------------------- timing
def collation_ms(data_list, store, batch_size: int, rounds: int = 3) -> dict[str, float]:
    from molgraphpt.data import pyg
    from molgraphpt.data.loader import GraphLoader

    def old_batch_vector(graphs, y=None):
        batch = new_decoded_to_batch(graphs, y)
        counts = torch.from_numpy(graphs.num_nodes)
        batch.batch = torch.repeat_interleave(torch.arange(len(counts)), counts)
        return batch

    new_decoded_to_batch = pyg.decoded_to_batch
    loader = GraphLoader(store, batch_size=batch_size, shuffle=True)
    times: dict[str, list[float]] = {"pyg_dataloader": [], "ours_before": [], "ours_now": []}
    n = loader.num_batches()
    for r in range(rounds):
        start = time.perf_counter()
        for _ in reference.make_loader(data_list, batch_size):
            pass
        times["pyg_dataloader"].append((time.perf_counter() - start) / n * 1e3)
        for name, fn in (("ours_before", old_batch_vector), ("ours_now", new_decoded_to_batch)):
            import molgraphpt.data.loader as loader_module

            loader_module.decoded_to_batch = fn
            try:
                start = time.perf_counter()
                for _ in loader.iter_epoch(r):
                    pass
                times[name].append((time.perf_counter() - start) / n * 1e3)
            finally:
                loader_module.decoded_to_batch = new_decoded_to_batch
    return {k: round(min(v), 3) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the CPU to be >= 90%% idle",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    from torch_geometric.data import Batch

    from molgraphpt.data.loader import GraphLoader

    n = 32 * args.batches
    smiles, labels = run.read_subset(data_root(args.data_root), n)
    data_list = [reference.to_data(s, y) for s, y in zip(smiles, labels)]
    with tempfile.TemporaryDirectory() as tmp:
        store = run.build_our_store(smiles, labels, Path(tmp) / "hiv")
    ours_batches = list(GraphLoader(store, batch_size=32).iter_epoch(0))
    ref_batches = [Batch.from_data_list(data_list[i : i + 32]) for i in range(0, n, 32)]

    torch.manual_seed(0)
    ref = reference.build_model(1)
    ref_opt = reference.build_optimizer(ref)
    init = run.build_ours()
    run.copy_reference_weights(ref, init.model)
    state = init.state_dict()
    names = [
        "S0 before",
        "S1 +fused Adam",
        "S2 +cheap dropout",
        "S3 +one-lookup embeddings",
        "S4 +in-place, bond codes once (now)",
    ]
    variants = [make_variant(stage, state) for stage in range(5)]

    def ref_step(batch):
        pred = ref(batch)
        ref_opt.zero_grad()
        valid = batch.y == batch.y
        reference.cls_criterion(pred.float()[valid], batch.y.float()[valid]).backward()
        ref_opt.step()

    def our_step(task, optimizer, batch):
        task(batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    ref.train()
    for task, _ in variants:
        task.train()
    times: dict[str, list[float]] = {name: [] for name in ["reference", *names]}
    if args.wait_idle:
        print(f"CPU idle fraction before timing: {run.wait_for_idle(args.wait_idle):.2f}")
    for i in range(len(ours_batches) + 3):
        k = i % len(ours_batches)
        start = time.perf_counter()
        ref_step(ref_batches[k])
        elapsed = [time.perf_counter() - start]
        for task, optimizer in variants:
            start = time.perf_counter()
            our_step(task, optimizer, ours_batches[k])
            elapsed.append(time.perf_counter() - start)
        if i >= 3:  # warm-up
            for name, value in zip(times, elapsed):
                times[name].append(value)

    base, ref_t = times["S0 before"], times["reference"]
    print(f"training step, {len(ref_t)} batches of 32, torch threads = {args.threads}")
    print(f"{'variant':28s} {'ms/step':>8s} {'vs S0':>7s} {'vs prev':>8s} {'vs ref':>7s}")
    prev = None
    for name, values in times.items():
        ms = statistics.median(values) * 1e3
        vs0 = statistics.median([b / v for b, v in zip(base, values)])
        vref = statistics.median([r / v for r, v in zip(ref_t, values)])
        vprev = statistics.median([p / v for p, v in zip(prev, values)]) if prev else float("nan")
        print(f"{name:28s} {ms:8.1f} {vs0:7.3f} {vprev:8.3f} {vref:7.3f}")
        prev = values if name != "reference" else None
    print("collation ms/batch:", collation_ms(data_list, store, 32))


if __name__ == "__main__":
    main()
