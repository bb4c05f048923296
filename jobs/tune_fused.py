"""Tune the fused decoder's weights on half of the dev users; report on the other half.

    python jobs/tune_fused.py checkpoint=models/en-small      # → configs/decode_en.yaml

Both decoders' candidates are collected once for every dev swipe (the neural beam's and the
template matcher's, settings from `base`), each measured in every channel; coordinate ascent
on the tuning half's swipe_mrr then re-weights them, widening a grid until its optimum is
inside (swipe/evaluate/calibrate.py). Writes a prediction config with decoder: fused.
"""

from swipe.cli import parse_job_args
from swipe.evaluate.calibrate import FusedCalibrateConfig, calibrate_fused, halves_summary

if __name__ == "__main__":
    cfg = parse_job_args(FusedCalibrateConfig, __doc__)
    r = calibrate_fused(cfg)
    print(halves_summary(r))
    print(f"fused: {r['fused']}\ngrid: {r['grid']}\n({r['wall_s']} s; candidates collected in "
          f"{r['collect_s']} s)  → {cfg.out}")
