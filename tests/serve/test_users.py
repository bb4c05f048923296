"""Personal words: two processes adding words to one user lose none, locally and on S3; an
entry that is not a word, or a store file left empty by a crash, is set aside, never a 500."""

import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from swipe import storage
from tests.support.writers import add_one_by_one, user_words


def _words(n: int, tag: str) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [tag + letters[i // 26] + letters[i % 26] for i in range(n)]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_writers_of_one_user_lose_no_word(where, tmp_path, request):
    if where == "s3":
        request.getfixturevalue("s3")
        store = f"s3://swipe/users-{uuid.uuid4().hex[:8]}"
    else:
        store = str(tmp_path / "users")
    n = 200 if where == "local" else 60  # each add lists the user's words: S3 lists are slow
    mine, theirs = _words(n, "ka"), _words(n, "zo")
    start = time.time() + 6  # both processes started and imported: they write at the same time
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = [f.result() for f in [pool.submit(add_one_by_one, store, "ann", w, start) for w in (mine, theirs)]]
    assert done == [n, n]
    assert user_words(store).words("ann") == sorted(mine + theirs)  # read-modify-write lost some of these


def test_an_unreadable_entry_is_set_aside_not_a_failure(tmp_path):
    users = user_words(str(tmp_path))
    users.add("ann", ["hello"])
    (tmp_path / "ann" / "not-hex.word").write_text("?")
    (tmp_path / "bo.json").write_text("")  # the old one-file store, left empty by a crash
    assert users.words("ann") == ["hello"] and users.words("bo") == []
    assert sorted(Path(p).name for p in users.unreadable) == ["bo.json", "not-hex.word"]
    assert (tmp_path / "ann" / "not-hex.word.unreadable").exists() and (tmp_path / "bo.json.unreadable").exists()
    (tmp_path / "cy.json").write_text('{"words": ["old", "words"]}')  # the old store's words carry over
    assert users.words("cy") == ["old", "words"] and not (tmp_path / "cy.json").exists()
    assert users.remove("cy", ["old"])["words"] == 1 and users.words("cy") == ["words"]
    assert storage.list_files(tmp_path / "cy", ".word") == [str(tmp_path / "cy" / ("words".encode().hex() + ".word"))]


def test_a_replica_keeps_the_lexicons_of_its_most_recent_users_only(tmp_path):
    users = user_words(str(tmp_path), max_cached_users=2)  # the cache grew without bound
    for name in ("ann", "bo", "cy"):
        users.add(name, ["hello"])
        users.lexicon(name)
    users.lexicon("bo")  # recently used: kept
    users.add("dee", ["hello"])
    users.lexicon("dee")
    assert list(users._built) == ["bo", "dee"]


def test_a_replica_reads_a_users_words_again_only_when_they_change(tmp_path, monkeypatch):
    """Each request reads the user's version (one small object); the words are listed again
    only after some replica added or removed one (they were listed on every request)."""
    from swipe import storage

    a, b = user_words(str(tmp_path)), user_words(str(tmp_path))  # two replicas, one store
    a.add("ann", ["hello"])
    listed = []
    real = storage.list_files
    monkeypatch.setattr(storage, "list_files", lambda *args, **kw: listed.append(args) or real(*args, **kw))
    lexicon = b.lexicon("ann")
    assert lexicon.trie.words() == ["hello"]
    assert b.lexicon("ann") is lexicon and len(listed) == 1  # unchanged: not listed again
    a.add("ann", ["world"])  # (the add lists the user's words itself, to check the limit)
    before = len(listed)
    assert b.lexicon("ann").trie.words() == ["hello", "world"] and len(listed) == before + 1
    a.remove("ann", ["hello", "world"])
    assert b.lexicon("ann") is None and b.lexicon("bo") is None
