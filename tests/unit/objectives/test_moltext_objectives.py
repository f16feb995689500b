"""Molecule–text objectives on a real tiny BERT and a real tiny GIN, with real SMILES tokens."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.data.batch import MolTextBatch, TextInputs, TextTokens
from molgraphpt.data.transforms.tokens import IGNORE_INDEX, mask_tokens
from molgraphpt.errors import ConfigError, ShapeError
from molgraphpt.models.graph import GraphEncoderConfig
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.text import TextEncoder, TextEncoderConfig
from molgraphpt.objectives import TaskSpec, build_objectives, build_task
from molgraphpt.objectives.moltext import gather_with_grad
from molgraphpt.objectives.text_mlm import pack_text_and_smiles
from tests.unit.objectives.conftest import SMILES, molecules, tiny_encoder, train_until_halved

TEXTS = [
    "the molecule is an alcohol",
    "the molecule is a phenol, an aromatic compound",
    "an ester and a carboxylic acid used as a drug",
    "a salt of sodium",
    "an amino acid with a methyl group",
    "an amino ester used in treatment",
    "the simplest alkane, a gas",
]
NAMES = ["mol_text_contrastive", "mlm", "kvplm_mlm", "cross_modal_mlm", "mol_text_matching"]
PARAMS = {"cross_modal_mlm": {"heads": 2}, "mol_text_matching": {"heads": 2}}


@pytest.fixture(scope="module")
def smiles_tokenizer() -> SmilesTokenizer:
    corpus = SMILES * 20 + ["CCCCCCN", "c1ccncc1", "ClCCBr", "O=C(O)CCC(=O)O"] * 20
    return SmilesTokenizer.train(corpus, vocab_size=100, min_frequency=1)


def build_model(tiny_text_dir, smiles_tokenizer=None, seed=0) -> MolTextModel:
    torch.manual_seed(seed)
    text_cfg = TextEncoderConfig(name_or_path=str(tiny_text_dir), pooling="mean", max_length=32)
    cfg = MolTextConfig(
        graph=GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.0),
        text=text_cfg,
        proj_dim=8,
        smiles_vocab_size=smiles_tokenizer.vocab_size if smiles_tokenizer else 0,
    )
    return MolTextModel.build(
        cfg, text_encoder=TextEncoder.from_config(text_cfg), smiles_tokenizer=smiles_tokenizer
    )


def make_batch(model: MolTextModel, smiles_tokenizer=None) -> MolTextBatch:
    batch = molecules(SMILES)
    tokens = TextTokens(**model.text.tokenize(TEXTS))
    smiles = None
    if smiles_tokenizer is not None:
        enc = smiles_tokenizer.encode_batch(SMILES, max_length=24)
        smiles = TextTokens(
            torch.as_tensor(enc["input_ids"]), torch.as_tensor(enc["attention_mask"])
        )
    return MolTextBatch(graph=batch.graph, text=TextInputs(tokens=tokens, smiles=smiles))


def build(name, tiny_text_dir, smiles_tokenizer, **params):
    model = build_model(tiny_text_dir, smiles_tokenizer)
    spec = TaskSpec(name, params={**PARAMS.get(name, {}), **params})
    return model, build_task(spec, model)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_finite_and_reaches_the_parameters_it_trains(name, tiny_text_dir, smiles_tokenizer):
    model, task = build(name, tiny_text_dir, smiles_tokenizer)
    out = task(make_batch(model, smiles_tokenizer))
    assert out.loss.ndim == 0 and math.isfinite(out.loss.item())
    out.loss.backward()
    missing = [n for n, p in task.named_parameters() if p.requires_grad and p.grad is None]
    # What each objective legitimately does not touch:
    unused = {
        "mol_text_contrastive": ("model.smiles_embeddings", "model.text.model.pooler"),
        "mlm": ("model.graph", "model.graph_proj", "model.text_proj", "model.logit_scale"),
        "kvplm_mlm": ("model.graph", "model.graph_proj", "model.text_proj", "model.logit_scale"),
        "cross_modal_mlm": ("model.graph_proj", "model.text_proj", "model.logit_scale"),
        "mol_text_matching": ("model.graph_proj", "model.text_proj", "model.logit_scale"),
    }[name]
    unexpected = [
        n
        for n in missing
        if not n.startswith(unused)
        and "pooler" not in n
        and not n.startswith("model.smiles_embeddings")
    ]
    assert not unexpected, unexpected
    own = [n for n, _ in task.named_parameters() if not n.startswith("model.")]
    assert own or name == "mol_text_contrastive"
    assert not [n for n in own if n in missing]  # every head of the objective is trained
    if name == "kvplm_mlm":
        assert model.smiles_embeddings.weight.grad is not None
        assert model.smiles_embeddings.weight.grad.abs().sum() > 0
    if name in ("mol_text_contrastive", "cross_modal_mlm", "mol_text_matching"):
        grads = [p.grad for p in model.graph.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", NAMES)
def test_overfits_one_batch(name, tiny_text_dir, smiles_tokenizer):
    """The loss halves within 150 Adam steps, randomness fixed (reseeded every step)."""
    model, task = build(name, tiny_text_dir, smiles_tokenizer)
    if name == "mol_text_matching":
        task.train(False)  # no dropout noise in the fusion
    losses = train_until_halved(task, make_batch(model, smiles_tokenizer), steps=150, lr=3e-3)
    assert losses[-1] <= 0.5 * losses[0], (losses[0], min(losses))


def test_contrastive_loss_matches_the_formula(tiny_text_dir):
    model, task = build("mol_text_contrastive", tiny_text_dir, None)
    model.eval()
    batch = make_batch(model)
    out = task(batch)
    g = model.embed_graphs(batch.graph)
    t = model.embed_texts(batch.text_tokens().as_dict())
    logits = model.logit_scale.exp() * g @ t.T
    target = torch.arange(len(SMILES))
    expected = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    assert torch.allclose(out.loss, expected, atol=1e-5)
    assert torch.allclose(out.logs["temperature"], 1 / model.logit_scale.exp(), atol=1e-6)


def test_frozen_temperature_gets_no_gradient(tiny_text_dir):
    model, task = build("mol_text_contrastive", tiny_text_dir, None, learnable_temperature=False)
    task(make_batch(model)).loss.backward()
    assert model.logit_scale.grad is None


def test_gather_without_process_group_is_identity():
    x = torch.randn(4, 3, requires_grad=True)
    rows, offset = gather_with_grad(x)
    assert rows is x and offset == 0


def test_text_objective_needs_a_text_encoder():
    with pytest.raises(ConfigError, match="text encoder"):
        build_objectives([TaskSpec("mlm")], tiny_encoder())


def test_graph_objectives_run_on_the_graph_encoder_of_a_moltext_model(tiny_text_dir):
    model = build_model(tiny_text_dir)
    task = build_objectives([TaskSpec("attr_mask"), TaskSpec("mol_text_contrastive")], model)
    assert task.tasks["attr_mask"].encoder is model.graph
    out = task(make_batch(model))
    assert {"attr_mask/atom_acc", "mol_text_contrastive/acc_t2m", "loss"} <= set(out.logs)


def test_kvplm_needs_smiles_embeddings(tiny_text_dir):
    model = build_model(tiny_text_dir, None)
    with pytest.raises(ConfigError, match="SMILES"):
        build_task(TaskSpec("kvplm_mlm"), model)


def test_kvplm_needs_smiles_tokens_in_the_batch(tiny_text_dir, smiles_tokenizer):
    model, task = build("kvplm_mlm", tiny_text_dir, smiles_tokenizer)
    with pytest.raises(ShapeError, match="needs SMILES tokens.*smiles_tokenizer"):
        task(make_batch(model, None))


@pytest.mark.parametrize("name", ["mlm", "kvplm_mlm", "cross_modal_mlm", "mol_text_matching"])
def test_token_objectives_refuse_pooled_vectors_only(name, tiny_text_dir, smiles_tokenizer):
    model, task = build(name, tiny_text_dir, smiles_tokenizer)
    pooled = torch.zeros(len(SMILES), model.text.hidden_size)
    batch = MolTextBatch(graph=molecules(SMILES).graph, text=TextInputs(pooled=pooled))
    with pytest.raises(
        ShapeError, match="needs text tokens in batch.text, which carries only pooled"
    ):
        task(batch)
    with pytest.raises(ShapeError, match="batch.text"):
        task(MolTextBatch(graph=batch.graph))


# ------------------------------------------------------------------------------ pure parts


def test_pack_text_and_smiles_by_hand():
    hidden = 2
    text = torch.arange(2 * 4 * hidden, dtype=torch.float).view(2, 4, hidden)
    text_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    smiles = -torch.arange(1, 2 * 3 * hidden + 1, dtype=torch.float).view(2, 3, hidden)
    smiles_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out, mask, types, pos = pack_text_and_smiles(text, text_mask, smiles, smiles_mask)
    # row 0: 3 text + 2 SMILES (its [CLS] dropped) = 5; row 1: 4 text + 1 SMILES = 5
    assert out.shape == (2, 5, hidden)
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert types.tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]]
    assert torch.equal(out[0, :3], text[0, :3]) and torch.equal(out[0, 3:], smiles[0, 1:])
    assert torch.equal(out[1, :4], text[1]) and torch.equal(out[1, 4], smiles[1, 1])
    assert pos[0, 1:].tolist() == [3, 4] and pos[1, 1] == 4


def test_pack_pads_the_shorter_row():
    text = torch.ones(2, 3, 1)
    out, mask, types, _ = pack_text_and_smiles(
        text, torch.tensor([[1, 1, 0], [1, 1, 1]]), torch.ones(2, 2, 1), torch.ones(2, 2)
    )
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert out[0, 3].abs().sum() == 0 and types[0, 3] == 0


def test_mask_tokens_rules():
    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0]])
    attention = (ids != 0).long()
    out = mask_tokens(
        ids,
        attention,
        rate=0.5,
        mask_id=4,
        vocab_size=20,
        special_ids=[0, 2, 3],
        generator=torch.Generator().manual_seed(0),
    )
    selected = out.selected
    assert not selected[ids == 2].any() and not selected[ids == 3].any()
    assert not selected[attention == 0].any()
    assert selected.any(dim=1).all()  # at least one per sequence, even the 1-word one
    assert torch.equal(out.labels[selected], ids[selected])
    assert (out.labels[~selected] == IGNORE_INDEX).all()
    assert torch.equal(out.input_ids[~selected], ids[~selected])
    again = mask_tokens(
        ids,
        attention,
        rate=0.5,
        mask_id=4,
        vocab_size=20,
        special_ids=[0, 2, 3],
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(again.input_ids, out.input_ids) and torch.equal(again.labels, out.labels)


def test_mask_tokens_80_10_10():
    ids = torch.randint(5, 1000, (64, 128))
    out = mask_tokens(
        ids,
        torch.ones_like(ids),
        rate=0.15,
        mask_id=4,
        vocab_size=1000,
        generator=torch.Generator().manual_seed(1),
    )
    sel = out.selected
    share = sel.float().mean().item()
    assert 0.13 < share < 0.17
    masked = (out.input_ids[sel] == 4).float().mean().item()
    unchanged = (out.input_ids[sel] == ids[sel]).float().mean().item()
    assert 0.76 < masked < 0.84 and 0.07 < unchanged < 0.13


def test_mask_tokens_rejects_bad_rates():
    ids = torch.ones(1, 3, dtype=torch.long)
    with pytest.raises(ConfigError):
        mask_tokens(
            ids, ids, rate=0.1, mask_id=4, vocab_size=9, replace_mask=0.9, replace_random=0.2
        )
