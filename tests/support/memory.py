"""Private memory of a process, and a probe of where a predictor actor's trie lives: for the
tests and benchmarks that check one trie per node (functions of an importable module, so
that Ray can run them inside an actor on any node)."""

from __future__ import annotations

from typing import Any

import numpy as np


def private_mb() -> float:
    """This process's private memory, shared with no other process (Linux), in MB."""
    fields = dict(ln.split(":", 1) for ln in open("/proc/self/smaps_rollup").read().splitlines()[1:])
    return (int(fields["Private_Clean"].split()[0]) + int(fields["Private_Dirty"].split()[0])) / 1024


def probe_trie(actor: Any, copy: bool = False) -> tuple[str, float, bool]:
    """Inside a Predictor actor (`actor.__ray_call__.remote(probe_trie)`): read every byte of
    its trie (or of a private copy of it, the control), then return (its node id, its private
    memory in MB, whether any trie array is writeable, i.e. not a view of the object store)."""
    import ray

    arrays = [getattr(actor.lexicon.trie, a) for a in actor.lexicon.trie.ARRAYS]
    kept = [np.array(a, copy=True) for a in arrays] if copy else arrays
    for a in kept:  # page every byte in
        int(np.asarray(a).view(np.uint8).sum())
    actor._probe_kept = kept  # a copy stays alive until the next probe
    return ray.get_runtime_context().get_node_id(), private_mb(), any(a.flags.writeable for a in arrays)
