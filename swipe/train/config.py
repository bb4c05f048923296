"""What a training run is told: its data, model, optimiser, lexicon, scale, run and tracking
settings, composed into one TrainConfig (`swipe train --help` lists every key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from swipe.model.spec import PointRule, PointSpec
from swipe.model.transformer import ModelConfig
from swipe.train.augment import AugmentConfig
from swipe.train.evaluation import EvalSet


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, how it is batched, and its training noise."""

    dataset: str = "data/datasets/synth_en"  # the dataset folder or URI (written by `swipe data`)
    train_split: str = "train"  # the split trained on
    val_split: str = "val"  # the split validated on (loss, token accuracy, val/swipe_mrr)
    batch_size: int = 64  # per worker
    # what the model reads (saved with it as its input spec, swipe.model.spec.PointSpec):
    max_points: int = PointSpec.max_points  # at most this many points per swipe (real median: ~51 points)
    point_rule: PointRule = PointSpec.rule  # index: subsampled by index | time: resampled at rate_hz | arclength: evenly along the path
    rate_hz: float = PointSpec.rate_hz  # point_rule=time
    val_rows: int = 2000  # validation rows (loss, token accuracy); 0 = all
    shuffle_buffer: int = 2048  # local shuffle buffer of the training iterator (rows)
    read_blocks: int = 16  # parallel read blocks (few large blocks delay the first batch)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class ScaleConfig:
    """How many workers, on what."""

    num_workers: int = 2  # Ray Train workers (data-parallel; one GPU each with use_gpu)
    use_gpu: bool = False  # train on GPUs (one per worker, gpus_per_worker)
    cpus_per_worker: float = 0.45  # keep ≥ 1 CPU free for Ray Data, or reading stalls
    threads_per_worker: int = 0  # torch intra-op threads; 0 = max(1, ceil(cpus_per_worker))
    gpus_per_worker: float = 1.0  # with use_gpu
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"  # Lightning precision (bf16-mixed on GPUs)
    # where the workers go: PACK fills a node first; SPREAD puts them on as many nodes as it can
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"


@dataclass(frozen=True)
class RunConfig:
    """The run's identity, length and checkpoints."""

    name: str | None = None  # default: <dataset>-<model preset>-<UTC time>; reuse + resume=true to continue
    storage_path: str = "runs"  # local folder or a URI (s3://…, gs://…) on a cluster
    resume: bool = False  # continue the run `name` from its latest checkpoint
    init_from: str = ""  # fine-tune: start from this checkpoint's weights (or a run's best); its architecture and feature statistics
    max_steps: int = 1000  # optimizer steps in all (across workers)
    val_every: int = 100  # optimizer steps between validations (and checkpoints)
    seed: int = 0  # seeds torch, the data order and the augmentation
    decode_rows: int = 500  # fixed validation subset decoded for val/swipe_mrr and val/acc@1
    val_beam: int = 4  # beam size of val/swipe_mrr (1: greedy)
    val_freq_weight: float = 0.5  # λ, the validation beam's log-frequency prior (the lexicon's, as prediction has it)
    real_tune: str = ""  # a real dev dataset with users (data/datasets/real_en_dev): val/real_tune_mrr on the
    # swipes of its tuning half (swipe.metrics.user_half, seed 0); its reporting half is never read here
    real_tune_split: str = "dev"  # the split of real_tune read
    select_by: Literal["val/swipe_mrr", "val/real_tune_mrr"] = "val/swipe_mrr"  # the metric checkpoints are kept by
    stats_rows: int = 5000  # training rows used for feature standardisation statistics
    keep_checkpoints: int = 2  # best by val/swipe_mrr
    max_failures: int = 0  # worker failures survived by restarting from the last checkpoint
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


Schedule = Literal["plateau", "cosine", "onecycle", "constant", "milestones"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    schedule: Schedule = "cosine"  # the learning-rate schedule (warmup_steps, min_lr_ratio, plateau_*, milestones below)
    warmup_steps: int = 100  # linear warm-up (cosine, constant, milestones; not plateau)
    min_lr_ratio: float = 0.05  # cosine floor, as a share of lr
    plateau_factor: float = 0.5  # plateau: LR × factor when val/swipe_mrr stalls …
    plateau_patience: int = 2  # … for this many validations (not epochs)
    milestones: tuple[int, ...] = ()  # milestones: global steps where LR × milestone_gamma
    milestone_gamma: float = 0.3  # milestones: the LR factor at each milestone
    label_smoothing: float = 0.1  # share of each target's probability spread over the other tokens
    grad_clip: float = 1.0  # gradient norm clipped to this (0: no clipping)
    lexicon_mask: bool = False  # train with logits of tokens that leave the lexicon masked out


@dataclass(frozen=True)
class TrackingConfig:
    """Where metrics go besides metrics.jsonl."""

    wandb: Literal["auto", "offline", "online", "disabled"] = "auto"  # auto: online iff WANDB_API_KEY
    project: str = "swipe"  # the W&B project
    group: str | None = None  # e.g. the sweep a run belongs to
    tags: tuple[str, ...] = ()  # W&B tags of the run


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    # the words validation and every later decoder search within (saved in the model's spec): the
    # dataset's (its manifest's `lexicon`: the words it was made of), with the keys of
    # swipe.lexicon.LexiconConfig set here replacing its own, e.g. {top_n: null} for all of its words
    lexicon: dict[str, Any] = field(default_factory=dict)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    eval: tuple[EvalSet, ...] = ()  # dataset splits decoded with the best checkpoint after training
