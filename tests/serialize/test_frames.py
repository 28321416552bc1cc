"""pandas objects round-trip exactly (values, dtypes, index, element types), and large string
columns are stored as one array region rather than millions of pickled strings (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from jlcache.serialize import strings
from jlcache.serialize.format import dump, load, read_header

pd = pytest.importorskip("pandas")

N = 3000  # above strings.MIN_SIZE, so string columns take the array encoding


class Tag(str):
    """A str subclass: must come back as itself, so it keeps the pickle path."""


def every_dtype_frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = np.array(["alpha", "b", "", "ünïcödé", "emoji 🙂", "tab\tin", "x" * 12], dtype=object)
    ascii_words = np.array([f"item-{i}" for i in range(n)], dtype=object)
    frame = pd.DataFrame({
        "f64": rng.random(n), "f32": rng.random(n).astype(np.float32),
        "f_nan": np.where(rng.random(n) < 0.1, np.nan, 1.5),
        "i64": rng.integers(-(10**12), 10**12, n), "u8": rng.integers(0, 255, n).astype(np.uint8),
        "bool": rng.random(n) < 0.5, "Int64": pd.array(np.where(rng.random(n) < 0.2, None, 7), "Int64"),
        "boolean": pd.array([True, None, False] * (n // 3), "boolean"),
        "complex": rng.random(n) + 1j * rng.random(n),
        "str_default": pd.Series(ascii_words).astype(str),
        "str_missing": pd.Series([None if i % 7 == 0 else f"s{i}" for i in range(n)], dtype="str"),
        "string_na": pd.array([None if i % 5 == 0 else f"t{i}" for i in range(n)], "string"),
        "obj_ascii": pd.Series(ascii_words, dtype=object),
        "obj_unicode": pd.Series(words[rng.integers(0, len(words), n)], dtype=object),
        "obj_mixed": pd.Series([None if i % 3 == 0 else str(i) for i in range(n)], dtype=object),
        "obj_bytes": pd.Series([b"b%d" % i for i in range(n)], dtype=object),
        "cat": pd.Categorical.from_codes(rng.integers(0, 4, n), ["w", "x", "y", "z"]),
        "cat_ordered": pd.Categorical(rng.choice(["lo", "hi"], n), ["lo", "hi"], ordered=True),
        "ts": pd.date_range("2020-01-01", periods=n, freq="s"),
        "ts_tz": pd.date_range("2020-01-01", periods=n, freq="h", tz="Europe/Paris"),
        "td": pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns"),
        "period": pd.period_range("2000-01", periods=n, freq="M"),
    })
    frame.index = pd.Index([f"row{i}" for i in range(n)], name="rows")
    return frame


def roundtrip(value: object, tmp_path, mmap_mode: str | None = None) -> object:
    path = tmp_path / "value.jlc"
    dump(value, path)
    return load(path, mmap_mode=mmap_mode)


def assert_exact(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True,
                                  check_column_type=True, check_frame_type=True,
                                  check_flags=True, check_freq=True, check_categorical=True)
    assert list(a.dtypes) == list(b.dtypes)
    for col in a.columns:  # element types too: str must not come back as bytes or np.str_
        if a[col].dtype == object:
            assert [type(x) for x in a[col]] == [type(x) for x in b[col]], col


@pytest.mark.parametrize("mmap_mode", [None, "r"])
def test_frame_with_every_dtype_round_trips_exactly(tmp_path, mmap_mode):
    frame = every_dtype_frame()
    back = roundtrip(frame, tmp_path, mmap_mode)
    assert type(back["obj_ascii"].to_numpy()) is np.ndarray  # strings are never memory-mapped
    assert all(type(x) is str for x in back["obj_ascii"])
    if mmap_mode:  # numeric blocks and codes are memmaps (as with joblib): the same contents
        assert list(frame.dtypes) == list(back.dtypes)
        assert frame.index.equals(back.index) and frame.index.name == back.index.name
        assert all(frame[c].equals(back[c]) for c in frame.columns)
    else:
        assert_exact(frame, back)


def test_multiindex_and_string_column_labels_round_trip(tmp_path):
    n = N
    idx = pd.MultiIndex.from_arrays([[f"k{i % 50}" for i in range(n)], np.arange(n)],
                                    names=["key", "pos"])
    frame = pd.DataFrame({"v": np.arange(n, dtype=float),
                          "s": pd.Series([f"v{i}" for i in range(n)], dtype=object).to_numpy()},
                         index=idx)
    assert_exact(frame, roundtrip(frame, tmp_path))
    series = pd.Series([f"name{i}" for i in range(n)], dtype=object, name="names")
    pd.testing.assert_series_equal(series, roundtrip(series, tmp_path), check_exact=True)


def test_large_string_column_is_stored_as_one_array_region(tmp_path):
    ascii_frame = pd.DataFrame({"s": pd.Series([f"item-{i}" for i in range(N)], dtype=object)})
    other = pd.DataFrame({"u": pd.Series(["ü" + str(i) for i in range(N)], dtype=object)})
    dump([ascii_frame, other], tmp_path / "v.jlc")
    kinds = [spec["dtype"][1] for spec in read_header(tmp_path / "v.jlc")["arrays"]]
    assert kinds == ["S", "U"]  # ASCII as bytes, the rest as UCS-4: no pickled strings
    a, b = load(tmp_path / "v.jlc")
    assert_exact(ascii_frame, a)
    assert_exact(other, b)


@pytest.mark.parametrize("values", [
    pytest.param(["a", None] * N, id="None"),
    pytest.param(["a", float("nan")] * N, id="NaN"),
    pytest.param(["a", Tag("t")] * N, id="str-subclass"),
    pytest.param(["a", "trailing\x00"] * N, id="NUL"),
    pytest.param(["a"] * N + ["x" * 10_000], id="one-long-outlier"),
    pytest.param(["a", b"b"] * N, id="bytes"),
])
def test_strings_that_a_fixed_width_array_would_change_keep_the_pickle_path(tmp_path, values):
    arr = np.array(values, dtype=object)
    assert strings.encode(arr) is None
    back = roundtrip(arr, tmp_path)
    assert back.dtype == object and len(back) == len(values)
    assert all(x == y or (x != x and y != y) for x, y in zip(back, values, strict=True))  # NaN
    assert [type(x) for x in back] == [type(x) for x in values]


def test_lone_surrogates_and_astral_characters_survive_the_array_encoding(tmp_path):
    values = ["\ud800x", "a\udfff", "🙂", "é", ""] * (N // 5)
    arr = np.array(values, dtype=object)
    assert strings.encode(arr) is not None
    back = roundtrip(arr, tmp_path)
    assert list(back) == values and all(type(x) is str for x in back)


@pytest.mark.parametrize("order", ["C", "F"])
def test_two_dimensional_string_arrays_keep_their_layout(tmp_path, order):
    arr = np.array([[f"r{i}c{j}" for j in range(3)] for i in range(N)], dtype=object, order=order)
    back = roundtrip(arr, tmp_path)
    assert back.dtype == object and back.shape == arr.shape
    assert back.flags.f_contiguous == arr.flags.f_contiguous
    assert back.flags.c_contiguous == arr.flags.c_contiguous
    assert (back == arr).all()


def test_non_contiguous_and_small_string_arrays_round_trip(tmp_path):
    arr = np.array([f"w{i}" for i in range(2 * N)], dtype=object)[::2]
    assert strings.encode(arr) is None
    assert list(roundtrip(arr, tmp_path)) == list(arr)
    small = np.array(["a", "b"], dtype=object)
    assert list(roundtrip(small, tmp_path)) == ["a", "b"]


def test_shared_string_column_stays_one_object(tmp_path):
    arr = np.array([f"w{i}" for i in range(N)], dtype=object)
    a, b = roundtrip([arr, arr], tmp_path)
    assert a is b
