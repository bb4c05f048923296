"""Run one benchmark and print its figures as one JSON object.

    python jobs/bench.py synth      # swipes_per_s_per_core (target ≥ 20 000)
    python jobs/bench.py lexicon    # ru/en words, build_s, bytes; allowed_next_per_s
    python jobs/bench.py data       # stream_over_train (Ray Data rows/s over training rows/s)
    python jobs/bench.py train      # rows/s with 1 and 2 workers, scaling_2_over_1
    python jobs/bench.py decode     # swipes/s greedy, beam, beam_lexicon, reference; speedup_vs_reference
    python jobs/bench.py share      # trie_mb, extra_mb_per_actor_shared / _copied (4 actors)
    python jobs/bench.py tune       # the quick sweep: trials, trials_completed, trials_stopped_early, …
    python jobs/bench.py reliability  # faults_injected, faults_unsurvived, bad_inputs_tried,
                                      # bad_inputs_unhandled, rows_lost (the last three must be 0)

The figures are one JSON object, the last line printed.
"""

import argparse
import json

from swipe.bench import BENCHMARKS

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    figures = BENCHMARKS[args.name]()
    import ray

    ray.shutdown()  # first, so that no late worker log line follows the figures
    print(json.dumps(figures))
