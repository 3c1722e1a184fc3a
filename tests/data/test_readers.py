"""Labelled-data readers: TSV, CSV, JSONL; malformed rows report file and line."""

from __future__ import annotations

import json

import pytest

from edge_albert.data.readers import read_labeled, read_texts
from edge_albert.errors import InputError


def test_tsv_csv_jsonl_read_the_same(tmp_path):
    rows = [("a fine film", "1"), ("dull, and long", "0"), ('said "hi"', "1")]
    (tmp_path / "d.tsv").write_text("label\tsentence\n" + "".join(f"{l}\t{t}\n" for t, l in rows))
    (tmp_path / "d.csv").write_text('text,label\n"a fine film",1\n"dull, and long",0\n"said ""hi""",1\n')
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t, "label": int(l)}) + "\n" for t, l in rows))
    for name in ("d.tsv", "d.csv", "d.jsonl"):
        data = read_labeled(tmp_path / name)
        assert data.texts == [t for t, _ in rows]
        assert data.labels == [1, 0, 1]
        assert data.label_names == ["0", "1"]


def test_pairs_and_chosen_columns(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"q": "a", "d": "b", "y": "yes"}\n{"q": "c", "d": "e", "y": "no"}\n')
    data = read_labeled(tmp_path / "p.jsonl", text_column="q", pair_column="d", label_column="y")
    assert data.pairs == ["b", "e"] and data.label_names == ["no", "yes"] and data.labels == [1, 0]


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("bad.tsv", "label\tsentence\n1\tok\n0\ttoo\tmany\n", "line 3: 3 fields"),
        ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n', "line 2: not valid JSON"),
        ("bad2.jsonl", '{"text": "a", "label": 1}\n{"label": 0}\n', "line 2: column 'text'"),
        ("empty.tsv", "", "empty file"),
        ("nolabel.tsv", "label\tsentence\n\tgood\n", "line 2: column 'label' is empty"),
        ("cols.tsv", "y\tx\n1\tgood\n", "cannot tell which column is the text"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_labeled(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_unknown_label_in_dev(tmp_path):
    (tmp_path / "dev.tsv").write_text("label\tsentence\n2\tx\n")
    with pytest.raises(InputError, match="line 2: label '2' is not one of"):
        read_labeled(tmp_path / "dev.tsv", label_names=["0", "1"])


def test_non_utf8(tmp_path):
    (tmp_path / "x.tsv").write_bytes(b"label\tsentence\n1\t\xff\xfe bad\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_labeled(tmp_path / "x.tsv")


def test_read_texts_txt(tmp_path):
    (tmp_path / "c.txt").write_text("one\n\n two \nthree\n")
    assert read_texts(tmp_path / "c.txt") == ["one", " two ", "three"]
