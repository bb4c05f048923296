"""Tune the template matcher's weights on half of the dev users; report on the other half.

    python jobs/calibrate.py                                  # data/datasets/real_en_dev, 307k words
    python jobs/calibrate.py rows=500 out=/tmp/t.yaml         # a quick look

Writes a prediction config (configs/predict_template_en.yaml): configs/predict_en.yaml with
decoder: template and the tuned weights, the procedure and both halves' figures in its header.
"""

from swipe.cli import parse_job_args
from swipe.evaluate.calibrate import CalibrateConfig, calibrate_template, halves_summary

if __name__ == "__main__":
    cfg = parse_job_args(CalibrateConfig, __doc__)
    r = calibrate_template(cfg)
    print(halves_summary(r))
    print(f"template: {r['template']}\ngrid: {r['grid']}\n({r['wall_s']} s; candidates collected in "
          f"{r['collect_s']} s)  → {cfg.out}")
