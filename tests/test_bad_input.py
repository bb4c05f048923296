"""Bad input everywhere, property-based: importers, shard reader, the prediction actor.

Hypothesis mixes good records with every kind of damage in tests.support.damage; whatever it
draws, each row must come out once — kept, or quarantined with the reason its damage
calls for — and nothing may raise. The real-Ray version of the prediction case (a dataset
with a corrupt shard) is in test_predict.py.
"""

import copy

import numpy as np
import pyarrow as pa
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swipe.data.dataset import check_shard, check_shards, write_shard
from swipe.data.swipes import SwipeBatch
from swipe.decode.search import BeamConfig
from swipe.evaluate.predict import Predictor
from swipe.keyboard import layouts_to_json
from swipe.lexicon import build_alphabet, build_trie
from swipe.model.checkpoint import check_compatible, load_meta, save_model_dir
from swipe.model.features import KeyTable
from swipe.model.transformer import ModelConfig, SwipeModel
from tests.support import damage
from swipe.model.spec import InputSpec, PointSpec

SEED = st.integers(0, 2**32 - 1)
FIXTURES_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def world(qwerty):
    """Good records (validated, ≥ 3 points), the layouts and alphabet they are good for."""
    alphabet = build_alphabet([qwerty])
    good = damage.good_records(qwerty, alphabet.chars, damage.WORDS * 3)
    assert len(good) > 40
    return good, {"qwerty_english": qwerty}, alphabet


@FIXTURES_OK
@given(plan=st.lists(st.tuples(st.sampled_from(["good", *damage.LINE_KINDS]), SEED), min_size=1, max_size=30))
def test_importer_quarantines_every_bad_line_and_keeps_every_good_one(world, plan):
    good, layouts, alphabet = world
    lines, expect = damage.damaged_rows(damage.LINE_KINDS, plan, good)
    lines = [damage.as_line(r) if isinstance(r, dict) else r for r in lines]
    got = damage.import_lines(lines, layouts, alphabet.chars)
    assert len(got) == len(lines)  # every line once: kept or quarantined
    wrong, lost = damage.mishandled(plan, expect, got)
    assert not lost and not wrong, [(plan[i][0], got.get(i), lines[i]) for i in wrong + lost]


@FIXTURES_OK
@given(kind=st.sampled_from(sorted(damage.SHARD_KINDS)), seed=SEED, with_hash=st.booleans())
def test_damaged_shards_are_named_not_read(world, tmp_path_factory, kind, seed, with_hash):
    good, _, _ = world
    batch = SwipeBatch.from_lists([r["id"] for r in good], [r["word"] for r in good],
                                  [r["grid_name"] for r in good], [r["x"] for r in good], [r["y"] for r in good],
                                  [r["t"] for r in good], source="synth")
    root = tmp_path_factory.mktemp("shard")
    info = write_shard(batch, root, "train", 0)
    path = root / "train" / "part-00000.parquet"
    assert check_shard(path, info["rows"], info["sha256"]) is None  # intact: readable
    spoil, prefix = damage.SHARD_KINDS[kind]
    spoil(path, np.random.default_rng(seed))
    why = check_shard(path, info["rows"], info["sha256"] if with_hash else None)
    if kind == "flipped_bytes" and not with_hash:
        # without the manifest's hash, damage that still decodes cannot be told from data;
        # what must hold is that the check does not raise and a None means the file reads
        if why is None:
            import pyarrow.parquet as pq

            pq.read_table(path)
        return
    assert why is not None and why.startswith(prefix), why


def test_shards_checked_together_keep_their_own_verdicts(world, tmp_path):
    """check_shards (threads) answers for each shard in order: every kind of damage next to intact ones."""
    good, _, _ = world
    batch = SwipeBatch.from_lists([r["id"] for r in good], [r["word"] for r in good],
                                  [r["grid_name"] for r in good], [r["x"] for r in good], [r["y"] for r in good],
                                  [r["t"] for r in good], source="synth")
    kinds = [None, *sorted(damage.SHARD_KINDS), None]
    shards = []
    for i, kind in enumerate(kinds):
        info = write_shard(batch, tmp_path, "train", i)
        path = tmp_path / "train" / f"part-{i:05d}.parquet"
        if kind is not None:
            damage.SHARD_KINDS[kind][0](path, np.random.default_rng(i))
        shards.append((path, info["rows"], info["sha256"]))
    verdicts = check_shards(shards, threads=4)
    assert len(verdicts) == len(kinds)
    for kind, why in zip(kinds, verdicts):
        if kind is None:
            assert why is None
        else:
            assert why is not None and why.startswith(damage.SHARD_KINDS[kind][1]), (kind, why)


@pytest.fixture(scope="module")
def predictor(world, tmp_path_factory):
    good, layouts, alphabet = world
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12), KeyTable.build(layouts, alphabet), alphabet.size)
    ckpt = save_model_dir(tmp_path_factory.mktemp("ckpt"), model, alphabet, layouts_to_json(layouts), InputSpec(PointSpec(64)), {"step": 0})
    trie = build_trie(damage.WORDS, np.ones(len(damage.WORDS)), alphabet)
    return Predictor(str(ckpt), trie, BeamConfig(beam_size=2, top_k=2), InputSpec(PointSpec(64)).to_dict(), 8), ckpt


ROW_KINDS = {**damage.ROW_KINDS, **damage.ARROW_KINDS, damage.FOREIGN[0]: (damage.FOREIGN[1][0], None)}


@FIXTURES_OK
@given(plan=st.lists(st.tuples(st.sampled_from(["good", *ROW_KINDS]), SEED), min_size=1, max_size=12))
def test_prediction_actor_decodes_good_rows_and_names_bad_ones(world, predictor, plan):
    good, _, _ = world
    rows, expect = damage.damaged_rows(ROW_KINDS, plan, good)
    table = damage.records_to_arrow(rows)
    out = predictor[0].decode_table(table.append_column("path", pa.array(["in.parquet"] * len(rows))))
    assert out.num_rows == len(rows) and out["id"].to_pylist() == [r["id"] for r in rows]  # each row, in order
    for (kind, _), want, err, cands in zip(plan, expect, out["error"].to_pylist(), out["candidates"].to_pylist()):
        assert err == want, kind
        if want is None:
            assert cands and set(cands) <= set(damage.WORDS), kind  # decoded, within the lexicon


def test_a_checkpoint_refuses_letters_it_cannot_read_and_takes_any_keyboard_of_known_letters(world, predictor, yandex):
    from swipe.data.importers.howweswipe import study_layout

    _, layouts, alphabet = world
    meta = load_meta(predictor[1])
    manifest = {"alphabet": alphabet.chars, "layouts": layouts_to_json(layouts)}
    check_compatible(meta, manifest)  # its own data: fine
    with pytest.raises(ValueError, match=r"cannot emit"):
        check_compatible(meta, manifest | {"alphabet": alphabet.chars + "ж"})
    with pytest.raises(ValueError, match=r"letter keys the checkpoint's model cannot read.*'default'"):
        check_compatible(meta, manifest | {"layouts": layouts_to_json(yandex)})
    # keyboards it was never trained on, of letters it knows: another size, a key moved
    moved = copy.deepcopy(layouts_to_json(layouts))
    moved["qwerty_english"]["keys"][0]["hitbox"]["x"] += 7
    check_compatible(meta, manifest | {"layouts": moved | {"hws_411x241": study_layout(411, 241)}})
