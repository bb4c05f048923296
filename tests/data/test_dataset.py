"""Splits by hash (held-out words, stable), and the shard schema."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from swipe.data.dataset import SplitConfig, assign_splits, is_heldout_word, write_shard
from swipe.data.synth import SynthConfig, synthesize


def test_splits_hold_out_words_and_are_stable():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(2000)]
    words = list(rng.choice(vocab, 50_000))
    ids = np.arange(50_000)
    cfg = SplitConfig(heldout_word_share=0.1, val_share=0.05, test_share=0.05, seed=1)
    splits = assign_splits(ids, words, cfg)
    again = assign_splits(ids[::-1], words[::-1], cfg)[::-1]  # order-free: tasks agree
    assert (splits == again).all()
    train_words = {w for w, s in zip(words, splits) if s == "train"}
    held = {w for w in vocab if is_heldout_word(w, cfg)}
    assert not (train_words & held)
    assert 0.07 < len(held) / len(vocab) < 0.13
    share = {s: np.mean(splits == s) for s in ("train", "val", "test")}
    assert 0.75 < share["train"] < 0.86 and 0.07 < share["val"] < 0.13
    other = assign_splits(ids, words, SplitConfig(seed=2))
    assert (other != splits).any()


def test_splits_by_user_keep_val_users_and_held_out_words_out_of_train():
    """Honest selection: with by_user, validation's people (the synthesizer's pseudo-users) and
    held-out words never appear in train, and val holds some of those words."""
    rng = np.random.default_rng(0)
    words = list(rng.choice([f"w{i}" for i in range(2000)], 40_000))
    users = [f"synth-0-{i // 100}" for i in range(40_000)]
    cfg = SplitConfig(heldout_word_share=0.1, val_share=0.05, test_share=0.05, seed=1, by_user=True)
    splits = assign_splits(np.arange(40_000), words, cfg, users)
    by = {s: {u for u, x in zip(users, splits) if x == s} for s in ("train", "val", "test")}
    assert by["val"] and not (by["val"] & by["train"])  # test also has held-out words of training users
    train_words = {w for w, x in zip(words, splits) if x == "train"}
    val_words = {w for w, x in zip(words, splits) if x == "val"}
    assert not any(is_heldout_word(w, cfg) for w in train_words)
    assert val_words - train_words  # validation holds words training never saw
    assert 0.03 < np.mean(splits == "val") < 0.08
    # without users the rows split by id, as before
    assert (assign_splits(np.arange(40_000), words, cfg) == assign_splits(np.arange(40_000), words, cfg, None)).all()


def test_shard_schema(tmp_path, qwerty):
    b = synthesize(["abc", "def"], qwerty, SynthConfig(), np.random.default_rng(0))
    info = write_shard(b, tmp_path, "train", 3)
    assert info["path"].endswith("train/part-00003.parquet") and info["rows"] == 2
    assert info["by_layout"] == {"qwerty_english": 2} and len(info["sha256"]) == 64
    t = pq.read_table(info["path"])
    assert [f.name for f in t.schema] == ["id", "word", "x", "y", "t", "grid_name", "source", "user"]
    assert t["user"].null_count == 2  # synthetic swipes: nobody's
    for c in "xyt":
        typ = t.schema.field(c).type
        assert pa.types.is_list(typ) and typ.value_type == pa.float32()


def test_a_shard_written_before_the_user_column_still_reads(tmp_path, qwerty):
    """`user` is optional: older shards lack it and read with nulls there."""
    from swipe.data.dataset import check_shard, head_table

    b = synthesize(["abc", "def"], qwerty, SynthConfig(), np.random.default_rng(0))
    old = b.to_arrow().drop_columns(["user"])
    pq.write_table(old, tmp_path / "old.parquet")
    assert check_shard(tmp_path / "old.parquet", 2) is None
    t = head_table([str(tmp_path / "old.parquet")])
    assert t.column_names[-1] == "user" and t["user"].null_count == 2 and t["id"].to_pylist() == b.ids.tolist()
