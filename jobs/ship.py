"""Copy a run's best checkpoint (model.pt, model.json) to a model folder that ships in the repo.

    python jobs/ship.py run=runs/en-small-cpu out=models/en-small

Refuses a model over `max_mb` (the repository keeps models small) and one whose training
data were not all synthetic unless `allow_real=true` (the shipped model is synthetic-only).
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from swipe.cli import parse_job_args
from swipe.model.checkpoint import META_FILE, resolve_checkpoint


@dataclass(frozen=True)
class ShipConfig:
    run: str = ""  # a run folder (its best checkpoint) or a checkpoint folder
    out: str = "models/en-small"
    max_mb: float = 5.0
    allow_real: bool = False  # ship a model trained on real swipes too


def ship(cfg: ShipConfig) -> dict:
    src = resolve_checkpoint(cfg.run)
    meta = json.loads((src / META_FILE).read_text())
    dataset = meta.get("train", {}).get("config", {}).get("data", {}).get("dataset", "")
    manifest = json.loads((Path(dataset) / "dataset.json").read_text()) if (Path(dataset) / "dataset.json").exists() else {}
    if manifest.get("mode") != "synth" and not cfg.allow_real:
        raise SystemExit(f"ship: {src} was trained on {dataset!r} (mode {manifest.get('mode')!r}), not a synthetic "
                         "set; set allow_real=true to ship it anyway (not as synthetic-only)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    files = [f for f in ("model.pt", META_FILE) if (src / f).exists()]
    for f in files:
        shutil.copy2(src / f, out / f)
    mb = sum((out / f).stat().st_size for f in files) / 2 ** 20
    if mb > cfg.max_mb:
        raise SystemExit(f"ship: {out} holds {mb:.2f} MB, over max_mb={cfg.max_mb}")
    return {"from": str(src), "out": str(out), "files": files, "mb": round(mb, 2), "dataset": dataset}


if __name__ == "__main__":
    print(json.dumps(ship(parse_job_args(ShipConfig, __doc__)), indent=1))
