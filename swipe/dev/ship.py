"""Ship a model: copy a run's best checkpoint (model.pt, model.json) to a folder kept in the repository.

    swipe dev ship run=runs/en-small-conformer out=models/en-small overwrite=true

Refuses a model over `max_mb` (the repository keeps models small), one whose training
data were not all synthetic unless `allow_real=true` (the shipped model is synthetic-only),
one without an input spec (what the model reads, swipe.model.spec), and an `out` folder that
already holds a model unless `overwrite=true` — each before anything is written.

A checkpoint saved before models carried their spec gets the one its recorded training
config implies (data.max_points, index subsampling) with `add_spec=true`, written into the
shipped model.json with where it came from:

    swipe dev ship run=models/en-small out=models/en-small add_spec=true allow_real=true overwrite=true
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from swipe import storage
from swipe.model.checkpoint import META_FILE, resolve_checkpoint
from swipe.model.spec import SPEC_KEY, spec_from_training


@dataclass(frozen=True)
class ShipConfig:
    run: str = ""  # a run folder (its best checkpoint) or a checkpoint folder
    out: str = ""  # the model folder to write (required: no shipped model is replaced by default)
    max_mb: float = 5.0  # refuse a model whose files hold more (the repository keeps models small)
    allow_real: bool = False  # ship a model trained on real swipes too
    add_spec: bool = False  # a checkpoint without an input spec: add the one its training config implies
    overwrite: bool = False  # replace the model already in `out`


def ship(cfg: ShipConfig) -> dict:
    """Copy the checkpoint, after every check; returns what was written."""
    if not cfg.out:
        raise SystemExit("ship: set out=FOLDER (the model folder to write)")
    for f in ("model.pt", META_FILE):
        storage.refuse_existing(Path(cfg.out) / f, cfg.overwrite)
    src = resolve_checkpoint(cfg.run)
    meta = json.loads((src / META_FILE).read_text())
    dataset = meta.get("train", {}).get("config", {}).get("data", {}).get("dataset", "")
    manifest = json.loads((Path(dataset) / "dataset.json").read_text()) if (Path(dataset) / "dataset.json").exists() else {}
    # the dataset folder, else the dataset summary the checkpoint recorded
    mode = manifest.get("mode") or meta.get("train", {}).get("dataset", {}).get("provenance", {}).get("config", {}).get("mode")
    if mode != "synth" and not cfg.allow_real:
        raise SystemExit(f"ship: {src} was trained on {dataset!r} (mode {mode!r}), not a synthetic "
                         "set; set allow_real=true to ship it anyway (not as synthetic-only)")
    if SPEC_KEY not in meta:
        if not cfg.add_spec:
            raise SystemExit(f"ship: {src} has no {SPEC_KEY} (what the model reads); a checkpoint saved before "
                             "models carried one: add_spec=true adds the one its training config implies")
        meta[SPEC_KEY] = spec_from_training(meta["train"]).to_dict()
        meta["input_spec_source"] = "derived from train.config by `swipe dev ship` add_spec=true"
    files = [f for f in ("model.pt", META_FILE) if (src / f).exists()]
    mb = sum((src / f).stat().st_size for f in files) / 2 ** 20  # checked before anything is written
    if mb > cfg.max_mb:
        raise SystemExit(f"ship: {src} holds {mb:.2f} MB, over max_mb={cfg.max_mb}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "model.pt").resolve() != (src / "model.pt").resolve():
        shutil.copy2(src / "model.pt", out / "model.pt")
    (out / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    return {"from": str(src), "out": str(out), "files": files, "mb": round(mb, 2), "dataset": dataset,
            "input_spec": meta[SPEC_KEY]}
