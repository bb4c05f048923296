"""Batch prediction of a dataset split with a checkpoint, on a pool of Ray actors.

    python jobs/predict.py checkpoint=runs/NAME/checkpoint_… dataset=data/datasets/real_en_dev split=dev
Re-running the same command after an interruption finishes the remaining shards only.
"""

from swipe.cli import parse_job_args
from swipe.evaluate.predict import PredictConfig, predict
from swipe.evaluate.predictions import prediction_metrics, read_predictions

if __name__ == "__main__":
    cfg = parse_job_args(PredictConfig, __doc__)
    r = predict(cfg)
    print(f"\npredictions: {r.out}  ({r.shards_written} shards written, {r.shards_skipped} already done, "
          f"{r.wall_s} s)\nrows in {r.rows_in} = out {r.rows_out} + rejected {r.rows_rejected} {r.rejected}")
    m = prediction_metrics(read_predictions(r.out))
    print("  ".join(f"{k}={m[k]:.4f}" for k in ("swipe_mrr", "acc@1", "acc@2", "acc@3", "acc@4")))
