"""The LightningModule: one shared step for train/val, LR schedules, lexicon-decoded metrics.

It receives its network (a SwipeModel); it never builds one. Metric names are namespaced:
`train/loss`, `lr`, `val/loss`, `val/token_acc`, `val/swipe_mrr`, `val/acc@1` (beam search of
`val_beam`, with the prediction lexicon's frequency prior), `val/greedy_acc@1`, and, given real
swipes of the dev set's tuning half, `val/real_tune_mrr` (the same beam on them).
"""

from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from swipe.decode.ctc import CtcConfig
from swipe.decode.network import frame_lengths
from swipe.decode.search import BeamConfig, beam_words, greedy_words
from swipe.decode.torch_network import model_ctc_words
from swipe.metrics import summarize
from swipe.lexicon import PAD, Alphabet, Trie
from swipe.model.transformer import SwipeModel
from swipe.train.config import SCHEDULES, OptimConfig

def smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float, allowed: Tensor | None) -> Tensor:
    """Label-smoothed cross-entropy over non-PAD targets.  logits (B, L, V), target (B, L).

    With `allowed` (B, L, V), tokens outside it are impossible: they get no probability and
    no smoothing mass (smoothing onto an impossible token would blow the loss up). Without
    it this equals F.cross_entropy(..., label_smoothing=smoothing).
    """
    logits = logits.float()
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    logp = torch.log_softmax(logits, -1)
    valid = target != PAD
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    n_allowed = allowed.sum(-1) if allowed is not None else torch.full_like(nll, logits.shape[-1])
    uniform = -logp.masked_fill(torch.isinf(logp), 0.0).sum(-1) / n_allowed
    per_token = (1 - smoothing) * nll + smoothing * uniform
    return per_token[valid].mean()


def lexicon_allowed(trie: Trie, tokens_out: Tensor) -> Tensor:
    """For each target position, which tokens keep the prefix inside the lexicon.  # (B, L, V)"""
    tgt = tokens_out.cpu().numpy()
    b, length = tgt.shape
    nodes = np.zeros(b, dtype=np.int64)
    masks = []
    for i in range(length):
        masks.append(trie.allowed_next_tokens(nodes))
        nodes = trie.step(nodes, tgt[:, i])
    allowed = torch.from_numpy(np.stack(masks, 1))
    # a target outside the lexicon must not become an impossible (-inf) target
    allowed[torch.arange(b)[:, None], torch.arange(length)[None], torch.from_numpy(tgt)] = True
    return allowed.to(tokens_out.device)


def key_targets(tokens_out: Tensor, key_tokens: Tensor) -> Tensor:
    """Each target letter's key on its swipe's layout, as the key head numbers them (key k → k + 1),
    0 for EOS, padding and a letter with no key there (an apostrophe on a layout without one: it
    is typed, not swiped).  tokens_out (B, L), key_tokens (B, K) → (B, L)"""
    hit = tokens_out[:, :, None] == key_tokens[:, None, :]  # (B, L, K)
    hit &= (tokens_out != PAD)[:, :, None]
    return torch.where(hit.any(-1), hit.int().argmax(-1) + 1, torch.zeros_like(tokens_out))


def key_ctc_loss(key_logp: Tensor, mask: Tensor, tokens_out: Tensor, grid: Tensor, model: SwipeModel) -> Tensor:
    """CTC of the key head's outputs against the words' keys (float32; a word with more keys than
    its swipe has points, repeats counted, adds nothing: zero_infinity). The targets are read off
    the layout's own tokens, not the label-dropped ones the network saw."""
    target = key_targets(tokens_out, model.features.key_tokens[grid])
    lengths = (target > 0).sum(1)
    frames = frame_lengths(mask.sum(1), model.cfg.subsample)
    return F.ctc_loss(key_logp.transpose(0, 1), target[target > 0], frames, lengths, blank=0,
                      reduction="mean", zero_infinity=True)


