"""swipe_mrr and accuracy@k on hand-made cases; breakdowns."""

import pytest

from swipe.metrics import accuracy_at, dedupe, summarize, swipe_mrr


def test_swipe_mrr_hand_cases():
    assert swipe_mrr(["cat", "car"], "cat") == 1.0
    assert swipe_mrr(["car", "cat"], "cat") == pytest.approx(0.1)
    assert swipe_mrr(["car", "car", "cab", "cat"], "cat") == pytest.approx(0.09)  # duplicates removed first
    assert swipe_mrr(["a", "b", "c", "cat"], "cat") == pytest.approx(0.08)
    assert swipe_mrr(["a", "b", "c", "d", "cat"], "cat") == 0.0  # only the top 4 count
    assert swipe_mrr([], "cat") == 0.0 and swipe_mrr(["cat"], "cat") == 1.0  # fewer than 4
    assert dedupe(["x", "y", "x", "z", "y"]) == ["x", "y", "z"]
    assert accuracy_at(["x", "x", "y"], "y", 2) == 1.0
    s = summarize([["cat"], ["dog", "cat"], ["x"]], ["cat", "cat", None])
    assert s["n"] == 2 and s["unlabeled"] == 1
    assert s["swipe_mrr"] == pytest.approx(0.55) and s["acc@1"] == 0.5 and s["acc@2"] == 1.0


def test_breakdown_groups_in_natural_order():
    from swipe.metrics import breakdown

    cands = [["a"], ["bb"], ["x"], ["cccccccccc"]]
    refs = ["a", "bb", "cc", "cccccccccc"]
    out = breakdown(cands, refs, [len(r) for r in refs])
    assert list(out) == [1, 2, 10]  # numbers numerically, not "10" before "2"
    assert out[2]["acc@1"] == 0.5 and out[2]["n"] == 2
