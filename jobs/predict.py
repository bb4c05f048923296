"""Batch prediction of a dataset split with a checkpoint, on a pool of Ray actors.

    python jobs/predict.py checkpoint=runs/NAME/checkpoint_… dataset=data/datasets/real_en_dev split=dev
Re-running the same command after an interruption finishes the remaining shards only.
"""

from swipe.cli import parse_job_args
from swipe.console import table
from swipe.evaluate.predict import PredictConfig, predict
from swipe.evaluate.predictions import prediction_metrics, read_predictions

if __name__ == "__main__":
    cfg = parse_job_args(PredictConfig, __doc__)
    r = predict(cfg)
    m = prediction_metrics(read_predictions(r.out))
    rows = [("predictions", r.out), ("shards", f"{r.shards_written} written, {r.shards_skipped} already done ({r.wall_s} s)"),
            ("rows", f"in {r.rows_in} = out {r.rows_out} + rejected {r.rows_rejected} {r.rejected or ''}".rstrip())]
    rows += [(k, f"{m[k]:.4f}") for k in ("swipe_mrr", "acc@1", "acc@2", "acc@3", "acc@4")]
    print("\n" + table(rows, "prediction result"))
