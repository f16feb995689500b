"""The end-to-end demo on the embedded data: pretrain → fine-tune → embed (``molgraphpt demo``).

Five short steps, offline, under 2 minutes on 2 CPU cores, written into ``run_dir``:

1. featurize the embedded BBBP dataset (``resources/bbbp``, OGB scaffold split);
2. graph pretraining (attribute masking + GraphCL) of a GIN 5x300 on ~2,000 unlabelled ZINC
   molecules (``resources/zinc_demo``), with every BBBP molecule excluded by canonical SMILES;
3. molecule–text pretraining (contrastive + attribute masking) of that GIN with the offline
   MiniLM-L6 text encoder on 320 ChEBI-20 pairs (``resources/chebi20_demo/pairs_train``), then
   text→molecule retrieval on the 80 pairs held out of it (``pairs_eval``) against chance. Skipped
   with a message when the offline MiniLM package (``molgraphpt[minilm-l6-offline]``) is absent;
4. fine-tuning on BBBP from the pretrained graph encoder (of step 3, else of step 2);
5. embedding the BBBP test molecules with the fine-tuned encoder (nearest neighbours of one), and,
   after step 3, a text query → the 3 nearest held-out ChEBI molecules.

Each step runs afresh (only the feature caches under ``run_dir/cache`` are reused); the summary
goes to ``run_dir/demo.json``. The step budgets are keyword arguments of :func:`run_demo`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from molgraphpt.config.schema import (
    CorpusConfig,
    DataConfig,
    FinetuneConfig,
    FinetuneModelConfig,
    MolTextOptions,
    PairSourceConfig,
    PretrainConfig,
)
from molgraphpt.data.datasets import embedded_dataset_dir, load_dataset
from molgraphpt.data.text import load_pairs
from molgraphpt.embed import Embedder, encode_smiles
from molgraphpt.errors import MissingDependencyError
from molgraphpt.models import text as text_models
from molgraphpt.models.graph.config import GraphEncoderConfig
from molgraphpt.models.moltext import MolTextModel
from molgraphpt.objectives.base import TaskSpec
from molgraphpt.recipes.finetune import run_finetune
from molgraphpt.recipes.pretrain import run_pretraining
from molgraphpt.recipes.retrieval import evaluate_retrieval
from molgraphpt.training.config import TrainConfig

if TYPE_CHECKING:
    from molgraphpt.data.datasets import MoleculeDataset
    from molgraphpt.data.text import PairTable

logger = logging.getLogger(__name__)

#: The text encoder of step 3: the offline MiniLM-L6, all but its last layer frozen.
DEMO_TEXT = text_models.TextEncoderConfig(
    name_or_path="minilm-l6-offline", max_length=48, freeze_layers=5
)
#: The text query of step 5.
DEMO_QUERY = "The molecule is a long-chain fatty acid."
#: The graph encoder pretrained in steps 2-3 (Hu et al. 2020's GIN, dropout 0 in pretraining).
DEMO_ENCODER = GraphEncoderConfig(arch="gin", hidden_dim=300, num_layers=5, dropout=0.0)
_STEPS = 5


def demo_resource(*parts: str) -> Path:
    """A file or folder of the package's ``resources`` (the demo data)."""
    return Path(str(resources.files("molgraphpt.resources").joinpath(*parts)))


def _quiet_train(steps: int, batch_size: int, **kwargs: Any) -> TrainConfig:
    return replace(
        TrainConfig(),
        max_steps=steps,
        batch_size=batch_size,
        lr=1e-3,
        eval_every=steps,
        save_every=0,
        log_every=1000,
        progress=False,
        **kwargs,
    )


def _chance_mrr(n: int) -> float:
    """Expected MRR of a random ranking of ``n`` candidates with one positive: ``H_n / n``."""
    return float(sum(1.0 / k for k in range(1, n + 1)) / n)


@dataclass(frozen=True)
class _Demo:
    """What every step of one :func:`run_demo` call shares."""

    run_dir: Path
    cache: Path
    bbbp_dir: Path
    seed: int
    num_threads: int | None


