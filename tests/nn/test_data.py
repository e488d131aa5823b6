"""Data loading, CSV errors, seeded splits and batches, and standardisation."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import propagate
from propagate.errors import DataError
from propagate.nn.data import (
    Standardizer,
    batch_count,
    iterate_batches,
    load_csv,
    load_digits,
    train_test_split,
)

DIGITS_GZ = Path(propagate.__file__).parent / "data" / "digits.csv.gz"


def raw_digits_lines():
    with gzip.open(DIGITS_GZ, "rt") as handle:
        return [line.strip().split(",") for line in handle if line.strip()]


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- digits ---------------------------------------------------------------------------------


def test_digits_shape():
    x, y = load_digits()
    assert x.shape == (1797, 64)
    assert y.shape == (1797,)


def test_digits_dtypes():
    x32, y = load_digits()
    x64, _ = load_digits(np.float64)
    assert x32.dtype == np.float32
    assert x64.dtype == np.float64
    assert y.dtype == np.int64


def test_digits_classes_and_range():
    x, y = load_digits()
    assert set(np.unique(y)) == set(range(10))
    assert x.min() == 0.0
    assert x.max() == 16.0


def test_digits_pixels_match_raw_file():
    lines = raw_digits_lines()
    x, y = load_digits(np.float64)
    assert len(lines) == len(x)
    for row in (0, 1, 900, 1796):
        assert x[row].tolist() == [float(v) for v in lines[row][:64]]
        assert y[row] == int(lines[row][64])


def test_digits_rejects_int_dtype():
    with pytest.raises(DataError, match="float32 or float64"):
        load_digits(np.int32)


def test_digits_copy_is_writable():
    x, _ = load_digits()
    x[0, 0] = 99.0
    again, _ = load_digits()
    assert again[0, 0] == 0.0


# --- CSV ------------------------------------------------------------------------------------


def test_csv_string_labels(tmp_path):
    path = write(tmp_path, "a,b,kind\n1,2,dog\n3,4,cat\n5,6,dog\n")
    table = load_csv(path, target="kind")
    assert table.task == "classification"
    assert table.class_names == ["cat", "dog"]
    assert table.y.tolist() == [1, 0, 1]
    assert table.x.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert table.feature_names == ["a", "b"]


def test_csv_integer_classes(tmp_path):
    path = write(tmp_path, "a,label\n1,3\n2,7\n3,3\n")
    table = load_csv(path, target="label")
    assert table.task == "classification"
    assert table.class_names == ["3", "7"]
    assert table.y.tolist() == [0, 1, 0]


def test_csv_regression_target(tmp_path):
    path = write(tmp_path, "a,price\n1,2.5\n2,3.25\n3,-1e3\n")
    table = load_csv(path, target="price")
    assert table.task == "regression"
    assert table.class_names is None
    assert table.y.tolist() == [2.5, 3.25, -1000.0]


def test_csv_forced_regression(tmp_path):
    path = write(tmp_path, "a,count\n1,2\n2,3\n3,2\n")
    table = load_csv(path, target="count", task="regression")
    assert table.task == "regression"
    assert table.y.dtype == np.float64


def test_csv_target_column_anywhere(tmp_path):
    path = write(tmp_path, "y,a,b\n0,1.5,2\n1,3,4.5\n")
    table = load_csv(path, target="y", dtype=np.float32)
    assert table.x.dtype == np.float32
    assert table.x.tolist() == [[1.5, 2.0], [3.0, 4.5]]


def test_csv_selected_features(tmp_path):
    path = write(tmp_path, "a,b,c,y\n1,2,3,0\n4,5,6,1\n")
    table = load_csv(path, target="y", features=["c", "a"])
    assert table.x.tolist() == [[3, 1], [6, 4]]


def test_csv_missing_target_column(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"no column named 'label'.*columns are a, b") as info:
        load_csv(path, target="label")
    assert str(path) in str(info.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "absent.csv", target="y")


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError) as info:
        load_csv(path, target="y")
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message
    assert "'b'" in message
    assert "'oops'" in message


def test_csv_nan_cell(tmp_path):
    path = write(tmp_path, "a,y\n1,0\nnan,1\n2,0\n")
    with pytest.raises(DataError, match=r"line 3, column 'a'.*not a finite number"):
        load_csv(path, target="y")


def test_csv_nan_target(tmp_path):
    path = write(tmp_path, "a,y\n1,0.5\n2,nan\n3,1.5\n")
    with pytest.raises(DataError, match=r"line 3, column 'y'"):
        load_csv(path, target="y")


def test_csv_empty_cell(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n,1\n")
    with pytest.raises(DataError, match=r"line 3, column 'a': empty cell"):
        load_csv(path, target="y")


def test_csv_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(DataError, match="is empty"):
        load_csv(path, target="y")


def test_csv_header_only(tmp_path):
    path = write(tmp_path, "a,y\n")
    with pytest.raises(DataError, match="0 data row"):
        load_csv(path, target="y")


def test_csv_single_row(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n")
    with pytest.raises(DataError, match="1 data row"):
        load_csv(path, target="y")


def test_csv_ragged_row(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n3,1\n")
    with pytest.raises(DataError, match=r"line 3: 2 cells, but the header has 3"):
        load_csv(path, target="y")


def test_csv_single_class(tmp_path):
    path = write(tmp_path, "a,y\n1,cat\n2,cat\n")
    with pytest.raises(DataError, match="single class"):
        load_csv(path, target="y")


def test_csv_text_target_for_regression(tmp_path):
    path = write(tmp_path, "a,y\n1,2.5\n2,big\n")
    with pytest.raises(DataError, match=r"line 3.*'big' is not a number"):
        load_csv(path, target="y", task="regression")


def test_csv_unknown_task(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,1\n")
    with pytest.raises(DataError, match="task must be one of"):
        load_csv(path, target="y", task="ranking")


def test_csv_blank_lines_keep_numbers(tmp_path):
    path = write(tmp_path, "a,y\n\n1,0\n\nx,1\n")
    with pytest.raises(DataError, match="line 5"):
        load_csv(path, target="y")


def test_csv_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("y,a\n0,1\n1,2\n", encoding="utf-8-sig")
    table = load_csv(path, target="y")
    assert table.target == "y"
    assert table.x.tolist() == [[1.0], [2.0]]


def test_csv_semicolon_delimiter(tmp_path):
    path = write(tmp_path, "a;b;y\n1;2.5;0\n3;4;1\n")
    table = load_csv(path, target="y")
    assert table.feature_names == ["a", "b"]
    assert table.x.tolist() == [[1.0, 2.5], [3.0, 4.0]]


def test_csv_tab_delimiter(tmp_path):
    path = write(tmp_path, "a\tb\ty\n1\t2\t0\n3\t4\t1\n")
    table = load_csv(path, target="y")
    assert table.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_csv_decimal_comma_hint(tmp_path):
    path = write(tmp_path, "a;y\n1,5;0\n2,5;1\n")
    with pytest.raises(DataError, match=r"line 2, column 'a'.*decimals with a point"):
        load_csv(path, target="y")


def test_csv_spaces_around_cells(tmp_path):
    path = write(tmp_path, " a , y \n 1 , cat \n 2 , dog \n")
    table = load_csv(path, target="y")
    assert table.feature_names == ["a"]
    assert table.class_names == ["cat", "dog"]


def test_csv_duplicate_column_name(tmp_path):
    path = write(tmp_path, "a,a,y\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match="names column 'a' more than once"):
        load_csv(path, target="y")


def test_csv_trailing_delimiter(tmp_path):
    path = write(tmp_path, "a,y,\n1,0,\n2,1,\n")
    table = load_csv(path, target="y")
    assert table.feature_names == ["a"]
    assert table.x.tolist() == [[1.0], [2.0]]


def test_csv_unnamed_column_with_data(tmp_path):
    path = write(tmp_path, "a,,y\n1,5,0\n2,6,1\n")
    with pytest.raises(DataError, match="column 2 of the header has no name"):
        load_csv(path, target="y")


def test_csv_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_csv(tmp_path, target="y")


def test_csv_constant_column_kept(tmp_path):
    path = write(tmp_path, "a,c,y\n1,5,0\n2,5,1\n3,5,0\n")
    table = load_csv(path, target="y")
    assert table.x[:, 1].tolist() == [5.0, 5.0, 5.0]


def test_csv_rejects_digit_separator(tmp_path):
    path = write(tmp_path, "a,y\n1_000,0\n2,1\n")
    with pytest.raises(DataError, match=r"line 2, column 'a': '1_000' is not a number") as info:
        load_csv(path, target="y")
    assert "feature columns must be numeric" in str(info.value)


CSV_PIECES = [*',;\t\n\r" aby01.-+eE', "nan", "inf", "\ufeff", "é", "1e999", "0x1", "1_0"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(st.sampled_from(CSV_PIECES), max_size=60).map("".join),
    task=st.sampled_from(["auto", "classification", "regression"]),
)
def test_csv_random_text_raises_only_data_error(tmp_path, text, task):
    path = tmp_path / "random.csv"
    path.write_bytes(text.encode("utf-8"))
    try:
        table = load_csv(path, target="y", task=task)
    except DataError:
        return
    assert len(table.x) == len(table.y) >= 2
    assert table.x.shape[1] >= 1
    assert np.all(np.isfinite(table.x))


# --- split ----------------------------------------------------------------------------------


def test_split_is_seeded():
    x = np.arange(100.0).reshape(50, 2)
    y = np.arange(50) % 5
    first = train_test_split(x, y, 0.2, seed=3)
    second = train_test_split(x, y, 0.2, seed=3)
    other = train_test_split(x, y, 0.2, seed=4)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_split_partitions_samples():
    x = np.arange(50.0).reshape(50, 1)
    y = np.arange(50)
    x_train, x_test, y_train, y_test = train_test_split(x, y, 0.3, seed=0)
    assert len(x_test) == 15
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(50))
    assert np.array_equal(x_train[:, 0], y_train.astype(float))
    assert np.array_equal(x_test[:, 0], y_test.astype(float))


def test_split_stratified_shares():
    x, y = load_digits()
    _, _, y_train, y_test = train_test_split(x, y, 0.2, seed=0, stratify=True)
    assert len(y_test) == round(0.2 * len(y))
    for label in range(10):
        total = np.sum(y == label)
        assert abs(np.sum(y_test == label) - 0.2 * total) < 1
        assert np.sum(y_train == label) == total - np.sum(y_test == label)


def test_split_stratified_small_classes():
    # Ten classes of two samples: 20% of 20 is 4 test samples, each from a different class.
    y = np.repeat(np.arange(10), 2)
    x = y[:, None].astype(float)
    _, _, y_train, y_test = train_test_split(x, y, 0.2, seed=0, stratify=True)
    assert len(y_test) == 4
    assert len(np.unique(y_test)) == 4
    assert sorted(np.unique(y_train).tolist()) == list(range(10))


def test_split_stratified_keeps_training_sample():
    # Class 2 has one sample, so the leftover test sample goes to a class with two.
    y = np.array([0, 0, 1, 1, 2])
    x = y[:, None].astype(float)
    _, _, y_train, y_test = train_test_split(x, y, 0.2, seed=0, stratify=True)
    assert len(y_test) == 1
    assert 2 in y_train


def test_split_rejects_bad_fraction():
    x = np.zeros((10, 1))
    y = np.zeros(10)
    for fraction in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(DataError, match="test_fraction"):
            train_test_split(x, y, fraction)


def test_split_rejects_empty_side():
    x = np.zeros((2, 1))
    y = np.zeros(2)
    with pytest.raises(DataError, match="both need at least one"):
        train_test_split(x, y, 0.1)


def test_split_length_mismatch():
    with pytest.raises(DataError, match="x has 3 samples but y has 2"):
        train_test_split(np.zeros((3, 1)), np.zeros(2))


# --- batches --------------------------------------------------------------------------------


def test_batches_cover_each_index_once():
    x = np.arange(103)
    y = np.arange(103) * 10
    rng = np.random.default_rng(0)
    for _ in range(3):
        seen = []
        for xb, yb in iterate_batches(x, y, 16, rng):
            assert np.array_equal(yb, xb * 10)
            seen.extend(xb.tolist())
        assert sorted(seen) == list(range(103))


def test_batches_sizes():
    x = np.arange(103)
    sizes = [len(xb) for xb, _ in iterate_batches(x, x, 16, np.random.default_rng(0))]
    assert sizes == [16] * 6 + [7]
    assert batch_count(103, 16) == 7


def test_batches_drop_last():
    x = np.arange(103)
    batches = list(iterate_batches(x, x, 16, np.random.default_rng(0), drop_last=True))
    assert [len(xb) for xb, _ in batches] == [16] * 6
    assert batch_count(103, 16, drop_last=True) == 6


def test_batches_seeded_order():
    x = np.arange(40)
    first = [xb for xb, _ in iterate_batches(x, x, 8, np.random.default_rng(5))]
    second = [xb for xb, _ in iterate_batches(x, x, 8, np.random.default_rng(5))]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(np.concatenate(first), x)


def test_batches_unshuffled_order():
    x = np.arange(10)
    batches = [xb.tolist() for xb, _ in iterate_batches(x, x, 4, shuffle=False)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batches_reject_bad_size():
    x = np.arange(10)
    for size in (0, -1, 2.5, True):
        with pytest.raises(DataError, match="batch_size"):
            list(iterate_batches(x, x, size, np.random.default_rng(0)))


def test_batches_shuffle_needs_rng():
    x = np.arange(10)
    with pytest.raises(DataError, match="needs rng"):
        list(iterate_batches(x, x, 4))


# --- standardiser ---------------------------------------------------------------------------


def test_standardizer_math():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    scaler = Standardizer().fit(x)
    # Column 0: mean 3, population std sqrt(8/3). Column 1 is constant.
    assert np.allclose(scaler.mean, [3.0, 10.0])
    assert np.allclose(scaler.scale, [np.sqrt(8.0 / 3.0), 1.0])
    z = scaler.transform(x)
    assert np.allclose(z[:, 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8.0 / 3.0))
    assert np.array_equal(z[:, 1], [0.0, 0.0, 0.0])


def test_standardizer_unit_variance():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 3.0, size=(200, 4))
    z = Standardizer().fit_transform(x)
    assert np.allclose(z.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(z.std(axis=0), 1.0)


def test_standardizer_uses_training_statistics():
    scaler = Standardizer().fit(np.array([[0.0], [2.0]]))
    assert np.allclose(scaler.transform(np.array([[4.0]])), [[3.0]])


def test_standardizer_keeps_float32():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    z = Standardizer().fit_transform(x)
    assert z.dtype == np.float32


def test_standardizer_inverse():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 3)) * [1.0, 100.0, 0.01]
    scaler = Standardizer().fit(x)
    assert np.allclose(scaler.inverse_transform(scaler.transform(x)), x)


def test_standardizer_state_roundtrip():
    x = np.random.default_rng(3).normal(size=(30, 2))
    scaler = Standardizer().fit(x)
    restored = Standardizer().load_state_dict(scaler.state_dict())
    assert np.array_equal(restored.transform(x), scaler.transform(x))


def test_standardizer_unfitted():
    with pytest.raises(DataError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))


def test_standardizer_column_mismatch():
    scaler = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(DataError, match="fitted on 2 columns"):
        scaler.transform(np.zeros((3, 5)))


def test_standardizer_rejects_nan():
    with pytest.raises(DataError, match="NaN"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))


def test_standardizer_single_sample_hint():
    scaler = Standardizer().fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(DataError, match=r"shape \(n_samples, 2\), e\.g\. x\[None, :\]"):
        scaler.transform(np.array([1.0, 2.0]))
