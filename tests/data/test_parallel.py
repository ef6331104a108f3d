"""Parallel text: aligned files (plain or gzip), column files, the bundled Multi30k slice, bad input."""

import gzip
import json

import pytest

from liteformer.data.parallel import read_parallel
from liteformer.errors import LiteformerError


def test_bundled_multi30k():
    d = read_parallel("multi30k:train")
    assert len(d) == 3000 and len(read_parallel("multi30k:val")) == 200 and len(read_parallel("multi30k:test")) == 200
    assert d.sources[0].startswith("A ") and d.targets[0].startswith("Ein ")


def test_two_files_plain_and_gzip_and_columns(tmp_path):
    (tmp_path / "a.en").write_text("a dog runs\na cat sleeps\n")
    with gzip.open(tmp_path / "a.de.gz", "wt", encoding="utf-8") as f:
        f.write("ein Hund rennt\r\neine Katze schläft\u2028gut\n")  # CRLF and U+2028 are not line ends here
    d = read_parallel(f"{tmp_path / 'a.en'},{tmp_path / 'a.de.gz'}")
    assert d.sources == ["a dog runs", "a cat sleeps"]
    assert d.targets == ["ein Hund rennt", "eine Katze schläft\u2028gut"]
    (tmp_path / "p.jsonl").write_text(json.dumps({"source": "hi", "target": "hallo"}) + "\n")
    assert read_parallel(tmp_path / "p.jsonl").targets == ["hallo"]
    (tmp_path / "p.tsv").write_text("en\tde\nhi\thallo\n")
    assert read_parallel(str(tmp_path / "p.tsv"), "en", "de").sources == ["hi"]


@pytest.mark.parametrize("files,msg", [
    ({"s": "a\nb\n", "t": "x\n"}, "has 2 lines but"),
    ({"s": "a\n\nc\n", "t": "x\ny\nz\n"}, "line 2 is empty"),
    ({"s": "a\n", "t": b"\xff\xfe"}, "not UTF-8"),
    ({"s": "", "t": ""}, "no sentence pairs"),
    ({"s": "a\n", "t": b"\x1f\x8b\x08broken"}, "cannot be read"),
])
def test_bad_parallel_files(tmp_path, files, msg):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.raises(LiteformerError, match=msg):
        read_parallel(f"{tmp_path / 's'},{tmp_path / 't'}")


def test_bad_names_and_columns(tmp_path):
    with pytest.raises(LiteformerError, match="no such bundled parallel set"):
        read_parallel("wmt:train")
    with pytest.raises(LiteformerError, match="no such bundled split"):
        read_parallel("multi30k:dev")
    with pytest.raises(LiteformerError, match="no such file"):
        read_parallel(f"{tmp_path / 'x'},{tmp_path / 'y'}")
    (tmp_path / "p.tsv").write_text("src\ttgt\nhi\thallo\n")
    with pytest.raises(LiteformerError, match="column 'source' not found"):
        read_parallel(tmp_path / "p.tsv")
