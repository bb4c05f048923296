"""Sweep training configurations with Ray Tune (ASHA early stopping on val/swipe_mrr).

    python tune/sweep.py --config configs/tune/quick.yaml            # ≤ 15 min on 2 CPU cores
    python tune/sweep.py --config configs/tune/quick.yaml name=s1 --resume
    ray job submit --working-dir . -- python tune/sweep.py --config configs/tune/full.yaml

Writes runs/sweeps/NAME/: results.md and results.csv (the table), curves.png,
best_config.yaml (train it with `python jobs/train.py --config …/best_config.yaml`), and a
training run with W&B files per trial under runs/.
"""

from swipe.cli import parse_job_args
from swipe.train.sweep import SweepConfig, run_sweep

if __name__ == "__main__":
    cfg = parse_job_args(SweepConfig, __doc__, resume_key="resume")
    result = run_sweep(cfg)
    print()
    print((result.sweep_dir / "results.md").read_text())
    print(f"sweep: {result.sweep_home}  ({result.wall_s:.0f} s)\nbest configuration: {result.best_config}")
