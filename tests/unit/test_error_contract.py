"""The stable error contract: README's list, the classes in errors.py and the output schema agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

from luma_download import errors

ROOT: Final = Path(__file__).resolve().parents[2]
ROW: Final = re.compile(r"^\| `(?P<name>\w+)` \| `(?P<code>\w+)` \| (?P<status>\d{3}) \|")


def readme_contract() -> dict[str, tuple[str, int]]:
    """The rows of README's "Error contract" table: class name to (code, HTTP status)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Error contract\n", 1)[1].split("\n#", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines() if line.startswith("| `")]
    assert all(rows), "a row of the table does not read `Class` | `code` | status"
    return {m["name"]: (m["code"], int(m["status"])) for m in rows if m}


def code_contract() -> dict[str, tuple[str, int]]:
    """Every class that derives from LumaDownloadError, with its code and status."""
    found: dict[str, tuple[str, int]] = {}
    todo = list(errors.LumaDownloadError.__subclasses__())
    while todo:
        cls = todo.pop()
        found[cls.__name__] = (cls.code, cls.status)
        todo += cls.__subclasses__()
    return found


def test_readme_lists_exactly_the_classes_in_errors_py() -> None:
    assert readme_contract() == code_contract()


def test_every_class_has_its_own_code() -> None:
    codes = [code for code, _ in code_contract().values()]
    assert len(codes) == len(set(codes))


def test_the_output_schema_pairs_each_code_with_its_class() -> None:
    schema = json.loads((ROOT / "docs" / "schemas" / "invoke-output.schema.json").read_text())
    variants = schema["$defs"]["error"]["oneOf"]
    pairs = {
        v["properties"]["type"]["const"]: v["properties"]["code"]["const"]
        for v in variants
        if "type" in v["properties"]
    }
    assert pairs == {name: code for name, (code, _) in code_contract().items()}
    # and a bug's entry: internal_error, with whatever class it was
    assert [v["properties"]["code"]["const"] for v in variants if "type" not in v["properties"]] == [
        "internal_error"
    ]


def test_the_readers_see_every_row_and_class() -> None:
    """Neither side of the comparison above is empty or cut short."""
    assert len(readme_contract()) == len(code_contract()) == 14
    assert readme_contract()["InvalidTaskIdError"] == ("invalid_task_id", 400)
