"""`ray job submit` on this machine: start a head, submit training and prediction, stop it.

    python jobs/submit_local.py                          # quickstart config, data/datasets/synth_en
    python jobs/submit_local.py --dataset D --train model.preset=tiny run.max_steps=40

The prediction job is stopped (`ray job stop`) once its first shard is written and then
submitted again: the re-run must finish with every input row exactly once. Prints one JSON
object; exits 1 if any check failed. Logs of the head and of every job are kept in --out.
"""

import argparse
import json
import sys
from dataclasses import asdict

from swipe.testing.submission import submit_train_and_predict

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="data/datasets/synth_en")
    p.add_argument("--split", default="test", help="the split the prediction job decodes")
    p.add_argument("--out", default="runs/submit_local", help="runs, predictions and job logs")
    p.add_argument("--train-config", default="configs/quickstart.yaml")
    p.add_argument("--train", nargs="*", default=[], metavar="key=value", help="training overrides")
    p.add_argument("--predict", nargs="*", default=["lexicon.top_n=20000"], metavar="key=value",
                   help="prediction overrides")
    a = p.parse_args()
    r = submit_train_and_predict(a.dataset, a.out, a.train_config, a.train, a.predict, a.split)
    print(json.dumps(asdict(r) | {"ok": r.ok()}, indent=1))
    sys.exit(0 if r.ok() else 1)
