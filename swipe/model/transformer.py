"""Encoder-decoder transformer: point features → encoder; characters ← decoder with a KV cache.

Plain nn.Modules with explicit arguments (no **kwargs threaded through layers); distribution
and precision are applied from outside. Shapes: B swipes, T points, L tokens, D model width,
H heads, V alphabet size (specials included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from swipe.lexicon import PAD
from swipe.model.features import FeatureSet, KeyTable, PointFeatures


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. `preset` fills every size field left at 0."""

    preset: str = "small"  # tiny (tests) | small (~1M parameters) | base (~5M)
    features: FeatureSet = "traj_nearest"  # named point-feature set (swipe/model/features.py)
    encoder: Literal["transformer", "conformer"] = "transformer"  # conformer: a convolution module per layer
    conv_kernel: int = 15  # conformer: the depthwise convolution's width, in points
    d_model: int = 0  # width of the encoder and decoder (0: the preset's)
    n_heads: int = 0  # attention heads (0: the preset's)
    enc_layers: int = 0  # encoder layers (0: the preset's)
    dec_layers: int = 0  # decoder layers (0: the preset's)
    d_ff: int = 0  # width of each layer's feed-forward block (0: the preset's)
    d_key: int = 0  # width of key embeddings in the features
    dropout: float = 0.1  # dropout in every layer while training
    max_word_len: int = 32  # longest word the decoder can emit (EOS excluded)
    # what the network outputs: ar: letters, one at a time (the autoregressive decoder); ctc: per point,
    # a blank or one of the layout's keys, scored from the keys' geometry (KeyHead: any layout, letters
    # the alphabet lacks included); hybrid: both, trained together
    head: Literal["ar", "ctc", "hybrid"] = "ar"
    ctc_weight: float = 0.5  # hybrid: the loss is (1 - w) · cross-entropy + w · CTC
    label_dropout: float = 0.1  # ctc, hybrid: the share of keys read as a letter the model does not know, in training
    # ctc: consecutive points stacked into one frame before the encoder (2: half the frames, so the encoder
    # and the CTC beam cost about half; a word then needs at most one key per frame, blanks between repeats)
    subsample: int = 1


PRESETS = {
    "tiny": dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, d_key=16),
    "small": dict(d_model=128, n_heads=4, enc_layers=4, dec_layers=2, d_ff=256, d_key=32),
    "base": dict(d_model=256, n_heads=8, enc_layers=5, dec_layers=3, d_ff=512, d_key=64),
}


HEADS = ("ar", "ctc", "hybrid")


