"""Self-describing model checkpoints: a directory that loads without the training configs.

```
CHECKPOINT/
  model.pt        state dict (weights, feature statistics, key table) — loads with weights_only=True
  model.json      model config, alphabet, layouts, feature statistics, the input spec (what
                  the model reads: swipe.model.spec), training config, dataset summary, step
                  and metrics
  lightning.ckpt  full trainer state (optimizer, schedule), for --resume only
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from swipe import storage
from swipe.config import build_config, config_to_dict
from swipe.keyboard import Layout, parse_layouts
from swipe.lexicon import Alphabet
from swipe.model.features import KeyTable
from swipe.model.spec import SPEC_KEY, InputSpec
from swipe.model.transformer import ModelConfig, SwipeModel
from swipe.provenance import redact

MODEL_FILE, META_FILE, TRAINER_FILE = "model.pt", "model.json", "lightning.ckpt"
BEST_FILE = "best_checkpoint.txt"  # in a run's folder: the path or URI of its best checkpoint


def save_model_dir(path: str | Path, model: SwipeModel, alphabet: Alphabet, layouts_json: dict, spec: InputSpec,
                   extra: dict[str, Any]) -> Path:
    """Write model.pt and model.json (with `spec`, what the model reads) into `path` (created)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, path / MODEL_FILE)
    feats = model.features
    meta = {"format": 1, "model": config_to_dict(model.cfg), "alphabet": alphabet.chars,
            "vocab_size": model.vocab_size, "grids": list(model.grid_names), "layouts": layouts_json,
            "feature_stats": {"mean": feats.stats_mean.tolist(), "std": feats.stats_std.tolist()},
            SPEC_KEY: spec.to_dict(), **extra}
    (path / META_FILE).write_text(json.dumps(redact(meta), indent=1, ensure_ascii=False))
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A local checkpoint directory for a checkpoint or a run (→ the best checkpoint its
    training recorded), each a folder or a URI (`s3://…`: copied to this machine's cache
    once, `storage.local_copy`)."""
    if storage.exists(storage.join(path, META_FILE)):
        return storage.local_copy(path)
    best = storage.join(path, BEST_FILE)
    if storage.exists(best):
        return resolve_checkpoint(storage.read_text(best).strip())
    raise FileNotFoundError(f"{path} is neither a checkpoint (no {META_FILE}) nor a run with {BEST_FILE}")


def load_meta(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / META_FILE).read_text())


def lexicon_alphabet(meta: dict[str, Any], letters: str) -> Alphabet:
    """The characters a model's decoders spell with: its alphabet; for a model that scores keys, also
    `letters` (the layouts' and the dataset's), which it reads from their keys."""
    alphabet = Alphabet(meta["alphabet"])
    if meta["model"].get("head", "ar") == "ar":
        return alphabet
    return Alphabet(alphabet.chars + "".join(dict.fromkeys(c for c in letters if c not in alphabet.chars)))


def check_compatible(meta: dict[str, Any], manifest: dict[str, Any], where: str = "the dataset") -> None:
    """Raise a ValueError saying why a checkpoint cannot decode a dataset: characters it cannot
    emit, or a layout with letter keys it cannot read. Layouts need not be the training ones:
    the key table comes from the data (`load_model(…, layouts=…)`). A model that scores keys
    (head ctc or hybrid) reads any layout and spells with its keys' letters: it decodes any."""
    if meta["model"].get("head", "ar") != "ar":
        return
    missing = sorted(set(manifest["alphabet"]) - set(meta["alphabet"]))
    if missing:
        raise ValueError(f"{where}'s alphabet has {missing}, which the checkpoint's model cannot emit "
                         f"(its alphabet: {meta['alphabet']!r})")
    unreadable = {g: sorted(set(lay.letters) - set(meta["alphabet"]))
                  for g, lay in parse_layouts(manifest["layouts"]).items()}
    unreadable = {g: v for g, v in unreadable.items() if v}
    if unreadable:
        raise ValueError(f"{where}'s layouts have letter keys the checkpoint's model cannot read "
                         f"(its alphabet: {meta['alphabet']!r}): {unreadable}")


def load_model(path: str | Path, device: str | torch.device = "cpu", layouts: dict[str, Layout] | None = None
               ) -> tuple[SwipeModel, dict[str, Any]]:
    """Rebuild the model from model.json and load its weights (weights_only: no unpickling).

    `layouts`: the layouts of the swipes it will decode (default: those it was trained on).
    """
    meta = load_meta(path)
    alphabet = Alphabet(meta["alphabet"])
    trained = parse_layouts(meta["layouts"])
    keys = KeyTable.build({g: trained[g] for g in meta["grids"]}, alphabet)
    model = SwipeModel(build_config(ModelConfig, meta["model"]), keys, meta["vocab_size"])
    state = torch.load(Path(path) / MODEL_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state)
    if layouts is not None:
        model.set_keys(KeyTable.build(layouts, alphabet, unknown_ok=model.key_head is not None))
    return model.to(device).eval(), meta
