"""Run one benchmark and print its figures as one JSON object.

    python jobs/bench.py synth      # swipes_per_s_per_core (target ≥ 20 000)
    python jobs/bench.py lexicon    # ru/en words, build_s, bytes; allowed_next_per_s
"""

import argparse
import json

from swipe.bench import BENCHMARKS

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    print(json.dumps(BENCHMARKS[args.name]()))
