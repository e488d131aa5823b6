"""The Examples sections of the uncertainty modules run as doctests."""

import doctest

import pytest

from propagate.uncertainty import propagation, quantity, textform


@pytest.mark.parametrize("module", [quantity, textform, propagation])
def test_module_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
