"""Third-party output is hidden unless verbose; a failing block shows its tail."""

import os

import pytest

from liteformer.quiet import quiet


def test_quiet_hides_fd_level_output_and_shows_it_on_failure(capfd, monkeypatch):
    monkeypatch.delenv("LITEFORMER_VERBOSE", raising=False)
    with quiet():
        os.write(1, b"converter progress 1/100\n")
        os.write(2, b"W1202 a library's warning\n")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    with pytest.raises(RuntimeError), quiet():
        os.write(2, b"the converter's last words\n")
        raise RuntimeError("boom")
    out, err = capfd.readouterr()
    assert "the converter's last words" in err and out == ""


def test_verbose_lets_everything_through(capfd, monkeypatch):
    monkeypatch.setenv("LITEFORMER_VERBOSE", "1")
    with quiet():
        os.write(1, b"shown\n")
    assert capfd.readouterr().out == "shown\n"
