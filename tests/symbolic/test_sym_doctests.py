"""The Examples sections of the symbolic modules run as doctests."""

import doctest

import pytest

from propagate.symbolic import graph, parser


@pytest.mark.parametrize("module", [graph, parser], ids=lambda m: m.__name__)
def test_doctests_pass(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