def _featurize_step(demo: _Demo) -> tuple[dict[str, Any], MoleculeDataset]:
    """Step 1: featurize the embedded BBBP dataset; returns its summary and the dataset."""
    start = time.perf_counter()
    dataset = load_dataset("embedded", cache_dir=demo.cache)
    store = dataset.store
    summary = {
        "molecules": len(dataset),
        "partially_sanitized": store.meta.get("num_partial"),
        "seconds": round(time.perf_counter() - start, 2),
        "bytes_per_molecule": round(store.nbytes(graph_only=True) / len(store), 1),
        "split": list(dataset.split.sizes),
    }
    print(f"[1/{_STEPS}] featurized {len(dataset)} BBBP molecules: {summary}")
    return summary, dataset


def _graph_pretrain_step(demo: _Demo, steps: int) -> dict[str, Any]:
    """Step 2: graph pretraining on unlabelled ZINC, BBBP excluded; returns its summary."""
    graph_cfg = PretrainConfig(
        run_dir=str(demo.run_dir / "pretrain_graph"),
        data=CorpusConfig(
            paths=(str(demo_resource("zinc_demo", "smiles.txt.gz")),),
            exclude=(str(demo.bbbp_dir),),
            cache_dir=str(demo.cache),
        ),
        model=DEMO_ENCODER,
        objectives=(
            TaskSpec("attr_mask", 1.0, {"mask_rate": 0.15}),
            TaskSpec(
                "graphcl",
                0.5,
                {"random_augs": ["drop_nodes", "subgraph"], "aug_ratio": 0.2, "temperature": 0.1},
            ),
        ),
        train=_quiet_train(steps, 64, seed=demo.seed, num_threads=demo.num_threads),
        valid_fraction=0.05,
    )
    info = run_pretraining(graph_cfg, overwrite=True)
    corpus = info["corpus"]
    summary = {
        "objectives": ["attr_mask", "graphcl"],
        "encoder": "GIN 5x300",
        "steps": info["steps"],
        "batch_size": 64,
        "molecules": info["num_train"] + info["num_valid"],
        "excluded_bbbp": corpus.get("num_excluded"),
        "final_train": info["final_train"],
        "final_valid": info["final_valid"],
        "seconds": info["wall_time_s"],
        "model_dir": info["model_dir"],
    }
    losses = ", ".join(
        f"{k} {v:.3f}" for k, v in info["final_train"].items() if k == "loss" or k.endswith("/loss")
    )
    print(
        f"[2/{_STEPS}] graph-pretrained GIN 5x300 (attr_mask + graphcl) for {info['steps']} steps "
        f"on {info['num_train']} ZINC molecules ({corpus.get('num_excluded')} BBBP molecules "
        f"excluded) in {info['wall_time_s']:.0f} s: {losses}"
    )
    return summary


def _moltext_config(
    demo: _Demo, steps: int, text: text_models.TextEncoderConfig, init_dir: str
) -> PretrainConfig:
    """The molecule–text pretraining of step 3, from the encoder in ``init_dir``."""
    return PretrainConfig(
        run_dir=str(demo.run_dir / "pretrain_moltext"),
        data=CorpusConfig(
            pairs=(PairSourceConfig(str(demo_resource("chebi20_demo", "pairs_train.tsv.gz"))),),
            exclude=(str(demo.bbbp_dir),),
            cache_dir=str(demo.cache),
        ),
        model=DEMO_ENCODER,
        objectives=(
            TaskSpec("mol_text_contrastive", 1.0),
            TaskSpec("attr_mask", 0.5, {"mask_rate": 0.15}),
        ),
        train=_quiet_train(steps, 32, seed=demo.seed, num_threads=demo.num_threads),
        valid_fraction=0.1,
        text=text,
        moltext=MolTextOptions(text_lr=1e-4),
        init=init_dir,
    )


