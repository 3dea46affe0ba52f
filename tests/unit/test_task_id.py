from __future__ import annotations

import pytest

from luma_download.errors import InvalidTaskIdError
from luma_download.task_id import validate_task_id


@pytest.mark.parametrize(
    "task_id", ["1fa17995-f527-46a5-9796-294b453b8a7f", "a", "Z9", "2313123123123", "abc_DEF-123", "x" * 128]
)
def test_ids_in_the_pattern_pass_unchanged(task_id: str) -> None:
    assert validate_task_id(task_id) == task_id


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "-abc",
        "_abc",
        "x" * 129,
        "abc\n",  # a trailing newline slips past a `$` anchor, not past fullmatch
        "abc\r\nLocation: evil",
        "a b",
        "a/b",
        "../etc",
        "a%2Fb",
        "a.b",
        "caf\u00e9",
        "\u0661\u0662\u0663",  # Arabic-Indic digits are \d in Unicode mode
        "abc\x00",
    ],
)
def test_ids_outside_the_pattern_are_refused(task_id: str) -> None:
    with pytest.raises(InvalidTaskIdError):
        validate_task_id(task_id)


@pytest.mark.parametrize("value", [None, 123, ["abc"], b"abc"])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidTaskIdError):
        validate_task_id(value)
