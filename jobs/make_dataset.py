"""Create a swipe dataset: synthesize from a word list and a layout, or import JSONL.

    python jobs/make_dataset.py --config configs/synth_en.yaml n_swipes=10000
    python jobs/make_dataset.py --config configs/import_dev.yaml
"""

from swipe.cli import parse_job_args
from swipe.data.make import MakeDatasetConfig, make_dataset, summary_table

if __name__ == "__main__":
    cfg = parse_job_args(MakeDatasetConfig, __doc__)
    manifest = make_dataset(cfg)
    print(f"\ndataset {cfg.out} ({manifest['wall_s']} s)\n{summary_table(manifest)}")