class SwipeModule(pl.LightningModule):
    def __init__(self, model: SwipeModel, optim: OptimConfig, max_steps: int, val_every: int,
                 alphabet: Alphabet, trie: Trie | None = None,
                 decode_batch: dict[str, Tensor] | None = None, decode_words: list[str] | None = None,
                 val_beam: int = 1, val_freq_weight: float = 0.0,
                 real_batch: dict[str, Tensor] | None = None, real_words: list[str] | None = None):
        super().__init__()
        if optim.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {optim.schedule!r}; choose from {SCHEDULES}")
        self.model, self.optim, self.max_steps, self.val_every = model, optim, max_steps, val_every
        self.alphabet, self.trie = alphabet, trie
        self.decode_batch, self.decode_words = decode_batch, decode_words or []
        self.val_beam = val_beam  # beam size of val/swipe_mrr (1: greedy)
        self.val_freq_weight = val_freq_weight  # λ: the beam's log-frequency prior, as prediction may use it
        self.real_batch, self.real_words = real_batch, real_words or []  # val/real_tune_mrr
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._plateau_state: dict | None = None  # restored from a checkpoint before optimizers exist

    def shared_step(self, batch: dict[str, Tensor], use_lexicon_mask: bool) -> tuple[Tensor, Tensor | None]:
        """The loss (and the decoder's token accuracy, None for a ctc head): cross-entropy of the
        autoregressive decoder, CTC of the key head, or (1 − w)·CE + w·CTC for a hybrid."""
        m, cfg = self.model, self.model.cfg
        rows = m.key_rows(batch["grid"])
        memory, key_logp = m.encode_keys(batch["x"], batch["y"], batch["t"], batch["mask"], *rows)
        target = batch["tokens_out"]
        ctc = None if key_logp is None else key_ctc_loss(key_logp, batch["mask"], target, batch["grid"], m)
        if cfg.head == "ctc":
            return ctc, None
        logits = m.decode(batch["tokens_in"], memory, batch["mask"])
        allowed = lexicon_allowed(self.trie, target) if use_lexicon_mask and self.trie is not None else None
        loss = smoothed_cross_entropy(logits, target, self.optim.label_smoothing, allowed)
        valid = target != PAD
        acc = ((logits.argmax(-1) == target) & valid).sum() / valid.sum()
        if ctc is not None:
            loss = (1 - cfg.ctc_weight) * loss + cfg.ctc_weight * ctc
        return loss, acc

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, _ = self.shared_step(batch, self.optim.lexicon_mask)
        n = batch["x"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, acc = self.shared_step(batch, False)
        n = batch["x"].shape[0]
        self.log("val/loss", loss, batch_size=n, sync_dist=True)
        if acc is not None:
            self.log("val/token_acc", acc, batch_size=n, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        """Decode the fixed validation subset within the lexicon: val/swipe_mrr and val/acc@1 by
        beam search of `val_beam` (greedy when 1), and val/greedy_acc@1."""
        if self.decode_batch is None:
            return
        if self.model.key_head is not None:  # the key head's CTC readings: best path and the trie beam
            greedy = summarize([[w] for w in self._ctc_words(self.decode_batch, best=True)], self.decode_words)
            m = self._beam_metrics(self.decode_batch, self.decode_words)
        else:
            batch = {k: v.to(self.device) for k, v in self.decode_batch.items()}
            greedy = summarize([[w] for w in greedy_words(self.model, batch, self.alphabet, self.trie).words],
                               self.decode_words)
            m = greedy if self.val_beam <= 1 else self._beam_metrics(self.decode_batch, self.decode_words)
        # every rank decodes the same subset, so the cross-rank mean is that same value
        self.log("val/swipe_mrr", m["swipe_mrr"], sync_dist=True)
        self.log("val/acc@1", m["acc@1"], sync_dist=True)
        self.log("val/greedy_acc@1", greedy["acc@1"], sync_dist=True)
        if self.real_batch is not None:
            self.log("val/real_tune_mrr", self._beam_metrics(self.real_batch, self.real_words)["swipe_mrr"],
                     sync_dist=True)
        if self.plateau is not None:  # once per validation: patience counts validations
            self.plateau.step(m["swipe_mrr"])

    def _beam_metrics(self, tensors: dict[str, Tensor], words: list[str]) -> dict[str, float]:
        """The validation beam (with the prior) over a fixed set of collated swipes, in chunks: the
        decoder's beam of `val_beam`, or for a key head the CTC trie beam (CtcConfig's beam)."""
        if self.model.key_head is not None:
            return summarize([[w for w, _ in c] for c in self._ctc_words(tensors)], words)
        cfg = BeamConfig(beam_size=max(self.val_beam, 1), freq_weight=self.val_freq_weight)
        cands = []
        for s in range(0, len(words), 128):
            part = {k: v[s:s + 128].to(self.device) for k, v in tensors.items()}
            cands += beam_words(self.model, part, self.alphabet, cfg, self.trie)
        return summarize([[w for w, _ in c] for c in cands], words)

    def _ctc_words(self, tensors: dict[str, Tensor], best: bool = False) -> list:
        """The key head's CTC trie beam (with the prior) over collated swipes, or (`best`) its best paths."""
        return model_ctc_words(self.model, tensors, self.alphabet, self.trie, CtcConfig(freq_weight=self.val_freq_weight),
                               best)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.plateau is not None:
            checkpoint["plateau"] = self.plateau.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._plateau_state = checkpoint.get("plateau")

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.ndim < 2 or "emb" in name or "norm" in name or "ln" in name else decay).append(p)
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": self.optim.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=self.optim.lr)
        if self.optim.schedule == "plateau":
            # stepped by on_validation_epoch_end, not by Lightning's step/frequency bookkeeping
            self.plateau = build_plateau(opt, self.optim)
            if self._plateau_state is not None:
                self.plateau.load_state_dict(self._plateau_state)
            return opt
        return {"optimizer": opt, "lr_scheduler": build_scheduler(opt, self.optim, self.max_steps)}


def build_plateau(opt: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """LR × plateau_factor when val/swipe_mrr has not improved for plateau_patience validations."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.plateau_factor,
                                                      patience=cfg.plateau_patience)


def build_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, max_steps: int) -> dict:
    """Lightning scheduler config for the step-based schedules (stepped every optimizer step)."""
    warm = max(cfg.warmup_steps, 0)

    def warmup(step: int) -> float:
        return min(1.0, (step + 1) / warm) if warm else 1.0

    if cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max_steps + 1)
    elif cfg.schedule == "cosine":
        def cosine(step: int) -> float:
            if step < warm:
                return warmup(step)
            p = min(1.0, (step - warm) / max(1, max_steps - warm))
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    elif cfg.schedule == "milestones":
        marks = sorted(cfg.milestones)

        def stepped(step: int) -> float:
            return warmup(step) * cfg.milestone_gamma ** sum(step >= m for m in marks)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, stepped)
    else:  # constant
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup)
    return {"scheduler": sched, "interval": "step", "frequency": 1}

