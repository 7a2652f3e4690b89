"""Passphrases from a file descriptor: the first line, checked, the descriptor left open."""

from __future__ import annotations

import os

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from quietline.cli.passphrase import passphrase_from_fd, read_passphrase
from quietline.processes import passphrase_pipe


def _pipe_holding(data: bytes) -> int:
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    return read


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", codec="utf-8"),
        max_size=200,
    )
)
def test_the_first_line_of_the_descriptor_is_the_passphrase(passphrase: str) -> None:
    fd = _pipe_holding(passphrase.encode() + b"\nsecond line")
    try:
        assert passphrase_from_fd(fd) == passphrase
        os.fstat(fd)  # still open: the caller owns it
    finally:
        os.close(fd)


def test_a_pipe_from_the_process_helpers_carries_it() -> None:
    with passphrase_pipe("correct horse") as fd:
        assert read_passphrase("Vault passphrase", confirm=True, fd=fd) == "correct horse"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\xff\xfe\n", "is not UTF-8 text"),
        (b"x" * 5000, "longer than 4096 bytes"),
    ],
)
def test_bad_passphrases_are_clear_errors(
    data: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fd = _pipe_holding(data)
    try:
        with pytest.raises(typer.Exit):
            passphrase_from_fd(fd)
    finally:
        os.close(fd)
    assert said in capsys.readouterr().err


def test_an_empty_passphrase_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with passphrase_pipe("") as fd, pytest.raises(typer.Exit):
        read_passphrase("Vault passphrase", confirm=False, fd=fd)
    assert "the passphrase is empty" in capsys.readouterr().err


def test_a_closed_descriptor_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    with pytest.raises(typer.Exit):
        passphrase_from_fd(read)
    assert f"cannot read the passphrase from file descriptor {read}" in capsys.readouterr().err
