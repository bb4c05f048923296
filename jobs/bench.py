"""Run one benchmark and print its figures as one JSON object (the last line printed).

    python jobs/bench.py synth      # swipes_per_s_per_core (target ≥ 20 000)
    python jobs/bench.py lexicon    # ru/en words, build_s, bytes; allowed_next_per_s
    python jobs/bench.py data       # stream_over_train (Ray Data rows/s over training rows/s)
    python jobs/bench.py train      # rows/s with 1 and 2 workers, scaling_2_over_1
    python jobs/bench.py decode     # swipes/s greedy, beam, beam_lexicon, reference; speedup_vs_reference
    python jobs/bench.py share      # trie_mb, extra_mb_per_actor_shared / _copied (4 actors)
    python jobs/bench.py tune       # the quick sweep: trials, trials_completed, trials_stopped_early, …
    python jobs/bench.py reliability  # faults_injected, faults_unsurvived, bad_inputs_tried,
                                      # bad_inputs_unhandled, rows_lost (the last three must be 0),
                                      # node_losses_injected, node_losses_survived
    python jobs/bench.py reliability_nodes  # the node losses alone: a head and two nodes, storage on local S3
    python jobs/bench.py export     # single-swipe p50/p95 ms and swipes/s of torch, onnxruntime fp32 and int8
                                    # (torch_p50_ms, ort_fp32_p50_ms, ort_int8_p50_ms, …), parity_topk_equal,
                                    # int8_acc1_delta: the shipped model, beam 6, 307k words, one thread
    python jobs/bench.py serve      # the Serve app under a bounded load: requests_per_s, p50_ms, p99_ms, errors
    python jobs/bench.py fuzz       # lines_tried, jobs_aborted, rows_lost, requests_tried, server_errors,
                                    # max_request_ms (≥ 2 000 lines and requests; the three counts must be 0)
    python jobs/bench.py --list     # the names, one per line (make bench runs them all)

The benchmarks live in bench/, beside the library: they are not part of `swipe`.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ sits beside jobs/, not in the package

from bench import BENCHMARKS  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", choices=sorted(BENCHMARKS))
    parser.add_argument("--list", action="store_true", help="print the benchmark names and exit")
    args = parser.parse_args()
    if args.list or args.name is None:
        print("\n".join(BENCHMARKS))
        sys.exit(0 if args.list else 2)
    figures = BENCHMARKS[args.name]()
    import ray

    ray.shutdown()  # first, so that no late worker log line follows the figures
    print(json.dumps(figures))
