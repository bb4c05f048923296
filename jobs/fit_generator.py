"""Fit the generators learned from real people, and report how real each generator looks.

    python jobs/fit_generator.py real=/tmp/hws_train.jsonl        # → models/generators/*, models/generators/REPORT.md

`real` is a How We Swipe JSONL(.gz) of people disjoint from the dev set (the real train
split). The procedure is swipe/data/fit_generators.py's: a tenth of its people are kept out
of every fit, and every generator's realism is measured on them.
"""

from __future__ import annotations

import json

from swipe.cli import parse_job_args
from swipe.data.fit_generators import FitGeneratorConfig, fit_generators

if __name__ == "__main__":
    result = fit_generators(parse_job_args(FitGeneratorConfig, __doc__))
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1, default=str))
