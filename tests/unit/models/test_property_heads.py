from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from molgraphpt.errors import ConfigError
from molgraphpt.models import GraphEncoderConfig, PropertyHead, PropertyModel, PropertyModelConfig


def tiny_model(**overrides) -> PropertyModel:
    encoder = GraphEncoderConfig(hidden_dim=16, num_layers=3, dropout=0.0, virtual_node=True)
    cfg = PropertyModelConfig(**{"encoder": encoder, "num_tasks": 2, **overrides})
    return PropertyModel(cfg)


def test_head_linear_or_mlp():
    x = torch.randn(4, 8)
    assert PropertyHead(8, 3)(x).shape == (4, 3)
    mlp = PropertyHead(8, 3, hidden_dim=5, dropout=0.2)
    assert mlp(x).shape == (4, 3)
    assert [m.__class__.__name__ for m in mlp.net] == ["Linear", "ReLU", "Dropout", "Linear"]


def test_forward_shape(batch):
    model = tiny_model(head_hidden_dim=8)
    assert model(batch).shape == (batch.num_graphs, 2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_tasks": 0},
        {"head_hidden_dim": 0},
        {"head_dropout": 1.5},
        {"task_type": "ranking"},
        {"encoder": {"arch": "gin"}},
    ],
)
def test_invalid_model_config(overrides):
    with pytest.raises(ConfigError):
        PropertyModelConfig(**overrides)


@pytest.mark.integration
def test_overfits_one_batch(batch_factory):
    torch.manual_seed(0)
    batch = batch_factory(seed=1, sizes=((4, 3), (6, 6), (1, 0), (7, 8), (5, 4), (3, 2)))
    labels = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=torch.float)
    model = tiny_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(50):
        loss = F.binary_cross_entropy_with_logits(model(batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _grads_after_step(model, batch):
    model.zero_grad(set_to_none=True)
    model(batch).sum().backward()
    return {n: p.grad is not None for n, p in model.named_parameters()}


def test_freeze_encoder_keeps_encoder_fixed(batch):
    model = tiny_model()
    model.freeze_encoder()
    model.train()
    assert not model.encoder.training and model.head.training
    stats = model.encoder.norms[0].running_mean.clone()
    grads = _grads_after_step(model, batch)
    assert not any(v for n, v in grads.items() if n.startswith("graph_encoder."))
    assert all(v for n, v in grads.items() if n.startswith("head."))
    torch.testing.assert_close(model.encoder.norms[0].running_mean, stats)  # BN stats frozen
    groups = {g["name"] for g in model.parameter_groups(1e-4, 1e-3)}
    assert groups == {"head_decay", "head_no_decay"}

    model.freeze_encoder(False)
    model.train()
    assert model.encoder.training
    assert all(_grads_after_step(model, batch).values())


def test_freeze_first_layers(batch):
    model = tiny_model()
    model.freeze_first_layers(1)
    grads = _grads_after_step(model, batch)
    frozen_prefixes = (
        "graph_encoder.atom_embedding.",
        "graph_encoder.virtual_node.embedding.",
        "graph_encoder.convs.0.",
        "graph_encoder.norms.0.",
        "graph_encoder.virtual_node.mlps.0.",
    )
    for name, has_grad in grads.items():
        assert has_grad != name.startswith(frozen_prefixes), name
    with pytest.raises(ConfigError):
        model.freeze_first_layers(4)
    model.freeze_first_layers(0)
    grads = _grads_after_step(model, batch)
    assert not grads["graph_encoder.atom_embedding.embeddings.0.weight"]
    assert grads["graph_encoder.convs.0.eps"]


def test_parameter_groups():
    model = tiny_model(head_hidden_dim=8)
    groups = model.parameter_groups(encoder_lr=1e-4, head_lr=1e-3, weight_decay=0.01)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"decay", "no_decay", "head_decay", "head_no_decay"}
    assert by_name["decay"]["lr"] == 1e-4 and by_name["head_decay"]["lr"] == 1e-3
    assert by_name["decay"]["weight_decay"] == 0.01
    assert by_name["no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in by_name["head_decay"]["params"])
    # the package's one rule: embedding tables are not decayed (as in pretraining)
    tables = {id(p) for p in model.graph_encoder.atom_embedding.parameters()}
    assert tables and tables <= {id(p) for p in by_name["no_decay"]["params"]}
    assert not tables & {id(p) for p in by_name["decay"]["params"]}
    assert all(p.ndim > 1 for p in by_name["decay"]["params"])
    total = sum(len(g["params"]) for g in groups)
    assert total == len(list(model.parameters()))
    torch.optim.AdamW(groups)  # accepted as is
