"""The log digest (logs/digest.py) as a table of inputs, and `logs --digest` on real tmux."""

from __future__ import annotations

import pytest
from harness import Project, project, wait_until

from taskmux.logs.digest import (
    CHARS_PER_TOKEN,
    Digest,
    Line,
    digest,
    estimate_tokens,
    find_blocks,
    shape,
    visible,
)

__all__ = ["project"]

TRACEBACK = [
    "ERROR:app:request failed",
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 12, in handler',
    "    result = compute(x)",
    '  File "/app/lib.py", line 40, in compute',
    "    return 1 / x",
    "ZeroDivisionError: division by zero",
]


def lines(texts: list[str], task: str = "web") -> list[Line]:
    return [Line(task, f"2024-01-01T00:00:{i % 60:02d}.000Z", t) for i, t in enumerate(texts)]


def shown(result: Digest, section: str) -> list[str]:
    return [e.text for e in result.entries if e.section == section and not e.omitted]


def noise(count: int, start: int = 0) -> list[str]:
    return [
        f"12:00:{i % 60:02d} GET /api/items/{i} 200 {i % 97}ms id=a{i:07x}f"
        for i in range(start, start + count)
    ]


@pytest.mark.parametrize(
    ("written", "seen"),
    [
        ("plain text", "plain text"),
        ("\x1b[32mgreen\x1b[0m and \x1b]0;title\x07plain", "green and plain"),
        ("Progress 10%\rProgress 50%\rProgress 100%", "Progress 100%"),
        ("long line 1234\rshort", "shortline 1234"),  # \r overwrites, it does not erase
        ("long line 1234\r\x1b[2Kshort", "short"),  # unless the line is erased
        ("50%\x1b[1G100%\r\n", "100%"),
        ("tab\tkept\x07", "tab\tkept"),
    ],
)
def test_a_line_is_shown_as_a_terminal_would(written: str, seen: str) -> None:
    assert visible(written) == seen


@pytest.mark.parametrize(
    ("one", "other", "alike"),
    [
        ("GET /items/17 200 3ms", "GET /items/4242 200 118ms", True),
        ("2024-01-01T10:00:00.123Z tick", "2025-12-31T23:59:59Z tick", True),
        ("req 3fa9c2e1 done", "req 9bc1d07a done", True),
        ("job 0x7ffe12 ran", "job 0xdeadbeef ran", True),
        (
            "id 123e4567-e89b-12d3-a456-426614174000",
            "id 9e107d9d-372b-4e6b-8f1e-3e9d2b1a0c55",
            True,
        ),
        ("GET /items 200", "POST /items 200", False),
        ("worker ready", "worker stopped", False),
    ],
)
def test_lines_that_differ_in_numbers_ids_or_times_share_a_shape(
    one: str, other: str, alike: bool
) -> None:
    assert (shape(one) == shape(other)) is alike


@pytest.mark.parametrize(
    ("texts", "blocks"),
    [
        (["a", "b", "c", *TRACEBACK, "d", "e", "f"], [(1, 12)]),  # 2 lines around it
        (
            ["ok", "Error: boom", "    at f (a.js:1:2)", "    at g (b.js:3:4)", "x", "y", "z"],
            [(0, 6)],
        ),
        (["0 errors, 0 warnings", "no errors found", "error_handler loaded"], []),
        (["a", "b", "c", "d", "process exited with code 1"], [(2, 5)]),
        (["a", "exit code 0", "FATAL: disk full", "panic: nil map", "b", "c", "d"], [(0, 6)]),
        (
            ["TypeError: x is undefined", "a", "b", "c", "d", "e", "npm ERR! code 1"],
            [(0, 3), (4, 7)],
        ),
    ],
)
def test_error_blocks_with_their_context(texts: list[str], blocks: list[tuple[int, int]]) -> None:
    assert find_blocks(texts) == blocks


def test_a_chained_traceback_is_one_block() -> None:
    chained = [
        *TRACEBACK[1:],
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 14, in handler',
        "KeyError: 'x'",
        "after",
        "x",
        "y",
    ]
    assert find_blocks(chained) == [(0, len(chained) - 1)]


def test_a_traceback_in_the_middle_of_noise_is_kept_whole_and_first() -> None:
    texts = noise(20_000) + TRACEBACK + noise(20_000, 20_000)
    result = digest(lines(texts))
    errors = shown(result, "errors")
    assert errors[1:-1] == TRACEBACK  # whole, in its context (two lines alike: one each)
    assert result.entries[0].section == "errors" and result.entries[0].count == 2
    assert result.tokens <= 2000 and result.error_blocks == 1
    newest = [e for e in result.entries if e.section == "newest"]
    assert newest[-1].count == 40_000 - 4  # noise but the context lines, as one line
    assert result.lines_in == len(texts) and result.lines_out == len(result.entries)
    assert result.collapsed == (40_000 - 4 - 1) + 1 + 1  # newest, and each context pair
    assert result.left_out == 0 and not result.truncated


