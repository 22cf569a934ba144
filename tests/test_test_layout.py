"""The test tree itself: pytest imports test files by basename (no __init__.py), so two files of the
same name in different folders stop the whole run at collection."""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_file_names_are_unique():
    names = Counter(path.name for path in Path(__file__).parent.rglob("test_*.py"))
    assert not [name for name, count in names.items() if count > 1]
