"""Every cache tells old from new: its key names what makes its content (an object's size and
modification time, a word list's bytes, the export's code)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from swipe import storage
from swipe.lexicon import Alphabet, LexiconConfig


def test_a_model_written_again_at_the_same_uri_is_fetched_again(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("SWIPE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "model"
    src.mkdir()
    (src / "model.json").write_text('{"step": 1}')
    storage.upload_tree(src, "s3://swipe/cache-test/model")
    first = storage.local_copy("s3://swipe/cache-test/model")
    assert storage.local_copy("s3://swipe/cache-test/model") == first  # unchanged: the same copy
    time.sleep(1.1)  # object stores keep modification times to the second
    (src / "model.json").write_text('{"step": 22}')
    storage.upload_tree(src, "s3://swipe/cache-test/model")
    second = storage.local_copy("s3://swipe/cache-test/model")
    assert second != first and (second / "model.json").read_text() == '{"step": 22}'


def test_the_shared_lexicon_is_kept_by_the_word_lists_contents(tmp_path, monkeypatch):
    from swipe.serve.service import shared_lexicon

    monkeypatch.setenv("SWIPE_CACHE", str(tmp_path / "cache"))
    words = tmp_path / "words.tsv"
    words.write_text("cat\t10\ndog\t5\n")
    cfg = LexiconConfig(source="file", path=str(words))
    alphabet = Alphabet("abcdefghijklmnopqrstuvwxyz'")
    assert sorted(shared_lexicon(cfg, alphabet).trie.words()) == ["cat", "dog"]
    words.write_text("cat\t10\ndog\t5\nemu\t1\n")  # the same path, new words
    assert sorted(shared_lexicon(cfg, alphabet).trie.words()) == ["cat", "dog", "emu"]


def test_an_export_is_kept_by_the_code_that_made_it(tmp_path, monkeypatch):
    """The service's export cache: the same checkpoint and code give the same export; a change
    to the exporter or the network (its source digest) gives a new one."""
    from swipe.export import onnx
    from swipe.serve import service

    monkeypatch.setenv("SWIPE_CACHE", str(tmp_path / "cache"))
    made: list[Path] = []
    monkeypatch.setattr(onnx, "export_onnx", lambda ckpt, folder, int8: made.append(folder))
    ckpt = Path(__file__).resolve().parents[2] / "models/en-small"
    first = service.exported_model(ckpt)
    assert service.exported_model(ckpt) == first and len(made) == 1
    code = tmp_path / "onnx.py"  # the exporter as it would be after an edit
    code.write_bytes((Path(onnx.__file__)).read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(onnx, "EXPORT_CODE", onnx.EXPORT_CODE[1:] + (os.path.relpath(code, Path(onnx.__file__).parents[1]),))
    assert service.exported_model(ckpt) != first and len(made) == 2
