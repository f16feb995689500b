"""Cached text features: equal to the encoder's pooled output, keyed, reused, and guarded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch_geometric.data import Batch

from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.data.batch import MolTextBatch, TextInputs, TextTokens
from molgraphpt.data.pyg import to_pyg
from molgraphpt.errors import CacheError, ConfigError, ShapeError
from molgraphpt.models.graph import GraphEncoderConfig
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.text import TextEncoder, TextEncoderConfig
from molgraphpt.models.text_features import (
    cached_text_features,
    encode_pooled,
    encoder_fingerprint,
    is_frozen,
)
from molgraphpt.objectives.base import TaskSpec, needs_text_tokens
from molgraphpt.objectives.multitask import build_objectives

# Deliberately of very different lengths, so the length-sorted batches reorder them.
TEXTS = [
    "the molecule is an aromatic alcohol found in plant and human metabolite species",
    "a salt",
    "it is an ester",
    "an organic acid derived from ethyl alcohol with a methyl group in position",
    "a drug",
    "the molecule is a conjugate base of an amino acid",
]
SMILES = ["c1ccccc1O", "[Na+].[Cl-]", "CC(=O)OC", "CC(=O)O", "CCN", "C[C@H](N)C(=O)O"]


def encoder(tiny_text_dir, freeze_layers: int = -1, max_length: int = 32) -> TextEncoder:
    cfg = TextEncoderConfig(
        name_or_path=str(tiny_text_dir), max_length=max_length, freeze_layers=freeze_layers
    )
    return TextEncoder.from_config(cfg)


def test_encode_pooled_equals_the_encoder_one_text_at_a_time_in_input_order(tiny_text_dir):
    enc = encoder(tiny_text_dir).train()  # encode_pooled switches to eval and back
    got = encode_pooled(enc, TEXTS, batch_size=4)
    assert got.shape == (len(TEXTS), enc.hidden_size) and got.dtype == np.float32
    assert enc.training
    enc.eval()
    with torch.no_grad():
        for i, text in enumerate(TEXTS):
            tokens = enc.tokenize([text])
            one = enc(tokens["input_ids"], tokens["attention_mask"]).pooled[0].numpy()
            np.testing.assert_allclose(got[i], one, rtol=1e-4, atol=1e-5)


def test_cache_is_written_once_then_read_back(tiny_text_dir, tmp_path):
    enc = encoder(tiny_text_dir)
    first = cached_text_features(enc, TEXTS, cache_dir=tmp_path, batch_size=3)
    files = list((tmp_path / "text-features").glob("*.npy"))
    assert len(files) == 1 and first.dtype == np.float16
    stamp = files[0].stat().st_mtime_ns
    second = cached_text_features(enc, TEXTS, cache_dir=tmp_path)
    assert isinstance(second, np.memmap) and files[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(np.asarray(second), first)
    exact = encode_pooled(enc, TEXTS)
    np.testing.assert_allclose(first.astype(np.float32), exact, rtol=2e-3, atol=2e-3)


def test_key_changes_with_texts_length_and_weights(tiny_text_dir, tmp_path):
    enc = encoder(tiny_text_dir)
    cached_text_features(enc, TEXTS, cache_dir=tmp_path)
    cached_text_features(enc, TEXTS[:-1] + ["a drug."], cache_dir=tmp_path)
    cached_text_features(encoder(tiny_text_dir, max_length=8), TEXTS, cache_dir=tmp_path)
    before = encoder_fingerprint(enc)
    with torch.no_grad():
        enc.model.embeddings.word_embeddings.weight[5, 0] += 1.0
    assert encoder_fingerprint(enc) != before
    cached_text_features(enc, TEXTS, cache_dir=tmp_path)
    assert len(list((tmp_path / "text-features").glob("*.npy"))) == 4


def test_a_trainable_encoder_is_refused(tiny_text_dir, tmp_path):
    enc = encoder(tiny_text_dir, freeze_layers=1)
    assert not is_frozen(enc) and is_frozen(encoder(tiny_text_dir, freeze_layers=2))
    with pytest.raises(ConfigError, match="freeze_layers"):
        cached_text_features(enc, TEXTS, cache_dir=tmp_path)


def test_a_cache_file_of_the_wrong_shape_is_named(tiny_text_dir, tmp_path):
    enc = encoder(tiny_text_dir)
    cached_text_features(enc, TEXTS, cache_dir=tmp_path)
    (path,) = (tmp_path / "text-features").glob("*.npy")
    np.save(path, np.zeros((2, 3), dtype=np.float16))
    with pytest.raises(CacheError, match=path.name):
        cached_text_features(enc, TEXTS, cache_dir=tmp_path)


# ------------------------------------------------------------------- model and objective


def moltext_model(tiny_text_dir) -> MolTextModel:
    torch.manual_seed(0)
    text = TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=32, freeze_layers=-1)
    graph = GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.0)
    return MolTextModel.build(MolTextConfig(graph=graph, text=text, proj_dim=8))


def test_embed_text_features_equals_embed_texts(tiny_text_dir):
    model = moltext_model(tiny_text_dir).eval()
    tokens = model.text.tokenize(TEXTS)
    with torch.no_grad():
        from_tokens = model.embed_texts(tokens)
        pooled = torch.from_numpy(encode_pooled(model.text, TEXTS))
        from_features = model.embed_text_features(pooled)
    torch.testing.assert_close(from_features, from_tokens, rtol=1e-4, atol=1e-5)
    with pytest.raises(ShapeError, match="another text model"):
        model.embed_text_features(pooled[:, :5])


def test_contrastive_loss_and_gradients_match_between_features_and_tokens(tiny_text_dir):
    """In train mode too: a frozen encoder's modules stay in eval mode (no dropout)."""
    model = moltext_model(tiny_text_dir).train()
    task = build_objectives([TaskSpec("mol_text_contrastive")], model)
    graph = Batch.from_data_list([to_pyg(smiles_to_graph(s)) for s in SMILES])
    pooled = torch.from_numpy(encode_pooled(model.text, TEXTS))
    outs, grads = [], []
    tokens = TextTokens(**model.text.tokenize(TEXTS))
    for text in (TextInputs(tokens=tokens), TextInputs(pooled=pooled)):
        model.zero_grad()
        out = task(MolTextBatch(graph=graph, text=text))
        out.loss.backward()
        outs.append(out.loss.detach())
        grads.append(next(model.text_proj.parameters()).grad.clone())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-5)
    assert F.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0) > 0.999


def test_which_objectives_need_text_tokens():
    assert not needs_text_tokens("mol_text_contrastive")
    assert not needs_text_tokens("attr_mask") and not needs_text_tokens("graphcl")
    for name in ("mlm", "kvplm_mlm", "cross_modal_mlm", "mol_text_matching"):
        assert needs_text_tokens(name), name


def test_encode_texts_sorts_by_length_but_returns_input_order(tiny_text_dir):
    model = moltext_model(tiny_text_dir)
    together = model.encode_texts(TEXTS, batch_size=4)
    one_by_one = torch.cat([model.encode_texts([t]) for t in TEXTS])
    torch.testing.assert_close(together, one_by_one, rtol=1e-4, atol=1e-5)
    assert model.encode_texts([]).shape == (0, 8)
