"""Ensemble predictors: fit on a validation split, apply to a test split, record a new row.

    python jobs/ensemble.py method=weighted \
      'members=[{val: runs/A/predictions/val, test: runs/A/predictions/test},
                {val: runs/B/predictions/val, test: runs/B/predictions/test}]'
"""

from swipe.cli import parse_job_args
from swipe.evaluate.ensemble import EnsembleConfig, run_ensemble

if __name__ == "__main__":
    cfg = parse_job_args(EnsembleConfig, __doc__)
    r = run_ensemble(cfg)
    print(f"members' val swipe_mrr: {[round(v, 4) for v in r['member_val_swipe_mrr']]}; "
          f"ensemble val swipe_mrr: {r['val_swipe_mrr']:.4f}")
    print(f"test: swipe_mrr={r['test']['swipe_mrr']:.4f} acc@1={r['test']['acc@1']:.4f}  → {r['out']}")
