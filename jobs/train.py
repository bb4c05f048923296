"""Train a swipe decoder on Ray Train (a local Ray, or the cluster under `ray job submit`).

    python jobs/train.py --config configs/quickstart.yaml
    python jobs/train.py --config configs/en_small.yaml run.name=en1 --resume
    ray job submit --working-dir . -- python jobs/train.py --config configs/yandex_cup.yaml
"""

from swipe.cli import parse_job_args
from swipe.console import table
from swipe.train.fit import TrainConfig, train

if __name__ == "__main__":
    cfg = parse_job_args(TrainConfig, __doc__, resume_key="run.resume")
    result = train(cfg)
    shown = ("step", "val/loss", "val/token_acc", "val/swipe_mrr", "val/acc@1")
    rows = [("run", result.run_home), ("best checkpoint", result.best_uri or "none")]
    rows += [(f"best {k}", f"{result.best_metrics[k]:.4g}") for k in shown if k in result.best_metrics]
    rows += [(name, f"swipe_mrr {m['swipe_mrr']:.4f}  acc@1 {m['acc@1']:.4f}  (n={int(m['n'])}, "
                    f"reference in lexicon: {m['reference_in_lexicon']:.1%})") for name, m in result.evals.items()]
    print("\n" + table(rows, "training result"))
