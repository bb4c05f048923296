"""Fit the synthesizer to real people's swipes; write the dataset config that uses the fit.

    python jobs/fit_synth.py real=PATH/howweswipe_en_train.jsonl.gz    # → configs/synth_en_fitted.yaml

`real` is a How We Swipe JSONL(.gz) of people disjoint from the dev set (the real train
split). The procedure is swipe/data/fit.py's: coordinate descent on the mean KS statistic
over every realism statistic, with the same words on the same keyboards by the same people.
The realism score (classifier AUC, KS) is reported before and after on other real swipes
of the same file than the ones fitted. The output is `base` (a synth dataset config) with
its `synth:` block replaced by the fitted parameters and the figures in its header.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from swipe import storage
from swipe.cli import parse_job_args
from swipe.config import config_to_dict, load_config
from swipe.data.fit import FitConfig, fit_synth
from swipe.data.make import MakeDatasetConfig
from swipe.data.realism import load_real_sample, realism_score
from swipe.data.synth import SynthConfig
from swipe.keyboard import load_layouts


@dataclass(frozen=True)
class FitJobConfig:
    real: str = ""  # How We Swipe JSONL(.gz): the real train split
    layouts: str = "data/layouts/howweswipe_devices.json"  # the keyboards its grid_names name
    base: str = "configs/synth_en_people.yaml"  # dataset config whose synth block is fitted
    out: str = "configs/synth_en_fitted.yaml"
    dataset_out: str = "data/datasets/synth_en_fitted"  # where the written config makes its dataset
    fit_swipes: int = 3000  # real swipes the objective is measured on
    check_swipes: int = 3000  # other real swipes the before/after figures are measured on
    fit: FitConfig = field(default_factory=FitConfig)
    overwrite: bool = False  # replace an existing `out` (refused before any work otherwise)


def main(cfg: FitJobConfig) -> dict:
    if not cfg.real:
        raise SystemExit("fit_synth: set real=PATH (a How We Swipe JSONL of people outside the dev set)")
    storage.refuse_existing(cfg.out, cfg.overwrite)
    layouts = load_layouts(cfg.layouts)
    base = load_config(MakeDatasetConfig, cfg.base)
    rng = np.random.default_rng(cfg.fit.seed)
    fit_real, picked = load_real_sample(cfg.real, layouts, cfg.fit_swipes, rng)
    check_real, _ = load_real_sample(cfg.real, layouts, cfg.check_swipes, rng, skip=picked)
    result = fit_synth(fit_real, layouts, base.synth, cfg.fit)
    before = realism_score(check_real, layouts, base.synth, cfg.fit.seed)
    after = realism_score(check_real, layouts, result.synth, cfg.fit.seed)
    edges = [h["param"] for h in result.history if h["round"] == cfg.fit.rounds - 1 and h["at_edge"]]
    moved = {k: v for k, v in dataclasses.asdict(result.synth).items() if getattr(base.synth, k) != v}
    header = [
        "Synthetic English swipes with the generator fitted to real people (written by jobs/fit_synth.py;",
        "do not edit by hand, re-run it):",
        f"  python jobs/fit_synth.py real={cfg.real} base={cfg.base}",
        f"Procedure: swipe/data/fit.py, {cfg.fit.rounds} rounds of coordinate descent on the mean KS over every",
        f"realism statistic, {len(fit_real)} real swipes of {Path(cfg.real).name}; {result.evaluations} settings in",
        f"{result.wall_s} s. Mean KS on them {result.objective_before:.4f} -> {result.objective_after:.4f}.",
        f"On {len(check_real)} other real swipes: c2st_auc {before['c2st_auc']} -> {after['c2st_auc']}, "
        f"mean KS {before['mean_ks']} -> {after['mean_ks']},",
        f"worst KS {before['worst_ks']} ({before['worst_ks_stat']}) -> {after['worst_ks']} ({after['worst_ks_stat']}).",
        "Parameters whose last-round optimum lay on its grid's edge: " + (", ".join(edges) or "none") + ".",
        "Make the dataset:  python jobs/make_dataset.py --config " + cfg.out,
    ]
    body = config_to_dict(dataclasses.replace(base, synth=result.synth, out=cfg.dataset_out))
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(body, sort_keys=False)
    Path(cfg.out).write_text(text)
    return {"out": cfg.out, "fit_swipes": len(fit_real), "check_swipes": len(check_real),
            "mean_ks_fit": [round(result.objective_before, 4), round(result.objective_after, 4)],
            "before": {k: v for k, v in before.items() if k != "table"},
            "after": {k: v for k, v in after.items() if k != "table"},
            "moved": moved, "at_edge": edges, "wall_s": result.wall_s,
            "table_before": before["table"], "table_after": after["table"]}


if __name__ == "__main__":
    r = main(parse_job_args(FitJobConfig, __doc__))
    print(r.pop("table_before"), "\n\nafter the fit:\n" + r.pop("table_after"))
    print(json.dumps(r, indent=1, default=str))
