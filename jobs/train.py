"""Train a swipe decoder on Ray Train (a local Ray, or the cluster under `ray job submit`).

    python jobs/train.py --config configs/quickstart.yaml
    python jobs/train.py --config configs/en_small.yaml run.name=en1 --resume
    ray job submit --working-dir . -- python jobs/train.py --config configs/yandex_cup.yaml
"""

from swipe.cli import parse_job_args
from swipe.train.fit import TrainConfig, train

if __name__ == "__main__":
    cfg = parse_job_args(TrainConfig, __doc__, resume_key="run.resume")
    result = train(cfg)
    print(f"\nrun: {result.run_home}\nbest checkpoint: {result.best_uri or None}")
    shown = ("step", "val/loss", "val/token_acc", "val/swipe_mrr", "val/acc@1")
    print("best validation: " + ", ".join(f"{k}={result.best_metrics[k]:.4g}" for k in shown
                                           if k in result.best_metrics))
    for name, m in result.evals.items():
        print(f"{name:>14}: swipe_mrr={m['swipe_mrr']:.4f}  acc@1={m['acc@1']:.4f}  "
              f"(n={int(m['n'])}, reference in lexicon: {m['reference_in_lexicon']:.1%})")
