"""The online decoder without Ray: the words batch prediction gives, refusals with their reasons,
personal words (decoded at once, bounded, validated, kept across a restart), inline layouts."""

import json
import math
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from swipe.data.swipes import SwipeBatch
from swipe.evaluate.predict import Predictor
from swipe.keyboard import load_layouts
from swipe.serve.service import OnlineDecoder, ServeConfig, load_offer, resolve_paths
from swipe.serve.users import RequestError, UserWordsConfig
from tests.support.swipes import ideal_swipe

from conftest import ROOT

pytestmark = pytest.mark.slow


def _service(store, max_words=1000, max_inline_layouts=32) -> OnlineDecoder:
    cfg = resolve_paths(ServeConfig(users=UserWordsConfig(store=str(store), max_words=max_words),
                                    max_inline_layouts=max_inline_layouts), ROOT)
    return OnlineDecoder(cfg, *load_offer(cfg))


@pytest.fixture(scope="module")
def service(online):
    return online


@pytest.fixture(scope="module")
def qwerty_layout():
    return load_layouts(ROOT / "data/layouts/qwerty_english.json")["qwerty_english"]


def _dev_rows(n=12):
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines()
    return [json.loads(lines[i]) for i in np.linspace(0, len(lines) - 1, n).astype(int)]


def _request(row, **extra):
    c = row["curve"]
    return {"x": c["x"], "y": c["y"], "t": c["t"], "layout": c["grid_name"], **extra}


@pytest.mark.parametrize("decoder", ["fused", "beam", "template"])
def test_online_words_are_batch_predictions_words(service, decoder):
    """One swipe through the service and the same swipes through a prediction actor: the same words."""
    rows = _dev_rows()
    settings = service.settings
    lexicon = service.lexicon
    trie_ref = {"fused": (lexicon.trie, lexicon.index), "beam": lexicon.trie, "template": lexicon.index}[decoder]
    predictor = Predictor(service.cfg.models["en-small"] if decoder != "template" else "", trie_ref, settings.beam,
                          service.decoders["en-small"].spec.to_dict() if decoder != "template" else None,
                          settings.decode_batch,
                          {g: service.layout_json[g] for g in {r["curve"]["grid_name"] for r in rows}},
                          settings.template if decoder in ("template", "fused") else None,
                          settings.fused if decoder == "fused" else None)
    swipes = SwipeBatch.from_lists(list(range(len(rows))), [r["word"] for r in rows],
                                   [r["curve"]["grid_name"] for r in rows], *([r["curve"][a] for r in rows] for a in "xyt"))
    table = swipes.to_arrow().append_column("path", pa.array(["dev"] * len(rows)))
    batch_words = predictor.decode_table(table)["candidates"].to_pylist()
    online = [[c["word"] for c in service.decode(_request(r, decoder=decoder, attention=False))["candidates"]]
              for r in rows]
    assert online == batch_words
    assert sum(c[:1] == [r["word"]] for c, r in zip(online, rows)) >= 3  # and they read people's swipes


def test_each_letter_has_an_attention_map_over_the_points_read(service):
    out = service.decode(_request(_dev_rows(1)[0], decoder="fused"))
    n = len(out["points"]["x"])
    for c in out["candidates"]:
        att = np.array(c["attention"])
        assert att.shape == (len(c["word"]), n)
        np.testing.assert_allclose(att.sum(1), 1.0, atol=0.01)  # a distribution over the points per letter


@pytest.mark.parametrize("change, status, says", [
    (dict(x=[1, 2], y=[1], t=[0, 1]), 422, "one value per point"),
    (dict(x="1,2"), 400, "'x' must be a list of numbers"),
    (dict(layout="dvorak"), 404, "no layout 'dvorak'"),
    (dict(model="gpt"), 404, "no model 'gpt'"),
    (dict(decoder="viterbi"), 400, "no decoder 'viterbi'"),
    (dict(beam_size=0), 400, "'beam_size' must be an integer from 1 to 30"),
    (dict(beam_size=31), 400, "'beam_size' must be an integer from 1 to 30"),  # beyond the alphabet: was a 500
    (dict(model=["en-small"]), 400, "'model' must be a string"),  # unhashable: was a 500
    (dict(user=["alice"]), 400, "'user' must be a string"),
    (dict(user="alice\n"), 400, "user name"),  # "$" matched before a trailing newline
    (dict(x=[30.0, 60.0], y=[30.0, 30.0], t=[0.0, 1e300]), 422, "out_of_range"),  # was 200 with no candidates
    (dict(x=[0.0] * 5000, y=[0.0] * 5000, t=list(range(5000))), 413, "at most 4000"),
    (dict(x=[1.0, float("nan")], y=[1.0, 2.0], t=[0.0, 1.0]), 422, "finite"),
    (dict(x=[5.0, 5.0], y=[5.0, 5.0], t=[3.0, 3.0]), 422, "swipe refused"),
    (dict(layout={"width": 10, "keys": []}), 422, "inline layout refused"),
    (dict(user="../etc"), 400, "user name"),
])
def test_bad_requests_are_refused_with_a_reason(service, qwerty_layout, change, status, says):
    req = ideal_swipe(qwerty_layout, "hello") | {"layout": "qwerty_english"} | change
    with pytest.raises(RequestError) as e:
        service.decode(req)
    assert e.value.status == status and says in str(e.value), str(e.value)