def test_repeats_count_consecutive_and_scattered_lines() -> None:
    texts = ["start", "tick 1", "tick 2", "tick 3", "beat", "tick 4", "beat", "", ""]
    result = digest(lines(texts))
    assert [(e.text, e.count) for e in result.entries] == [
        ("start", 1),
        ("tick 4", 4),
        ("beat", 2),
    ]
    assert "tick 4  [x4]" in result.text().splitlines()
    assert result.left_out == 2  # the blank lines


def test_the_same_error_again_is_one_block_with_counts() -> None:
    texts = [
        "a",
        "b",
        "c",
        "Error: timeout after 30s",
        "d",
        "e",
        "f",
        "g",
        "h",
        "Error: timeout after 31s",
        "i",
        "j",
        "k",
    ]
    result = digest(lines(texts))
    assert result.error_blocks == 1
    errors = [e for e in result.entries if e.section == "errors"]
    assert errors[2].text == "Error: timeout after 31s" and errors[2].count == 2


@pytest.mark.parametrize("max_tokens", [100, 300, 2000])
def test_the_digest_stays_within_the_budget(max_tokens: int) -> None:
    texts = [f"line {i} says {'x' * (i % 50)} {chr(65 + i % 26) * 3}" for i in range(3000)]
    texts += [f"{chr(65 + i % 26)}Error: failure number {i}" + "!" * (i % 7) for i in range(40)]
    result = digest(lines(texts), max_tokens)
    assert result.tokens <= max_tokens
    assert estimate_tokens(result.text()) == -(-len(result.text()) // CHARS_PER_TOKEN)
    assert result.truncated and shown(result, "newest")
    assert shown(result, "newest")[-1] == texts[2997]  # the newest not in an error block


def test_a_block_bigger_than_the_budget_keeps_its_head_and_tail() -> None:
    frames = [f'  File "/app/m{i}.py", line {i}, in f{i}\n    call_{i}()' for i in range(400)]
    big = [
        "Traceback (most recent call last):",
        *"\n".join(frames).split("\n"),
        "RecursionError: deep",
    ]
    result = digest(lines(["before", *big, "after"]), 500)
    errors = [e for e in result.entries if e.section == "errors"]
    marks = [e for e in errors if e.omitted]
    assert len(marks) == 1 and marks[0].omitted > 0
    assert errors[1].text == big[0] and errors[-2].text == "RecursionError: deep"
    assert "(cut to fit)" in result.text() and result.truncated
    assert result.tokens <= 500


def test_several_tasks_are_prefixed_and_blocks_found_per_task() -> None:
    mixed = [
        Line("api", "", "Traceback (most recent call last):"),
        Line("web", "", "compiled"),
        Line("api", "", '  File "a.py", line 1, in f'),
        Line("web", "", "compiled"),
        Line("api", "", "ValueError: bad"),
    ]
    result = digest(mixed)
    assert shown(result, "errors") == [mixed[0].text, mixed[2].text, mixed[4].text]
    assert "web | compiled  [x2]" in result.text()
    data = result.to_dict()
    assert data["digest"][0] == {
        "section": "errors",
        "task": "api",
        "ts": "",
        "line": "Traceback (most recent call last):",
    }
    assert {"lines_in", "lines_out", "collapsed", "truncated"} <= set(data)


def test_nothing_to_digest() -> None:
    result = digest([])
    assert result.entries == () and result.text() == "## newest lines (repeats counted)"
    assert not result.truncated and result.lines_in == 0


# The CLI, on real tmux -----------------------------------------------------------------


def test_logs_digest_on_the_command_line(project: Project) -> None:
    project.write(
        """
        [tasks.app]
        command = "for i in $(seq 1 300); do echo \\"GET /x/$i 200\\"; done; echo 'Traceback (most recent call last):'; echo '  File \\"m.py\\", line 1'; echo 'ValueError: bad'; echo done; sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    wait_until(lambda: "done" in project.run("logs", "app", "-n", "1").stdout)
    text = project.run("logs", "app", "--digest").stdout
    assert text.splitlines()[:4] == [
        "## errors: 1 of 1 block",
        "GET /x/300 200  [x2]",  # the context before it: two lines alike
        "Traceback (most recent call last):",
        '  File "m.py", line 1',
    ]
    assert "GET /x/298 200  [x298]" in text.splitlines()
    data = project.json("logs", "app", "--digest", "--max-tokens", "500")
    assert data["ok"] is True and data["lines_in"] == 304 and data["truncated"] is False
    assert data["digest"][3]["line"] == "ValueError: bad" and data["next_cursor"]
    assert data["collapsed"] == 304 - data["lines_out"]
    again = project.json("logs", "app", "--digest", "--after", data["next_cursor"])
    assert again["lines_in"] == 0 and again["digest"] == []
    refused = project.run("logs", "app", "--digest", "-f")
    assert refused.returncode != 0 and "cannot --follow" in refused.stderr
