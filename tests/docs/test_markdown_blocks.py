"""The rules that pick and compare the code blocks of the docs."""

from __future__ import annotations

import pytest
from markdown_blocks import line_matches, match_lines, read_blocks, read_commands

PAGE = """# Title

```python
print(1)
```

```text
1
```

<!-- no-test -->
```console
$ propagate demo
```

```console
$ propagate grad "x^2"
f = x**2
...
$ propagate check
passed ...
```

```text
stand-alone text
```
"""


@pytest.fixture
def blocks(tmp_path):
    path = tmp_path / "page.md"
    path.write_text(PAGE, encoding="utf-8")
    return read_blocks(path)


def test_blocks_text_after_python_is_output(blocks):
    assert blocks[0].language == "python"
    assert blocks[0].expected == "1"


def test_blocks_marker_skips_next_block(blocks):
    assert [block.skipped for block in blocks] == [False, True, False, False]


def test_blocks_standalone_text_kept(blocks):
    assert blocks[-1].language == "text"
    assert blocks[-1].expected is None


def test_commands_with_expected_output(blocks):
    commands = read_commands(blocks[2])
    assert [command.text for command in commands] == ['propagate grad "x^2"', "propagate check"]
    assert commands[0].expected == ["f = x**2", "..."]
    assert commands[1].expected == ["passed ..."]


def test_unclosed_fence_rejected(tmp_path):
    path = tmp_path / "broken.md"
    path.write_text("```python\nprint(1)\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not closed"):
        read_blocks(path)


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["a", "c"], False),
        (["a"], ["a", "b"], False),
        (["a", "..."], ["a", "b", "c"], True),
        (["...", "c"], ["a", "b", "c"], True),
        (["a", "...", "c"], ["a", "c"], True),
        (["a", "...", "d"], ["a", "b", "c"], False),
        (["a  "], ["a"], True),
        ([], [], True),
    ],
)
def test_match_lines_cases(expected, actual, matches):
    assert match_lines(expected, actual) is matches


def test_line_prefix_mark():
    assert line_matches("passed ...", "passed (worst 0.bias[4])")
    assert not line_matches("passed ...", "FAILED: 0.bias")
    assert not line_matches("passed", "passed (worst 0.bias[4])")