def test_limits_each_a_4xx_with_a_reason(tmp_path, qwerty_layout, service):
    big = {"width": 100, "height": 100, "keys": [{"label": "a", "hitbox": {"x": 0, "y": 0, "w": 1, "h": 1}}] * 201}
    with pytest.raises(RequestError, match="201 keys; at most 200") as e:
        service.decode(ideal_swipe(qwerty_layout, "hello") | {"layout": big})
    assert e.value.status == 413
    with pytest.raises(RequestError, match="at most 1000") as e:  # words per request
        service.users.add("ann", ["word"] * 1001)
    assert e.value.status == 413
    with pytest.raises(RequestError) as e:  # 200 bad words: ten named, the alphabet once
        service.users.add("ann", [f"caf\u00e9{i}" for i in range(200)])
    assert "200 word(s) refused" in str(e.value) and "and 190 more" in str(e.value)
    assert str(e.value).count("café") == 10 and len(str(e.value)) < 2000
    locked = _service(tmp_path / "locked")
    object.__setattr__(locked, "cfg", replace(locked.cfg, write_token="s3cret-token"))
    for header in (None, "Bearer wrong", "s3cret-token"):
        with pytest.raises(RequestError, match="Authorization: Bearer") as e:
            locked.may_touch_words(header)
        assert e.value.status == 401
    locked.may_touch_words("Bearer s3cret-token")
    service.may_touch_words(None)  # no token configured: open, as the README says


def test_inline_layouts_decode_and_are_bounded(tmp_path, qwerty_layout):
    service = _service(tmp_path / "users", max_inline_layouts=2)
    known = len(service.decoders["en-small"].layouts)
    for scale in (2.0, 1.5, 0.8):  # the same keyboard at sizes the service was never given
        grid = json.loads(json.dumps(qwerty_layout.grid))
        for key in grid["keys"]:
            key["hitbox"] = {k: scale * v for k, v in key["hitbox"].items()}
        grid["width"], grid["height"] = scale * grid["width"], scale * grid["height"]
        out = service.decode(ideal_swipe(qwerty_layout, "people", scale=scale) | {"layout": grid})
        assert out["layout"].startswith("inline-") and out["candidates"][0]["word"] == "people"
    assert len(service.inline) == 2  # the oldest was forgotten, by the models' key tables too
    assert len(service.decoders["en-small"].layouts) == known + 2
    net = service.decoders["en-small"].net
    assert len(net.grid_names) == known + 2 and len(getattr(net, "_keys", ())) <= known + 2


def test_personal_words_decode_at_once_are_bounded_and_survive_a_restart(tmp_path, qwerty_layout):
    service = _service(tmp_path / "users", max_words=3)
    req = ideal_swipe(qwerty_layout, "zorblat") | {"layout": "qwerty_english", "user": "ann"}
    assert "zorblat" not in [c["word"] for c in service.decode(req)["candidates"]]
    assert service.users.add("ann", ["Zorblat", "quibbix"])["added"] == ["zorblat", "quibbix"]
    top = service.decode(req)["candidates"][0]
    assert top["word"] == "zorblat" and top["personal"]
    assert "zorblat" not in [c["word"] for c in service.decode(req | {"user": "bo"})["candidates"]]  # ann's only
    with pytest.raises(RequestError, match="characters \\['é'\\] are not in the alphabet") as e:
        service.users.add("ann", ["café"])
    assert e.value.status == 422
    with pytest.raises(RequestError, match="would pass the limit of 3"):
        service.users.add("ann", ["jaxter", "plimb"])
    assert service.users.words("ann") == ["quibbix", "zorblat"]  # nothing half-added
    restarted = _service(tmp_path / "users", max_words=3)  # a new replica: words from the store
    assert restarted.decode(req)["candidates"][0]["word"] == "zorblat"
    service.users.remove("ann", ["zorblat"])
    assert "zorblat" not in [c["word"] for c in restarted.decode(req)["candidates"]]  # every replica sees it


def test_words_with_a_letter_the_keyboard_lacks_decode_with_finite_scores(service, qwerty_layout):
    """qwerty_english has no apostrophe key: "don't" (a personal word too) and "it's", swiped
    over the letters they have, come back in the fused top 4 with finite scores (their
    templates skip the apostrophe: swipe.decode.template.DrawnWords); so does a personal word
    with an apostrophe that the shared lexicon lacks."""
    service.users.add("dee", ["don't", "zor'blat"])
    for word, user in (("don't", "dee"), ("it's", None), ("zor'blat", "dee")):
        req = ideal_swipe(qwerty_layout, word) | {"layout": "qwerty_english", "decoder": "fused", "attention": False}
        cands = service.decode(req | ({"user": user} if user else {}))["candidates"]
        assert word in [c["word"] for c in cands[:4]], (word, cands)
        assert all(math.isfinite(c["score"]) for c in cands), cands
    assert not service.decoders["en-small"].dropped, service.decoders["en-small"].dropped


def test_each_decoder_returns_its_own_top_k_unless_the_request_names_one(service, qwerty_layout, monkeypatch):
    """Online, the beam's top_k overrode the fused and template decoders' own."""
    decoder = service.decoders["en-small"]
    monkeypatch.setattr(decoder, "fused", replace(decoder.fused, top_k=2))
    monkeypatch.setattr(decoder, "template", replace(decoder.template, top_k=3))
    req = ideal_swipe(qwerty_layout, "people") | {"layout": "qwerty_english", "attention": False}
    assert service.settings.beam.top_k == 4
    got = {kind: len(service.decode(req | {"decoder": kind})["candidates"]) for kind in ("fused", "template", "beam")}
    assert got == {"fused": 2, "template": 3, "beam": 4}, got
    assert len(service.decode(req | {"decoder": "fused", "top_k": 4})["candidates"]) == 4  # named: it wins