def resolve(cfg: ModelConfig) -> ModelConfig:
    """Fill the size fields from the preset (explicit non-zero fields win); a ctc model has no decoder."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown model preset {cfg.preset!r}; choose from {sorted(PRESETS)}")
    if cfg.head not in HEADS:
        raise ValueError(f"unknown head {cfg.head!r}; choose from {HEADS}")
    cfg = replace(cfg, **{k: v for k, v in PRESETS[cfg.preset].items() if getattr(cfg, k) == 0})
    if cfg.subsample < 1 or (cfg.subsample > 1 and cfg.head != "ctc"):
        raise ValueError(f"model.subsample {cfg.subsample}: 1, or more with head ctc (a decoder reads every point)")
    return replace(cfg, dec_layers=0) if cfg.head == "ctc" else cfg


def scores_keys(cfg: ModelConfig) -> bool:
    """Whether the network scores the layout's keys (a ctc or hybrid head): it then reads layouts
    with letters its alphabet lacks (KeyTable.build(unknown_ok=True))."""
    return cfg.head != "ar"


def has_decoder(cfg: ModelConfig) -> bool:
    return cfg.head != "ctc"


class KeyHead(nn.Module):
    """Per point, log-probabilities of a blank (index 0) and of each of the swipe's layout's keys
    (index k + 1), from the keys given with the swipe — so one set of weights reads any layout.

    Every point proposes where its finger meant to be, μ = its position + a learned offset
    (in the letter-key box, the frame of the features), and a sharpness a; key k scores
    −½ e^a ‖(μ − c_k) / (size_k / 2)‖² (its centre and size in the same frame) plus
    q · e(label_k), the point's query against the key's letter embedding (a letter the model
    does not know has one shared embedding, trained by label dropout). Padding keys score −inf."""

    def __init__(self, d_model: int, d_key: int, vocab_size: int):
        super().__init__()
        self.offset = nn.Linear(d_model, 3)  # dx, dy, log-sharpness
        self.query = nn.Linear(d_model, d_key)
        self.label = nn.Embedding(vocab_size, d_key)
        self.blank = nn.Linear(d_model, 1)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, h: Tensor, x: Tensor, y: Tensor, bbox: Tensor, centres: Tensor, tokens: Tensor,
                sizes: Tensor) -> Tensor:
        """h (B, T, D), x, y (B, T) pixels; bbox (B, 4), centres, sizes (B, K, 2), tokens (B, K) → (B, T, K + 1)."""
        origin, span = bbox[:, None, :2], bbox[:, None, 2:] - bbox[:, None, :2]  # (B, 1, 2)
        pos = (torch.stack([x, y], -1) - origin) / span  # (B, T, 2)
        off = self.offset(h)
        mu = pos + off[..., :2]
        c = (centres - origin) / span  # (B, K, 2)
        half = sizes / span / 2
        z = (mu[:, :, None, :] - c[:, None]) / half[:, None]  # (B, T, K, 2)
        geo = -0.5 * off[..., 2:].exp() * (z * z).sum(-1)
        lab = torch.einsum("btd,bkd->btk", self.query(h), self.label(tokens)) / math.sqrt(self.query.out_features)
        keys = (geo + lab).masked_fill((tokens == PAD)[:, None, :], float("-inf"))
        return torch.log_softmax(torch.cat([self.blank(h), keys], -1).float(), -1)


class Attention(nn.Module):
    """Multi-head attention whose key/value projections can be computed once and cached."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.h, self.dh = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def project_kv(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S, D) → keys and values (B, H, S, Dh)."""
        b, s, _ = src.shape
        k, v = self.kv(src).view(b, s, 2, self.h, self.dh).permute(2, 0, 3, 1, 4)
        return k, v

    def attend(self, query: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None, causal: bool) -> Tensor:
        """query (B, L, D) over cached k, v (B, H, S, Dh); key_mask (B, S) True = attend."""
        b, l, _ = query.shape
        q = self.q(query).view(b, l, self.h, self.dh).transpose(1, 2)  # (B, H, L, Dh)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        # no dropout on the attention weights: on CPU it costs more than the attention itself
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.out(o.transpose(1, 2).reshape(b, l, self.h * self.dh))

    def weights(self, query: Tensor, k: Tensor, key_mask: Tensor | None) -> Tensor:
        """The attention weights `attend` applies (no causal mask): (B, H, L, S), rows sum to 1."""
        b, l, _ = query.shape
        q = self.q(query).view(b, l, self.h, self.dh).transpose(1, 2)
        score = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        if key_mask is not None:
            score = score.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        return score.softmax(-1)


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + feed-forward."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.ln1(x)
        k, v = self.attn.project_kv(h)
        x = x + self.drop(self.attn.attend(h, k, v, mask, causal=False))
        return x + self.drop(self.ff(self.ln2(x)))


