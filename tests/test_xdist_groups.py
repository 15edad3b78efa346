"""The test scheduler's groups, read from the test files (tests/xdist_groups.py)."""

from __future__ import annotations

from pathlib import Path

from xdist_groups import declared_groups, group_of


def test_a_module_mark_groups_the_module_and_a_decorator_its_function(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "sub").mkdir(parents=True)
    (tests / "test_whole.py").write_text(
        'import pytest\npytestmark = pytest.mark.xdist_group("mcp")  # why\n\ndef test_a(): ...\n'
    )
    (tests / "sub" / "test_one.py").write_text(
        "import pytest\n\ndef test_free(): ...\n\n"
        '@pytest.mark.xdist_group(name="db")\n@pytest.mark.parametrize("x", [1])\n'
        "def test_bound(x): ...\n\ndef test_bound_too(): ...\n"
    )
    (tests / "test_none.py").write_text("def test_c(): ...\n")
    groups = declared_groups(tests, tmp_path)
    assert groups == {"tests/sub/test_one.py::test_bound": "db", "tests/test_whole.py::": "mcp"}
    assert group_of("tests/test_whole.py::test_a", groups) == "mcp"
    assert group_of("tests/sub/test_one.py::test_bound[1]", groups) == "db"
    assert group_of("tests/sub/test_one.py::test_bound_too", groups) is None
    assert group_of("tests/sub/test_one.py::test_free", groups) is None
    assert group_of("tests/test_none.py::test_c", groups) is None


def test_the_suites_mcp_tests_are_one_group() -> None:
    here = Path(__file__).parent
    groups = declared_groups(here, here.parent)
    assert group_of("tests/mcp/test_mcp.py::test_tools_against_real_tmux", groups) == "mcp"
    assert set(groups.values()) == {"mcp"}
