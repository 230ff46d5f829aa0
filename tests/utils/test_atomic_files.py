"""sam2.utils.atomic_files.atomic_output: the one atomic writer of outputs."""
from __future__ import annotations

import pytest

from sam2.utils.atomic_files import atomic_output


def test_success_replaces_the_target_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "overlay.gif"
    with atomic_output(target) as tmp:
        assert tmp.endswith(".gif") and not target.exists()
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["overlay.gif"]


def test_failure_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "table.md"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]
