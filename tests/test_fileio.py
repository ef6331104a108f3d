"""The output policy and atomic replacement: never delete what liteformer did not write."""

import json
import os

import pytest

from liteformer.errors import LiteformerError
from liteformer.fileio import check_output, clean_stale, is_ours, replace_dir
from tests.conftest import run_cli


def test_refuses_a_users_folder_and_file_but_not_its_own(tmp_path, tiny_folder):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(LiteformerError, match="--overwrite"):
        check_output(user)
    check_output(user, overwrite=True)  # the user said so
    (tmp_path / "f.txt").write_text("keep")
    with pytest.raises(LiteformerError, match="is a file"):
        check_output(tmp_path / "f.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(empty)
    check_output(tmp_path / "new" / "deeper")  # creates nothing
    assert not (tmp_path / "new").exists()
    assert is_ours(tiny_folder)  # a model folder liteformer saved
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"model": "m", "data": "d", "accuracy": 0.5}))
    assert is_ours(report) and not is_ours(tmp_path / "f.txt")


def test_unwritable_places_are_refused_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(LiteformerError, match="is a file, not a folder"):
        check_output(tmp_path / "file" / "out")
    with pytest.raises(LiteformerError, match="cannot write"):
        check_output("/proc/liteformer-out")


def test_replace_dir_replaces_a_file_without_leaving_it_aside(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("new")
    (tmp_path / "dst").write_text("old file")
    replace_dir(src, tmp_path / "dst")
    assert (tmp_path / "dst" / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst"]  # no .dst.old


def test_clean_stale_removes_only_temp_leftovers(tmp_path):
    for name in (".last.pt.abc.tmp", ".best.x.tmp", ".best.old", "last.pt", "keep.tmp"):
        (tmp_path / name).write_text("x")
    clean_stale(tmp_path, "last.pt")
    clean_stale(tmp_path, "best")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tmp", "last.pt"]


def test_overwrite_flag_and_own_outputs(tmp_path, tiny_folder):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    args = ["prune", str(tiny_folder), "--method", "magnitude", "--sparsity", "0.5"]
    r = run_cli(*args, "--out", str(user))
    assert r.returncode == 2 and "--overwrite" in r.stderr and (user / "notes.txt").read_text() == "keep"
    out = tmp_path / "pruned"
    assert run_cli(*args, "--out", str(out)).returncode == 0
    mtime = os.stat(out / "config.json").st_mtime_ns
    assert run_cli(*args, "--out", str(out)).returncode == 0  # its own output: replaced without asking
    assert os.stat(out / "config.json").st_mtime_ns != mtime
    assert run_cli(*args, "--out", str(user), "--overwrite").returncode == 0
    assert not (user / "notes.txt").exists() and (user / "config.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "pruned"]


def test_a_full_disk_while_saving_weights_is_one_line_and_leaves_nothing(tmp_path, tiny_folder, monkeypatch):
    from safetensors import SafetensorError

    from liteformer.models import checkpoint

    loaded = checkpoint.load_model(tiny_folder)

    def full(*a, **k):
        raise SafetensorError("No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(LiteformerError, match="cannot write the weights .No space left"):
        checkpoint.save_model(loaded.model, loaded.tokenizer, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