def _moltext_pretrain_step(
    demo: _Demo,
    steps: int,
    text: text_models.TextEncoderConfig,
    init_dir: str,
    eval_pairs: PairTable,
) -> tuple[dict[str, Any], MolTextModel | None]:
    """Step 3: molecule–text pretraining from ``init_dir``, then retrieval on ``eval_pairs``.

    Returns:
        The step's summary and the trained model, or None when the text model is missing.
    """
    try:
        text_models.resolve_text_model(text.name_or_path)
        mt_info = run_pretraining(_moltext_config(demo, steps, text, init_dir), overwrite=True)
    except MissingDependencyError as err:
        print(
            f"[3/{_STEPS}] SKIPPED molecule-text pretraining: the text model "
            f"{text.name_or_path!r} is not available ({err})"
        )
        return {"skipped": True, "reason": str(err)}, None
    moltext_model = MolTextModel.from_pretrained(mt_info["model_dir"])
    retrieval = evaluate_retrieval(moltext_model, eval_pairs.smiles, eval_pairs.texts)
    n = retrieval["num_pairs"]
    chance = _chance_mrr(n)
    t2m = retrieval["text_to_mol"]
    summary = {
        "skipped": False,
        "text_model": text.name_or_path,
        "objectives": ["mol_text_contrastive", "attr_mask"],
        "init": init_dir,
        "steps": mt_info["steps"],
        "batch_size": 32,
        "pairs": mt_info["num_train"],
        "held_out_pairs": mt_info["num_valid"],
        "final_train": mt_info["final_train"],
        "final_valid": mt_info["final_valid"],
        "seconds": mt_info["wall_time_s"],
        "model_dir": mt_info["model_dir"],
        "retrieval": {
            "num_pairs": n,
            "text_to_mol_mrr": t2m["mrr"],
            "mol_to_text_mrr": retrieval["mol_to_text"]["mrr"],
            "chance_mrr": round(chance, 4),
            "text_to_mol": t2m,
        },
    }
    print(
        f"[3/{_STEPS}] molecule-text pretrained (GIN + {text.name_or_path}, contrastive + "
        f"attr_mask) for {mt_info['steps']} steps on {mt_info['num_train']} ChEBI-20 pairs "
        f"in {mt_info['wall_time_s']:.0f} s; text->mol retrieval on {n} unseen pairs: "
        f"MRR {t2m['mrr']:.3f} (chance {chance:.3f})"
    )
    return summary, moltext_model


def _finetune_step(
    demo: _Demo, epochs: int, init_dir: str, source: str
) -> tuple[dict[str, Any], Path]:
    """Step 4: fine-tune on BBBP from the ``source``-pretrained encoder in ``init_dir``.

    Returns:
        The step's summary and the folder of the fine-tuned model.
    """
    cfg = FinetuneConfig(
        run_dir=str(demo.run_dir / "finetune"),
        seeds=(demo.seed,),
        data=DataConfig(dataset="embedded", cache_dir=str(demo.cache)),
        model=FinetuneModelConfig(
            encoder=GraphEncoderConfig(arch="gin", dropout=0.5), init=str(init_dir)
        ),
        train=replace(
            TrainConfig(),
            epochs=epochs,
            batch_size=32,
            lr=1e-3,
            progress=False,
            log_every=1000,
            num_threads=demo.num_threads,
        ),
    )
    results = run_finetune(cfg, overwrite=True)
    summary = {
        "init": str(init_dir),
        "test_roc_auc": results["test"]["mean"],
        "valid_roc_auc": results["valid"]["mean"],
        "epochs": epochs,
        "seconds": results["wall_time_s"],
    }
    ogb_auc = results["seeds"][0]["test"].get("ogb_roc_auc", float("nan"))
    print(
        f"[4/{_STEPS}] fine-tuned the {source}-pretrained GIN 5x300 on BBBP for {epochs} epochs: "
        f"test ROC-AUC {results['test']['mean']:.3f} (OGB Evaluator: {ogb_auc:.3f})"
    )
    return summary, Path(cfg.run_dir) / f"seed_{demo.seed}" / "model"


def _embed_step(demo: _Demo, dataset: MoleculeDataset, model_dir: Path) -> dict[str, Any]:
    """Step 5: embed the BBBP test molecules; the 3 nearest neighbours of the first one."""
    store = dataset.store
    smiles = [store.smiles(int(i)) for i in dataset.split.test]
    embedder = Embedder.from_pretrained(model_dir)
    emb, kept = embedder.embed_smiles(smiles)
    np.save(demo.run_dir / "test_embeddings.npy", emb)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
    sims = unit @ unit[0]
    nearest = [int(i) for i in np.argsort(-sims)[1:4]]
    summary = {
        "shape": list(emb.shape),
        "query": smiles[0],
        "nearest": [smiles[kept[i]] for i in nearest],
    }
    print(
        f"[5/{_STEPS}] embedded {emb.shape[0]} test molecules -> "
        f"{demo.run_dir / 'test_embeddings.npy'} "
        f"{tuple(emb.shape)}; nearest to {smiles[0]}: {summary['nearest']}"
    )
    return summary


