"""`swipe bench reliability`: every fault and bad-input scenario once, with their accounting.

Faults (on a local Ray, a tiny synthetic dataset, the tiny model):
  train    a Ray Train worker SIGKILLed after the first registered checkpoint (max_failures=1);
           survived if the run ends at max_steps having continued from a checkpoint
           (its first validation ran once)
  predict  a predictor actor SIGKILLed once the first shard is written
  sweep    a Tune trial's process SIGKILLed once Train has registered a checkpoint of its
           run (max_failures=1); survived if the retry ends the run from a checkpoint
  job      `ray job stop` of a prediction job on a `ray start --head` cluster, then resubmitted
Node losses (a head and two worker nodes, ray.cluster_utils.Cluster; data, runs and
checkpoints on a local S3-protocol server):
  node_predict  a worker node removed once the first shard is written: every row once
  node_train    a worker node removed once Train has registered a checkpoint (max_failures=3):
                survived if the run ends at max_steps, restarted from a checkpoint
Bad input (tests.support.damage, `seeds` draws of every kind, mixed with good rows):
  import   JSONL lines through the importer's parse + validate
  rows     Arrow rows through the prediction actor's checks and decoder
  shards   damaged Parquet files through the shard check
  job      a prediction job over a good shard, a shard of damaged rows and a corrupt shard

`faults_unsurvived`, `bad_inputs_unhandled` and `rows_lost` must be 0: a fault is
survived when the job ends as it would have without it, with every row once; a bad input
is handled when it is quarantined with its reason (and a good row when it is kept).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from swipe.model.spec import InputSpec, PointSpec
from tests.support import damage

TINY_TRAIN = ["model.preset=tiny", "run.max_steps=30", "run.val_every=10", "data.batch_size=16",
              "data.max_points=48", "data.val_rows=96", "data.read_blocks=4", "run.decode_rows=48",
              "run.stats_rows=400", "lexicon.top_n=200", "tracking.wandb=disabled", "optim.warmup_steps=5"]


class Tally:
    def __init__(self) -> None:
        self.figures = {"faults_injected": 0, "faults_unsurvived": 0, "bad_inputs_tried": 0,
                        "bad_inputs_unhandled": 0, "rows_lost": 0, "node_losses_injected": 0,
                        "node_losses_survived": 0}
        self.scenarios: dict[str, dict[str, Any]] = {}

    def fault(self, name: str, injected: int, survived: bool, rows_lost: int = 0, **detail: Any) -> None:
        injected, survived, rows_lost = int(injected), bool(survived), int(rows_lost)  # numpy → JSON
        self.figures["faults_injected"] += injected
        self.figures["faults_unsurvived"] += int(injected == 0 or not survived)  # a fault that never landed is a failure too
        self.figures["rows_lost"] += rows_lost
        if name.startswith("node_"):  # a whole node lost (raylet, object store, every worker on it)
            self.figures["node_losses_injected"] += injected
            self.figures["node_losses_survived"] += injected if survived else 0
        self.scenarios[f"fault_{name}"] = {"injected": injected, "survived": survived, "rows_lost": rows_lost, **detail}
        print(f"[reliability] fault {name}: injected {injected}, survived {survived}, rows lost {rows_lost}", flush=True)

    def bad(self, name: str, tried: int, unhandled: int, rows_lost: int = 0, **detail: Any) -> None:
        tried, unhandled, rows_lost = int(tried), int(unhandled), int(rows_lost)
        self.figures["bad_inputs_tried"] += tried
        self.figures["bad_inputs_unhandled"] += unhandled
        self.figures["rows_lost"] += rows_lost
        self.scenarios[f"bad_{name}"] = {"tried": tried, "unhandled": unhandled, "rows_lost": rows_lost, **detail}
        print(f"[reliability] bad input {name}: tried {tried}, unhandled {unhandled}, rows lost {rows_lost}", flush=True)


def _validations(run_dir: str | Path) -> list[int]:
    """The steps at which a run validated, in the order logged (a restart may repeat some)."""
    from swipe.train.tracking import read_metrics

    return [r["step"] for r in read_metrics(run_dir) if "val/loss" in r]


def _plan(kinds: list[str], seeds: int) -> list[tuple[str, int]]:
    """Every kind `seeds` times, each followed by a good row."""
    return [p for k in kinds for s in range(seeds) for p in ((k, s), ("good", 1000 + s))]


def run_node_losses(workdir: str | None = None) -> dict[str, Any]:
    """`bench.py reliability_nodes`: the node-loss faults alone (a few minutes)."""
    from swipe.decode.search import BeamConfig
    from swipe.evaluate.predict import PredictConfig
    from swipe.lexicon import LexiconConfig

    t0 = time.perf_counter()
    tally = Tally()
    pcfg = PredictConfig(split="train", concurrency=2, batch_size=8, beam=BeamConfig(beam_size=8, top_k=2),
                         lexicon={"top_n": 200})
    _node_losses(tally, Path(workdir or tempfile.mkdtemp(prefix="swipe-reliability-")), pcfg)
    return tally.figures | {"wall_s": round(time.perf_counter() - t0, 1), "scenarios": tally.scenarios}


def _node_losses(tally: Tally, root: Path, pcfg: Any) -> None:
    """The node-loss faults, on a cluster of three nodes whose storage is a local S3 server."""
    import json
    import os

    import ray
    import torch

    from swipe.data.dataset import load_manifest
    from swipe.keyboard import parse_layouts
    from swipe.lexicon import Alphabet
    from swipe.model.checkpoint import save_model_dir
    from swipe.model.features import KeyTable
    from swipe.model.transformer import ModelConfig, SwipeModel

    from swipe import storage
    from swipe.config import load_config
    from swipe.data.dataset import read_split
    from swipe.data.make import MakeDatasetConfig, make_dataset
    from swipe.evaluate.predict import predict
    from swipe.evaluate.predictions import read_predictions
    from swipe.lexicon import LexiconConfig
    from tests.support.faults import train_checkpoint_registered
    from tests.support.multinode import start_cluster, through_node_loss
    from tests.support.s3 import LocalS3, free_port, s3_env
    from swipe.train.config import TrainConfig
    from swipe.train.fit import train

    port = free_port()
    os.environ.update(s3_env(port))  # before the nodes start: they inherit it
    with LocalS3(port, ("swipe",)):
        cluster = start_cluster(2)
        try:
            ds, ck = "s3://swipe/reliability/ds", "s3://swipe/reliability/ckpt"
            make_dataset(MakeDatasetConfig(out=ds, n_swipes=1600, shard_rows=200, lexicon=LexiconConfig(top_n=200)))
            manifest = load_manifest(ds)
            alphabet = Alphabet(manifest["alphabet"])
            torch.manual_seed(0)
            model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12),
                               KeyTable.build(parse_layouts(manifest["layouts"]), alphabet), alphabet.size)
            spec = InputSpec(lexicon=LexiconConfig(top_n=200))
            storage.upload_tree(save_model_dir(root / "ckpt_nodes", model, alphabet, manifest["layouts"], spec,
                                               {"step": 0}), ck)
            out = "s3://swipe/reliability/pred"
            r, removed, _ = through_node_loss(cluster, 0, lambda: bool(storage.list_files(out, ".parquet")),
                                              lambda: predict(replace(pcfg, checkpoint=ck, dataset=ds, out=out,
                                                                      cpus_per_actor=1.0)))
            ids = read_predictions(out)["id"].to_pylist()
            want = read_split(ds, "train")["id"].to_pylist()
            lost = len(set(want) - set(ids)) + len(ids) - len(set(ids))
            tally.fault("node_predict", len(removed), lost == 0 and r.rows_in == r.rows_out, lost)

            home = "s3://swipe/reliability/runs/nodeloss"
            tcfg = load_config(TrainConfig, None, TINY_TRAIN + [
                f"data.dataset={ds}", "run.storage_path=s3://swipe/reliability/runs", "run.name=nodeloss",
                "scale.num_workers=2", "scale.placement_strategy=SPREAD", "run.max_failures=3"])
            result, removed, _ = through_node_loss(cluster, 1, lambda: train_checkpoint_registered(home),
                                                   lambda: train(tcfg))
            rows = [json.loads(ln) for ln in storage.read_text(f"{home}/metrics.jsonl").splitlines()]
            restarts = [int(x["resumed_at_step"]) for x in rows if "resumed_at_step" in x]
            last = int(result.best_metrics.get("step", 0)) if result.best_metrics else 0
            steps = {int(x["step"]) for x in rows if "val/loss" in x}
            tally.fault("node_train", len(removed), bool(restarts) and min(restarts) > 0
                        and max(steps) == tcfg.run.max_steps - 1, resumed_at_step=restarts, best_step=last)
        finally:
            ray.shutdown()
            cluster.shutdown()


def run_reliability(seeds: int = 20, workdir: str | None = None) -> dict[str, Any]:
    import ray
    import torch

    from swipe.config import load_config
    from swipe.data.dataset import check_shard, load_manifest, read_split, write_shard
    from swipe.data.make import MakeDatasetConfig, make_dataset
    from swipe.data.swipes import SwipeBatch
    from swipe.decode.search import BeamConfig
    from swipe.evaluate.predict import PredictConfig, Predictor, predict
    from swipe.evaluate.predictions import read_predictions
    from swipe.keyboard import load_layouts, parse_layouts
    from swipe.lexicon import Alphabet, LexiconConfig, build_alphabet, build_trie
    from swipe.model.checkpoint import save_model_dir
    from swipe.model.features import KeyTable
    from swipe.model.transformer import ModelConfig, SwipeModel
    from tests.support.faults import PREDICT_ACTOR, TRAIN_WORKER, TUNE_TRIAL, Killer, train_checkpoint_registered
    from tests.support.submission import submit_train_and_predict
    from swipe.train.config import TrainConfig
    from swipe.train.fit import train
    from swipe.train.sweep import SweepConfig, run_sweep

    t0 = time.perf_counter()
    root = Path(workdir or tempfile.mkdtemp(prefix="swipe-reliability-"))
    tally = Tally()

    # ------------------------------------------------------------------ bad input, no Ray
    layout = load_layouts(Path(__file__).resolve().parents[1] / "data/layouts/qwerty_english.json")["qwerty_english"]
    layouts = {layout.name: layout}
    alphabet = build_alphabet([layout])
    good = damage.good_records(layout, alphabet.chars, damage.WORDS * 3)

    plan = _plan(sorted(damage.LINE_KINDS), seeds)
    lines, expect = damage.damaged_rows(damage.LINE_KINDS, plan, good)
    lines = [damage.as_line(r) if isinstance(r, dict) else r for r in lines]
    wrong, lost = damage.mishandled(plan, expect, damage.import_lines(lines, layouts, alphabet.chars))
    tally.bad("import", sum(k != "good" for k, _ in plan), len(wrong), len(lost), kinds=len(damage.LINE_KINDS))

    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12), KeyTable.build(layouts, alphabet), alphabet.size)
    ckpt = save_model_dir(root / "ckpt_rows", model, alphabet, {layout.name: layout.grid}, InputSpec(PointSpec(64)), {"step": 0})
    predictor = Predictor(str(ckpt), build_trie(damage.WORDS, np.ones(len(damage.WORDS)), alphabet),
                          BeamConfig(beam_size=2), InputSpec(PointSpec(64)).to_dict(), 32)
    kinds = {**damage.ROW_KINDS, **damage.ARROW_KINDS, damage.FOREIGN[0]: (damage.FOREIGN[1][0], None)}
    plan = _plan(sorted(kinds), seeds)
    rows, expect = damage.damaged_rows(kinds, plan, good)
    table = damage.records_to_arrow(rows)
    out = predictor.decode_table(table.append_column("path", pa.array(["rows.parquet"] * len(rows))))
    got = {i: e for i, e in enumerate(out["error"].to_pylist())} if out.num_rows == len(rows) else {}
    wrong, lost = damage.mishandled(plan, expect, got)
    tally.bad("rows", sum(k != "good" for k, _ in plan), len(wrong), len(lost), kinds=len(kinds))

    tried = unhandled = 0
    batch = SwipeBatch.from_lists([r["id"] for r in good], [r["word"] for r in good], [r["grid_name"] for r in good],
                                  [r["x"] for r in good], [r["y"] for r in good], [r["t"] for r in good], "synth")
    for kind, (damage_file, prefix) in sorted(damage.SHARD_KINDS.items()):
        for s in range(seeds):
            info = write_shard(batch, root / "shards" / kind, "train", s)
            path = Path(info["path"])
            damage_file(path, np.random.default_rng(s))
            tried += 1
            try:
                why = check_shard(path, info["rows"], info["sha256"])
                unhandled += int(why is None or not why.startswith(prefix))
            except Exception:  # noqa: BLE001 — a crash is exactly what this counts
                unhandled += 1
    tally.bad("shards", tried, unhandled, kinds=len(damage.SHARD_KINDS))

    # ------------------------------------------------------------------ on a local Ray
    from swipe.cluster.session import start_local_ray

    start_local_ray(num_cpus=2, include_dashboard=True, log_to_driver=False)
    ds = root / "ds"
    make_dataset(MakeDatasetConfig(out=str(ds), n_swipes=1600, shard_rows=200, lexicon=LexiconConfig(top_n=200)))
    manifest = load_manifest(ds)
    ds_alphabet = Alphabet(manifest["alphabet"])
    keys = KeyTable.build(parse_layouts(manifest["layouts"]), ds_alphabet)
    torch.manual_seed(0)
    ckpt = save_model_dir(root / "ckpt", SwipeModel(ModelConfig(preset="tiny", max_word_len=12), keys, ds_alphabet.size),
                          ds_alphabet, manifest["layouts"], InputSpec(lexicon=LexiconConfig(top_n=200)), {"step": 0})
    pcfg = PredictConfig(checkpoint=str(ckpt), dataset=str(ds), split="train", concurrency=2, cpus_per_actor=0.25,
                         batch_size=8, beam=BeamConfig(beam_size=8, top_k=2), lexicon={"top_n": 200})

    # a prediction job over good rows, damaged rows and a corrupt shard
    row_kinds = {**damage.ROW_KINDS, **damage.ARROW_KINDS}
    plan = [(k, s) for k in sorted(row_kinds) for s in range(seeds)]
    bad = damage.write_damaged_dataset(ds, root / "bad_ds", row_kinds, plan)
    r = predict(replace(pcfg, dataset=str(bad.root), split=bad.split, out=str(root / "bad_pred"), batch_size=64,
                        beam=BeamConfig(beam_size=2)))
    tally.bad("job", len(plan) + 1, int(r.rejected != bad.rejected), r.rows_in - r.rows_out - r.rows_rejected,
              rejected=r.rejected)

    # fault: a predictor actor killed mid-job
    out_dir = root / "pred_kill"
    killer = Killer(PREDICT_ACTOR, ready=lambda: any(out_dir.glob("part-*.parquet"))).start()
    r = predict(replace(pcfg, out=str(out_dir)))
    ids = read_predictions(r.out)["id"].to_pylist()
    want_ids = read_split(ds, "train")["id"].to_pylist()
    lost = len(set(want_ids) - set(ids)) + len(ids) - len(set(ids))
    tally.fault("predict", len(killer.join()), lost == 0 and r.rows_in == r.rows_out, lost)

    # fault: a training worker killed after the first registered checkpoint
    tcfg = load_config(TrainConfig, None, TINY_TRAIN + [f"data.dataset={ds}", f"run.storage_path={root / 'runs'}",
                                                        "run.name=kill", "scale.num_workers=2", "run.max_failures=1"])
    killer = Killer(TRAIN_WORKER, ready=lambda: train_checkpoint_registered(root / "runs" / "kill")).start()
    result = train(tcfg)
    from swipe.model.checkpoint import load_meta

    last = max((load_meta(c)["step"] for c in result.run_dir.glob("checkpoint_*") if c.is_dir()), default=0)
    first_val = _validations(result.run_dir).count(tcfg.run.val_every - 1)  # 1: continued from a checkpoint
    tally.fault("train", len(killer.join()), last == tcfg.run.max_steps and first_val == 1, last_step=last,
                first_validation_runs=first_val)

    # fault: a sweep trial killed once Train has registered a checkpoint of its run
    scfg = load_config(SweepConfig, None, [f"storage_path={root / 'sweeps'}", "name=kill", "max_failures=1",
                                           "num_seeds=1", "max_concurrent=1", "asha.enabled=false"]
                       + [f"train.{o}" for o in TINY_TRAIN + [f"data.dataset={ds}", "scale.num_workers=1",
                                                                 "run.max_steps=60"]])
    scfg = replace(scfg, space={"optim.lr": [0.003]})
    runs = root / "sweeps" / "kill" / "runs"
    killer = Killer(TUNE_TRIAL, ready=lambda: any(train_checkpoint_registered(d) for d in runs.glob("*"))).start()
    sweep = run_sweep(scfg)
    trial = sweep.trials.iloc[0]
    first_val = _validations(trial["run"]).count(scfg.train.run.val_every - 1)
    tally.fault("sweep", len(killer.join()), trial["status"] == "completed" and trial["last_step"] == 60
                and first_val == 1, last_step=int(trial["last_step"]), first_validation_runs=first_val)
    ray.shutdown()

    # fault: a prediction job stopped on a `ray start --head` cluster, then resubmitted, after a training
    # job (W&B offline) there; a W&B key in the nodes' environment must reach no file
    secret = "swipe-fake-key-" + uuid.uuid4().hex
    sub = submit_train_and_predict(str(ds), root / "submit", "configs/quickstart.yaml",
                                   TINY_TRAIN + ["scale.num_workers=1", "tracking.wandb=offline"],
                                   ["lexicon.top_n=200", "batch_size=8", "beam.beam_size=8", "concurrency=1"],
                                   split="train", node_env={"WANDB_API_KEY": secret})
    leaked = [str(p) for d in (root / "submit", Path(sub.ray_temp_dir)) for p in d.rglob("*")
              if p.is_file() and not p.is_symlink() and secret.encode() in p.read_bytes()]
    tally.fault("job", int(sub.predict_interrupted), sub.ok() and not leaked, sub.duplicate_rows + sub.missing_rows,
                train=sub.train_status, predict=sub.predict_status, files_with_the_key=leaked)
    _node_losses(tally, root, pcfg)

    return tally.figures | {"wall_s": round(time.perf_counter() - t0, 1), "scenarios": tally.scenarios,
                            "workdir": str(root)}
