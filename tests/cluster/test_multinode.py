"""What changes when Ray has more than one node: a head (the driver, no CPUs) and two worker
nodes on this machine, everything stored on the local S3 server (see the `multinode` fixture).

- the dataset job's tasks run on the other nodes and write straight to object storage;
- prediction actors on both worker nodes each map the one copy of the trie in their node's
  object store (≤ 10 MB private memory for a 15 MB trie; a private copy shows up);
- a node removed in the middle of prediction: every row comes out exactly once.

The same node loss in the middle of a training run (its two workers on two nodes, continued
from its last checkpoint) is `swipe bench reliability`'s `node_train`: a minute and a half here,
where prediction proves the node loss in half a minute.
"""

from __future__ import annotations

import time

import pytest
import torch

from swipe import storage
from swipe.data.dataset import load_manifest, read_split
from swipe.data.make import MakeDatasetConfig, make_dataset
from swipe.decode.search import BeamConfig
from swipe.evaluate.predict import PredictConfig, Predictor, predict
from swipe.evaluate.predictions import read_predictions
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import save_model_dir
from swipe.model.features import KeyTable
from swipe.model.transformer import ModelConfig, SwipeModel
from tests.support.memory import probe_trie
from tests.support.faults import PREDICT_ACTOR, actor_nodes
from tests.support.multinode import through_node_loss
from swipe.model.spec import InputSpec, PointSpec

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DS = "s3://swipe/multinode/ds"
CKPT = "s3://swipe/multinode/ckpt"


@pytest.fixture(scope="module")
def dataset(multinode, in_root_module):
    """The dataset, made by tasks on the worker nodes straight into the bucket; a checkpoint
    of a tiny untrained model beside it."""
    import ray

    make_dataset(MakeDatasetConfig(out=DS, n_swipes=1600, shard_rows=400, lexicon=LexiconConfig(top_n=200)))
    manifest = load_manifest(DS)
    alphabet = Alphabet(manifest["alphabet"])
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12), KeyTable.build(parse_layouts(manifest["layouts"]),
                                                                                  alphabet), alphabet.size)
    local = save_model_dir(in_root_module / "ckpt", model, alphabet, manifest["layouts"],
                           InputSpec(lexicon=LexiconConfig(top_n=200)), {"step": 0})
    storage.upload_tree(local, CKPT)
    return ray.get_runtime_context().get_node_id()


@pytest.fixture(scope="module")
def in_root_module(tmp_path_factory):
    return tmp_path_factory.mktemp("multinode")


def _worker_node_ids(cluster) -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0}


def test_dataset_tasks_run_on_the_other_nodes(multinode, dataset):
    from ray.util.state import list_tasks

    import ray

    driver_node = dataset
    deadline = time.monotonic() + 30
    while True:  # workers report task events to the GCS every second or so
        seen = list_tasks(address=ray.get_runtime_context().gcs_address, detail=True, limit=10_000)
        tasks = [t for t in seen if "_synth_task" in t.name and t.state == "FINISHED"]
        if len(tasks) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(tasks) == 4, sorted({(t.name, t.state) for t in seen})  # one per shard
    assert {t.node_id for t in tasks} <= _worker_node_ids(multinode) and driver_node not in {t.node_id for t in tasks}
    assert load_manifest(DS)["rows_kept"] + load_manifest(DS).get("rows_rejected", 0) == 1600


def test_predictor_actors_on_both_nodes_map_one_trie_per_node(multinode, dataset):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    alphabet = Alphabet(load_manifest(DS)["alphabet"])
    big = build_lexicon_trie(LexiconConfig(), alphabet)  # every English word: ~15 MB of arrays
    trie_mb = sum(getattr(big, a).nbytes for a in big.ARRAYS) / 2**20
    assert trie_mb > 12
    refs = {"big": ray.put(big), "small": ray.put(build_lexicon_trie(LexiconConfig(top_n=50), alphabet))}

    nodes = sorted(_worker_node_ids(multinode))
    assert len(nodes) == 2
    extra = {}
    for node in nodes:
        on = NodeAffinitySchedulingStrategy(node, soft=False)
        actors = {k: ray.remote(Predictor).options(num_cpus=0.25, scheduling_strategy=on).remote(
            CKPT, refs[k], BeamConfig(), InputSpec(PointSpec(64)).to_dict(), 32) for k in ("big", "small")}
        got = {k: ray.get(a.__ray_call__.remote(probe_trie)) for k, a in actors.items()}
        assert {g[0] for g in got.values()} == {node} and not got["big"][2]  # on that node, read-only views
        extra[node] = got["big"][1] - got["small"][1]
        copied = ray.get(actors["big"].__ray_call__.remote(probe_trie, True))[1]  # the control: a private copy
        assert copied - got["big"][1] > 0.9 * trie_mb, (copied, got["big"][1], trie_mb)
        for a in actors.values():
            ray.kill(a)
    print(f"trie {trie_mb:.1f} MB; extra private MB per node: {extra}")  # shown with -s
    assert all(v <= 10 for v in extra.values()), (extra, trie_mb)

    before = set(actor_nodes(PREDICT_ACTOR))
    out = "s3://swipe/multinode/pred_both"
    result = predict(PredictConfig(checkpoint=CKPT, dataset=DS, split="train", out=out, concurrency=2,
                                   cpus_per_actor=1.5, batch_size=64, beam=BeamConfig(beam_size=2, top_k=2),
                                   lexicon={"top_n": 200}))
    placed = {n for a, n in actor_nodes(PREDICT_ACTOR).items() if a not in before}
    assert placed == set(nodes), placed  # one actor per node: 1.5 CPUs each, 2 per node
    assert sorted(read_predictions(out)["id"].to_pylist()) == sorted(read_split(DS, "train")["id"].to_pylist())
    assert result.rows_in == result.rows_out + result.rows_rejected


def test_a_node_removed_during_prediction_loses_and_doubles_no_row(multinode, dataset):
    out = "s3://swipe/multinode/pred_nodeloss"
    cfg = PredictConfig(checkpoint=CKPT, dataset=DS, split="train", out=out, concurrency=2, cpus_per_actor=1.0,
                        batch_size=8, beam=BeamConfig(beam_size=8, top_k=2), lexicon={"top_n": 200})
    result, removed, error = through_node_loss(multinode, 0, lambda: bool(storage.list_files(out, ".parquet")),
                                               lambda: predict(cfg))
    assert len(removed) == 1, error
    ids = read_predictions(out)["id"].to_pylist()
    assert sorted(ids) == sorted(read_split(DS, "train")["id"].to_pylist())  # every row, exactly once
    assert result.rows_in == result.rows_out and result.rows_rejected == 0
