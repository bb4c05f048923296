"""Evaluate a prediction run: swipe_mrr, acc@1..4, breakdowns, a beam sweep; Markdown + PNG + W&B.

    python jobs/evaluate.py predictions=data/datasets/real_en_dev/predictions/dev-RUN
"""

from swipe.cli import parse_job_args
from swipe.evaluate.report import METRICS, EvaluateConfig, evaluate

if __name__ == "__main__":
    cfg = parse_job_args(EvaluateConfig, __doc__)
    r = evaluate(cfg)
    o = r["overall"]
    print("  ".join(f"{k}={o[k]:.4f}" for k in METRICS) + f"  (n={int(o['n'])})")
    for name, m in r["by_seen"].items():
        print(f"  {name:>7}: swipe_mrr={m['swipe_mrr']:.4f} acc@1={m['acc@1']:.4f} (n={int(m['n'])})")
    print(f"report: {r['report']}")
