"""Type A evaluation of repeated readings against JCGM 100:2008, Annex H.2, Table H.2."""

from importlib import resources

import numpy as np
import pytest

from propagate.errors import DataError
from propagate.uncertainty import read_readings, type_a

READINGS = resources.files("propagate") / "data" / "gum_h2_readings.csv"


@pytest.fixture(scope="module")
def h2():
    return read_readings(READINGS)


def test_h2_means(h2):
    # Table H.2: V = 4.9990 V, I = 19.6610 mA, phi = 1.04446 rad.
    assert round(h2.means[0], 4) == 4.9990
    assert round(h2.means[1], 4) == 19.6610
    assert round(h2.means[2], 5) == 1.04446


def test_h2_std_of_means(h2):
    # Table H.2: s(V) = 0.0032 V, s(I) = 0.0095 mA, s(phi) = 0.00075 rad.
    assert round(h2.stds[0], 4) == 0.0032
    assert round(h2.stds[1], 4) == 0.0095
    assert round(h2.stds[2], 5) == 0.00075


def test_h2_correlations(h2):
    # Table H.2: r(V, I) = -0.36, r(V, phi) = 0.86, r(I, phi) = -0.65.
    r = h2.correlation
    assert round(r[0, 1], 2) == -0.36
    assert round(r[0, 2], 2) == 0.86
    assert round(r[1, 2], 2) == -0.65


def test_h2_dof(h2):
    assert h2.count == 5
    assert h2.dof == 4


def test_quantities_carry_dof(h2):
    quantities = h2.quantities()
    assert quantities["V"].dof == 4
    assert quantities["I"].std == h2.stds[1]


def test_covariance_of_means():
    # Two perfectly anti-correlated columns: s(x̄, ȳ) = -s(x̄) s(ȳ).
    result = type_a([[1.0, 2.0], [2.0, 0.0], [3.0, -2.0]], ("x", "y"))
    assert result.covariance[0, 1] == pytest.approx(-result.stds[0] * result.stds[1])
    assert result.stds[0] == pytest.approx(1.0 / np.sqrt(3))


def write(tmp_path, text):
    path = tmp_path / "readings.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("V,I\n5.0,19.6\n", "at least 2"),
        ("V,I\n5.0,abc\n5.1,19.7\n", "'abc' is not a finite number"),
        ("V,I\n5.0,19.6\n5.1\n", "row 3 has 1 cells"),
        ("V,V\n5.0,19.6\n5.1,19.7\n", "twice"),
        ("5.0,19.6\n5.1,19.7\n", "name the quantities"),
        ("", "empty file"),
        ("V,I\n5.0,nan\n5.1,19.7\n", "not a finite number"),
        ("V;I\n5.0;19.6\n5.1;19.7\n", "'V;I' is not a valid input name"),
        ("1V,I\n5.0,19.6\n5.1,19.7\n", "'1V' is not a valid input name"),
    ],
)
def test_bad_csv_rejected(tmp_path, text, fragment):
    with pytest.raises(DataError, match=fragment):
        read_readings(write(tmp_path, text))


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        read_readings(tmp_path / "absent.csv")


def test_quantities_t_distribution(h2):
    quantities = h2.quantities(distribution="t")
    assert quantities["phi"].distribution == "t"
    assert quantities["phi"].dof == 4


def test_byte_order_mark_dropped(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("V,I\n5.0,19.6\n5.1,19.7\n", encoding="utf-8-sig")
    assert read_readings(path).names == ("V", "I")


def test_not_utf8_rejected(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_bytes(b"V,I\n5.0,19.6\n\xff\n")
    with pytest.raises(DataError, match="invalid UTF-8"):
        read_readings(path)