def _text_search_step(
    moltext_model: MolTextModel | None, eval_pairs: PairTable, query: str
) -> dict[str, Any]:
    """Step 5, after step 3: the 3 held-out ChEBI molecules nearest to the text ``query``."""
    if moltext_model is None:
        return {"skipped": True}
    mols = encode_smiles(moltext_model, eval_pairs.smiles).numpy()
    q = moltext_model.encode_texts([query]).numpy()[0]
    scores = mols @ q
    top = [int(i) for i in np.argsort(-scores)[:3]]
    hits = [
        {
            "smiles": eval_pairs.smiles[i],
            "score": round(float(scores[i]), 4),
            "description": eval_pairs.texts[i],
        }
        for i in top
    ]
    print(f'      text search "{query}" over {len(scores)} unseen ChEBI-20 molecules:')
    for rank, hit in enumerate(hits, 1):
        words = " ".join(hit["description"].split()[:9])
        print(f"        {rank}. {hit['smiles']}  ({hit['score']:.3f})  {words} ...")
    return {"skipped": False, "query": query, "pool": len(eval_pairs.smiles), "hits": hits}


def _write_summary(run_dir: Path, summary: dict[str, Any], demo_start: float) -> None:
    """Add the total time to ``summary``, write it to ``run_dir/demo.json`` and say so."""
    summary["seconds"] = round(time.perf_counter() - demo_start, 1)
    (run_dir / "demo.json").write_text(json.dumps(summary, indent=2))
    print(f"done in {summary['seconds']:.0f} s; summary -> {run_dir / 'demo.json'}")


def run_demo(
    run_dir: str | Path = "runs/demo",
    *,
    epochs: int = 5,
    seed: int = 0,
    pretrain_steps: int = 40,
    moltext_steps: int = 30,
    text: text_models.TextEncoderConfig | None = None,
    query: str = DEMO_QUERY,
    num_threads: int | None = 1,
) -> dict[str, Any]:
    """Run the demo; returns (and writes to ``run_dir/demo.json``) a summary of every step.

    Args:
        run_dir: Output folder (``cache/``, ``pretrain_graph/``, ``pretrain_moltext/``,
            ``finetune/``, ``test_embeddings.npy``, ``demo.json``).
        epochs: Fine-tuning epochs on BBBP.
        seed: Seed of every step.
        pretrain_steps: Graph pretraining steps (batch 64).
        moltext_steps: Molecule–text pretraining steps (batch 32).
        text: Text encoder of step 3 (default :data:`DEMO_TEXT`).
        query: Text query of step 5.
        num_threads: Torch CPU threads of the training steps (``torch.set_num_threads``; None
            keeps torch's default). One thread is the default: these small batches gain little
            from more, and extra threads slow down badly on a machine that is already busy.
    """
    run_dir = Path(run_dir)
    cache = run_dir / "cache"
    text = DEMO_TEXT if text is None else text
    for step_dir in ("pretrain_graph", "pretrain_moltext", "finetune"):
        shutil.rmtree(run_dir / step_dir, ignore_errors=True)  # a rerun starts afresh
    demo = _Demo(run_dir, cache, embedded_dataset_dir(), seed, num_threads)
    summary: dict[str, Any] = {}
    demo_start = time.perf_counter()

    summary["featurize"], dataset = _featurize_step(demo)
    summary["pretrain_graph"] = _graph_pretrain_step(demo, pretrain_steps)
    init_dir = summary["pretrain_graph"]["model_dir"]
    eval_pairs = load_pairs(demo_resource("chebi20_demo", "pairs_eval.tsv.gz"))
    summary["pretrain_moltext"], moltext_model = _moltext_pretrain_step(
        demo, moltext_steps, text, init_dir, eval_pairs
    )
    if moltext_model is not None:
        init_dir = summary["pretrain_moltext"]["model_dir"]
    source = "molecule-text" if moltext_model is not None else "graph"
    summary["finetune"], model_dir = _finetune_step(demo, epochs, init_dir, source)
    summary["embed"] = _embed_step(demo, dataset, model_dir)
    summary["text_search"] = _text_search_step(moltext_model, eval_pairs, query)
    _write_summary(run_dir, summary, demo_start)
    return summary