class ConvModule(nn.Module):
    """The Conformer's convolution module: pointwise conv with GLU, depthwise conv over points,
    LayerNorm (not BatchNorm: padded batches), SiLU, pointwise conv. Padded points are zeroed
    before the depthwise conv, so a swipe reads the same alone and in a padded batch."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.pw1 = nn.Linear(d_model, 2 * d_model)
        self.dw = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.norm = nn.LayerNorm(d_model)
        self.pw2 = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = F.glu(self.pw1(self.ln(x)), dim=-1) * mask.unsqueeze(-1)
        h = self.dw(h.transpose(1, 2)).transpose(1, 2)
        return self.drop(self.pw2(F.silu(self.norm(h))))


class ConformerLayer(nn.Module):
    """Half feed-forward, self-attention, convolution module, half feed-forward, LayerNorm
    (Gulati et al. 2020), pre-norm throughout."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, kernel: int):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(d_model, d_ff, dropout), FeedForward(d_model, d_ff, dropout)
        self.ln_ff1, self.ln_ff2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ln_attn, self.ln_out = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads)
        self.conv = ConvModule(d_model, kernel, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + 0.5 * self.drop(self.ff1(self.ln_ff1(x)))
        h = self.ln_attn(x)
        k, v = self.attn.project_kv(h)
        x = x + self.drop(self.attn.attend(h, k, v, mask, causal=False))
        x = x + self.conv(x, mask)
        x = x + 0.5 * self.drop(self.ff2(self.ln_ff2(x)))
        return self.ln_out(x)


@dataclass
class DecoderCache:
    """The decoder's state between steps: per layer, self-attention keys/values so far and the
    cross-attention keys/values of the memory.  Tensors (B, H, S, Dh).

    Rows follow a search's beams (the `swipe.decode.search.DecoderState` protocol): with
    `beams` = K, self-attention row r is beam r % K of swipe r // K, while cross-attention
    keys/values stay one row per swipe — a swipe's K beams attend as K queries over one copy.
    """

    self_k: list[Tensor]
    self_v: list[Tensor]
    cross_k: list[Tensor]
    cross_v: list[Tensor]
    memory_mask: Tensor  # (B, T)
    beams: int = 1  # self-attention rows per cross-attention row

    @property
    def length(self) -> int:
        return self.self_k[0].shape[2]

    def _with_self(self, k: list[Tensor], v: list[Tensor], beams: int) -> "DecoderCache":
        return DecoderCache(k, v, self.cross_k, self.cross_v, self.memory_mask, beams)

    def expand_beams(self, k: int) -> "DecoderCache":
        """Each swipe's row → k consecutive beam rows (swipe i → rows i·k … i·k + k − 1)."""
        rep = lambda ts: [t.repeat_interleave(k, 0) for t in ts]  # noqa: E731
        return self._with_self(rep(self.self_k), rep(self.self_v), self.beams * k)

    def reorder_beams(self, rows: Tensor) -> "DecoderCache":
        """Row j becomes row rows[j] (each new beam takes its parent's keys/values; parents are
        beams of the same swipe, so the cross-attention cache does not move)."""
        pick = lambda ts: [t.index_select(0, rows) for t in ts]  # noqa: E731
        return self._with_self(pick(self.self_k), pick(self.self_v), self.beams)

    def keep_swipes(self, swipes: Tensor) -> "DecoderCache":
        """Only these swipes stay (all their beams): cross-attention rows and self rows."""
        rows = (swipes[:, None] * self.beams + torch.arange(self.beams, device=swipes.device)).flatten()
        pick = lambda ts, r: [t.index_select(0, r) for t in ts]  # noqa: E731
        return DecoderCache(pick(self.self_k, rows), pick(self.self_v, rows), pick(self.cross_k, swipes),
                            pick(self.cross_v, swipes), self.memory_mask.index_select(0, swipes), self.beams)


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention over the encoder, feed-forward.

    The layer owns its norms and projections: it returns its self-attention keys/values so
    that the caller can cache them, and projects the memory for cross-attention once."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, n_heads)
        self.cross_attn = Attention(d_model, n_heads)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention keys/values of the encoder output (B, T, D) → (B, H, T, Dh) each."""
        return self.cross_attn.project_kv(memory)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None, cross_kv: tuple[Tensor, Tensor],
                memory_mask: Tensor, attention: list[Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B·K, L, D) → (B·K, L, D), and the self-attention keys/values up to these positions.

        past=None: teacher forcing over all L positions (causal). With `past` (the cached
        keys/values of earlier positions), x is the next position (L = 1), which attends to
        them and to itself. x may have K rows (a swipe's beams) per row of cross_kv (B).
        `attention`: a list that receives the cross-attention weights (B, H, K·L, T).
        """
        h = self.ln1(x)
        k, v = self.self_attn.project_kv(h)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        x = x + self.drop(self.self_attn.attend(h, k, v, None, causal=past is None))
        # (B·K, L, D) → (B, K·L, D): a swipe's beams are queries over its memory (K read off the shapes,
        # so that an exported step takes any number of beams)
        q = self.ln2(x).reshape(cross_kv[0].shape[0], -1, x.shape[2])
        if attention is not None:
            attention.append(self.cross_attn.weights(q, cross_kv[0], memory_mask))
        cross = self.cross_attn.attend(q, *cross_kv, memory_mask, causal=False).reshape(x.shape)
        x = x + self.drop(cross)
        return x + self.drop(self.ff(self.ln3(x))), (k, v)


def sinusoid(n: int, d: int, device: torch.device) -> Tensor:
    """Fixed positional encoding for any number of points.  # (n, d)"""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return pe


class SwipeModel(nn.Module):
    """Swipe (points) → character logits. Decoder input starts with BOS; output ends with EOS."""

    def __init__(self, cfg: ModelConfig, keys: KeyTable, vocab_size: int):
        super().__init__()
        cfg = resolve(cfg)
        self.cfg, self.vocab_size, self.grid_names = cfg, vocab_size, keys.grid_names
        d = cfg.d_model
        keyed = scores_keys(cfg)  # keys of letters outside the alphabet read as one more token
        self.features = PointFeatures(cfg.features, keys, vocab_size + keyed, cfg.d_key)
        self.key_head = KeyHead(d, cfg.d_key, vocab_size + 1) if keyed else None
        self.in_proj = nn.Linear(self.features.out_dim * cfg.subsample, d)  # subsample: points' features stacked
        if cfg.encoder not in ("transformer", "conformer"):
            raise ValueError(f"unknown encoder {cfg.encoder!r}; choose transformer or conformer")
        self.encoder = nn.ModuleList(
            EncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout) if cfg.encoder == "transformer"
            else ConformerLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.conv_kernel) for _ in range(cfg.enc_layers))
        self.enc_norm = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(DecoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout)
                                     for _ in range(cfg.dec_layers))
        if has_decoder(cfg):
            self.tok_emb = nn.Embedding(vocab_size, d)
            self.pos_emb = nn.Embedding(cfg.max_word_len + 2, d)  # BOS + letters + EOS
            self.dec_norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    def set_keys(self, keys: KeyTable) -> "SwipeModel":
        """Read swipes over these layouts from now on (`grid` indexes `keys.grid_names`)."""
        if keys.unknown and self.key_head is None:
            raise ValueError(f"layouts {keys.unknown} have letter keys that this model's alphabet lacks: only a "
                             f"model that scores keys (model.head ctc or hybrid) reads them")
        self.features.set_keys(keys)
        self.grid_names = keys.grid_names
        return self

    def key_rows(self, grid: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Each swipe's keys: bbox, centres, tokens, half_diag, sizes (a KeyTable's rows). In training,
        a key-scoring model reads `label_dropout` of the keys as letters it does not know."""
        f = self.features
        tokens = f.key_tokens[grid]
        if self.training and self.key_head is not None and self.cfg.label_dropout > 0:
            drop = (torch.rand(tokens.shape, device=tokens.device) < self.cfg.label_dropout) & (tokens != PAD)
            tokens = tokens.masked_fill(drop, self.vocab_size)
        return f.bbox[grid], f.centres[grid], tokens, f.half_diag[grid], f.key_sizes[grid]

    def encode(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, grid: Tensor) -> Tensor:
        """Padded points (B, T) → memory (B, T, D); padded positions are never attended to."""
        return self.encode_keys(x, y, t, mask, *self.key_rows(grid))[0]

    def encode_keys(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, bbox: Tensor, centres: Tensor,
                    tokens: Tensor, half_diag: Tensor, sizes: Tensor) -> tuple[Tensor, Tensor | None]:
        """Padded points (B, T) over keys given with them → memory (B, T, D) and, for a key-scoring
        model, each point's key log-probabilities (B, T, K + 1), blank first (KeyHead)."""
        features = self.features.over_keys(x, y, t, mask, bbox, centres, tokens, half_diag)
        if self.cfg.subsample > 1:
            features, x, y, mask = self.stack_points(features, x, y, mask)
        memory = self.encode_features(features, mask)
        if self.key_head is None:
            return memory, None
        return memory, self.key_head(memory, x, y, bbox, centres, tokens, sizes)

    def stack_points(self, features: Tensor, x: Tensor, y: Tensor, mask: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Points → frames of `subsample` consecutive points (the last padded): the frames' stacked
        features (B, T', subsample · F), their mean position and their mask (B, T'),
        T' = ⌈T / subsample⌉. A frame is a point when its first point is (padding is at the end)."""
        s, (b, t) = self.cfg.subsample, mask.shape
        n = (t + s - 1) // s

        def frames(v: Tensor) -> Tensor:  # (B, T, …) → (B, T', s, …)
            v = F.pad(v, (0, 0) * (v.dim() - 2) + (0, s - 1))[:, :n * s]
            return v.reshape(b, n, s, *v.shape[2:])

        m = frames(mask.float())
        weight = m.sum(-1).clamp(min=1e-6)
        return (frames(features).reshape(b, n, -1), (frames(x) * m).sum(-1) / weight,
                (frames(y) * m).sum(-1) / weight, m[..., 0] > 0)

    def encode_features(self, features: Tensor, mask: Tensor) -> Tensor:
        """Point features (B, T, F) → memory (B, T, D); with `subsample`, frames (B, T', s · F) → (B, T', D)."""
        h = self.in_proj(features)
        h = self.drop(h + sinusoid(h.shape[1], h.shape[2], h.device))
        for layer in self.encoder:
            h = layer(h, mask)
        return self.enc_norm(h)

    def _embed(self, tokens: Tensor, start: int) -> Tensor:
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.drop(self.tok_emb(tokens) + self.pos_emb(pos))

    def decode(self, tokens: Tensor, memory: Tensor, memory_mask: Tensor, attention: list[Tensor] | None = None
               ) -> Tensor:
        """Teacher-forced decoding: tokens (B, L) → logits (B, L, V); position i sees tokens ≤ i.
        `attention`: a list that receives each decoder layer's cross-attention weights (B, H, L, T)."""
        h = self._embed(tokens, 0)
        for layer in self.decoder:
            h, _ = layer(h, None, layer.memory_kv(memory), memory_mask, attention)
        return self.head(self.dec_norm(h))

    def forward(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, grid: Tensor, tokens: Tensor) -> Tensor:
        return self.decode(tokens, self.encode(x, y, t, mask, grid), mask)

    # ---- incremental decoding ----
    def start_cache(self, memory: Tensor, memory_mask: Tensor) -> DecoderCache:
        """Cross-attention keys/values computed once per swipe; empty self-attention cache."""
        b, h, dh = memory.shape[0], self.cfg.n_heads, self.cfg.d_model // self.cfg.n_heads
        empty = memory.new_zeros(b, h, 0, dh)
        ck, cv = zip(*(layer.memory_kv(memory) for layer in self.decoder))
        n = len(self.decoder)
        return DecoderCache([empty] * n, [empty] * n, list(ck), list(cv), memory_mask)

    def decode_step(self, token: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """One token per row (B,) → next-token logits (B, V) and the extended cache."""
        h = self._embed(token[:, None], cache.length)  # (B, 1, D)
        new_k, new_v = [], []
        for i, layer in enumerate(self.decoder):
            h, (k, v) = layer(h, (cache.self_k[i], cache.self_v[i]), (cache.cross_k[i], cache.cross_v[i]),
                              cache.memory_mask)
            new_k.append(k)
            new_v.append(v)
        logits = self.head(self.dec_norm(h))[:, 0]
        return logits, DecoderCache(new_k, new_v, cache.cross_k, cache.cross_v, cache.memory_mask, cache.beams)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
