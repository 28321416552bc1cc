"""One file per value: round trips, memory-mapping semantics, compression, validation, atomicity."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickle
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from jlcache.errors import CacheWarning, CorruptEntryError, UnpicklableValueError
from jlcache.serialize import arrays as _arrays
from jlcache.serialize import format as serialize
from jlcache.serialize import reader as _reader
from jlcache.serialize.format import (
    dump,
    load,
    normalize_compress,
    read_header,
    read_meta,
    write_value,
)


@dataclasses.dataclass
class Box:
    name: str
    data: object


def assert_same(a: object, b: object) -> None:
    """Deep equality that also checks array dtype, shape and contents."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert type(a) is type(b) and a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, Box):
        assert isinstance(b, Box) and a.name == b.name
        assert_same(a.data, b.data)
    else:
        assert a == b


def _values() -> dict[str, object]:
    rng = np.random.default_rng(0)
    big = rng.random((300, 200))
    return {
        "none": None,
        "int": 3,
        "str": "héllo",
        "bytes": b"\x00\x01" * 100,
        "nested": {"a": [np.arange(5), (np.ones(3), {"deep": np.zeros((2, 2))})], "b": 1.5},
        "fortran": np.asfortranarray(big),
        "non_contiguous": big[::3, ::2],
        "zero_dim": np.array(7.5),
        "empty": np.empty((0, 3)),
        "structured": np.array([(1, 2.5, b"ab"), (3, 4.5, b"cd")],
                               dtype=[("i", "<i4"), ("f", "<f8"), ("s", "S2")]),
        "padded_struct": np.zeros(4, dtype=np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"],
                                                     "offsets": [0, 8], "itemsize": 24})),
        "datetime": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[ns]"),
        "big_endian": np.arange(10, dtype=">i4"),
        "complex": np.arange(6, dtype=np.complex128).reshape(2, 3),
        "bool": np.array([True, False, True]),
        "unicode": np.array(["a", "bcd"]),
        "object_array": np.array([1, "two", None, [3]], dtype=object),
        "dataclass": Box("b", np.arange(4)),
        "big_array": rng.random(50_000),  # > 64 KiB: the large-file read path
    }


VALUES = _values()


@pytest.mark.parametrize("mmap_mode", [None, "r", "c"])
@pytest.mark.parametrize("name", list(VALUES))
def test_round_trip(tmp_path: Path, name: str, mmap_mode: str | None) -> None:
    path = tmp_path / "v.jlc"
    assert dump(VALUES[name], path) == [str(path)]
    assert_same(VALUES[name], load(path, mmap_mode=mmap_mode))


def test_arrays_are_stored_raw_and_aligned(tmp_path: Path) -> None:
    value = {"x": np.arange(100_000, dtype=np.float64), "y": [np.ones((3, 3))]}
    dump(value, tmp_path / "v.jlc")
    header = read_header(tmp_path / "v.jlc")
    assert [a["shape"] for a in header["arrays"]] == [[100_000], [3, 3]]
    assert all(a["offset"] % 64 == 0 for a in header["arrays"])
    assert header["pickle"]["length"] < 1000  # the 800 KB of data is not in the pickle
    mapped = load(tmp_path / "v.jlc", mmap_mode="r")
    assert mapped["x"].ctypes.data % 64 == 0


def test_object_arrays_are_pickled_inline(tmp_path: Path) -> None:
    dump({"o": VALUES["object_array"]}, tmp_path / "v.jlc")
    assert read_header(tmp_path / "v.jlc")["arrays"] == []


def test_shared_array_stays_shared(tmp_path: Path) -> None:
    a = np.arange(10)
    dump({"a": a, "b": a, "view": a[2:]}, tmp_path / "v.jlc")
    assert len(read_header(tmp_path / "v.jlc")["arrays"]) == 2
    for mode in (None, "r"):
        back = load(tmp_path / "v.jlc", mmap_mode=mode)
        assert back["a"] is back["b"]


def test_lambdas_and_local_classes_inside_values(tmp_path: Path) -> None:
    class Local:
        def __init__(self, x: int) -> None:
            self.x = x

    dump({"f": lambda x: x * 2, "obj": Local(4)}, tmp_path / "v.jlc")
    back = load(tmp_path / "v.jlc")
    assert back["f"](21) == 42 and back["obj"].x == 4


def test_memmap_input_is_stored_by_content(tmp_path: Path) -> None:
    source = np.memmap(tmp_path / "raw.bin", dtype=np.int16, mode="w+", shape=(50,))
    source[:] = np.arange(50)
    dump(source, tmp_path / "v.jlc")
    back = load(tmp_path / "v.jlc")
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, np.arange(50))


def test_pandas_dataframe_maps_its_blocks(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(1000.0), "b": np.arange(1000), "c": ["x"] * 1000})
    dump(df, tmp_path / "df.jlc")
    back = load(tmp_path / "df.jlc", mmap_mode="r")
    assert df.equals(back)
    mapped = [b.values for b in back._mgr.blocks if isinstance(b.values, np.memmap)]
    assert len(mapped) == 2  # the float and the int block; strings are pickled
    assert df.equals(load(tmp_path / "df.jlc"))


# ----------------------------------------------------------------------------- mmap modes
def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_mmap_r_is_read_only_memmap(tmp_path: Path) -> None:
    dump({"x": np.arange(10.0)}, tmp_path / "v.jlc")
    x = load(tmp_path / "v.jlc", mmap_mode="r")["x"]
    assert isinstance(x, np.memmap) and x.mode == "r"
    assert not x.flags.writeable
    with pytest.raises(ValueError):
        x[0] = 1


def test_mmap_r_plus_writes_through(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump({"x": np.arange(10.0)}, path)
    x = load(path, mmap_mode="r+")["x"]
    assert isinstance(x, np.memmap)
    x[3] = 99.0
    x.flush()
    del x
    assert load(path)["x"][3] == 99.0


def test_mmap_c_never_changes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump({"x": np.arange(10.0)}, path)
    before = _file_bytes(path)
    x = load(path, mmap_mode="c")["x"]
    assert isinstance(x, np.memmap) and x.flags.writeable
    x[:] = -1
    x.flush()
    assert x[0] == -1
    del x
    assert _file_bytes(path) == before


def test_mmap_w_plus_maps_existing_data_without_truncating(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump({"x": np.arange(10.0)}, path)
    size = path.stat().st_size
    x = load(path, mmap_mode="w+")["x"]
    assert isinstance(x, np.memmap)
    np.testing.assert_array_equal(x, np.arange(10.0))
    x[0] = 42.0
    x.flush()
    del x
    assert path.stat().st_size == size
    assert load(path)["x"][0] == 42.0


def test_mmap_maps_the_file_it_validated(tmp_path: Path) -> None:
    """A value replaced after loading must not change what the loaded memmap shows."""
    path = tmp_path / "v.jlc"
    dump(np.arange(10.0), path)
    first = load(path, mmap_mode="r")
    dump({"other": "layout", "x": np.full(100, 7.0)}, path)
    np.testing.assert_array_equal(first, np.arange(10.0))


def test_plain_load_gives_writeable_ndarrays(tmp_path: Path) -> None:
    for n in (10, 100_000):  # single-read small file, and the preadv path
        dump({"x": np.arange(n)}, tmp_path / "v.jlc")
        x = load(tmp_path / "v.jlc")["x"]
        assert type(x) is np.ndarray and x.flags.writeable
        x[0] = 5


def test_empty_array_with_mmap_is_plain_empty_ndarray(tmp_path: Path) -> None:
    dump(np.empty((0, 4), dtype=np.float32), tmp_path / "v.jlc")
    back = load(tmp_path / "v.jlc", mmap_mode="r")
    assert back.shape == (0, 4) and back.dtype == np.float32


def test_invalid_mmap_mode(tmp_path: Path) -> None:
    dump(1, tmp_path / "v.jlc")
    with pytest.raises(ValueError, match="mmap_mode='x' is not valid"):
        load(tmp_path / "v.jlc", mmap_mode="x")


def test_non_contiguous_written_in_bounded_chunks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(_arrays, "_CHUNK", 256)
    base = np.arange(4 * 30 * 50, dtype=np.float64).reshape(4, 30, 50)
    seen = []
    real = np.ascontiguousarray
    monkeypatch.setattr(_arrays.np, "ascontiguousarray",
                        lambda a: seen.append(a.nbytes) or real(a))
    for arr in (base[:, ::2, ::3], base[::2, :, 1]):  # a row is bigger than a chunk; rows fit
        seen.clear()
        dump(arr, tmp_path / "v.jlc")
        assert max(seen) <= 2 * 256
        np.testing.assert_array_equal(load(tmp_path / "v.jlc"), arr)


# ----------------------------------------------------------------------------- compression
@pytest.mark.parametrize("compress", [True, 1, 9, "zlib", "gzip", "bz2", "lzma", "xz", "lz4",
                                      ("lz4", 5), ("zlib", 6)])
def test_compressed_round_trip(tmp_path: Path, compress: object) -> None:
    value = {"x": np.zeros(200_000), "y": VALUES["non_contiguous"], "s": "text" * 100}
    dump(value, tmp_path / "c.jlc", compress=compress)
    dump(value, tmp_path / "u.jlc")
    assert (tmp_path / "c.jlc").stat().st_size < (tmp_path / "u.jlc").stat().st_size / 2
    assert read_header(tmp_path / "c.jlc")["compression"]["method"] == normalize_compress(compress)[0]
    back = load(tmp_path / "c.jlc")
    assert_same(value, back)
    assert back["x"].flags.writeable


def test_normalize_compress() -> None:
    assert normalize_compress(False) == (None, 0)
    assert normalize_compress(0) == (None, 0)
    assert normalize_compress(True) == ("zlib", 3)
    assert normalize_compress(5) == ("zlib", 5)
    assert normalize_compress("GZIP") == ("gzip", 3)
    assert normalize_compress(("bz2", 0)) == (None, 0)
    assert normalize_compress(["xz", 2]) == ("xz", 2)
    for bad in ("snappy", 10, -1, ("zlib", "9"), object()):
        with pytest.raises(ValueError):
            normalize_compress(bad)


def test_lz4_missing_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    with pytest.raises(ImportError, match=r"pip install lz4.*jlcache\[lz4\]"):
        normalize_compress("lz4")


def test_extension_selects_compression_like_joblib(tmp_path: Path) -> None:
    dump(np.zeros(1000), tmp_path / "v.gz")
    assert read_header(tmp_path / "v.gz")["compression"]["method"] == "gzip"


def test_compressed_mmap_warns_once_and_loads_in_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(_reader, "_warned_compressed_mmap", False)
    dump({"x": np.arange(100)}, tmp_path / "v.jlc", compress=3)
    with pytest.warns(CacheWarning, match="cannot be memory-mapped"):
        x = load(tmp_path / "v.jlc", mmap_mode="r")["x"]
    assert type(x) is np.ndarray
    x = load(tmp_path / "v.jlc", mmap_mode="r")["x"]  # no second warning (warnings are errors)
    np.testing.assert_array_equal(x, np.arange(100))


# ----------------------------------------------------------------------------- validation
def _layout(path: Path) -> dict:
    header = read_header(path)
    return {"hlen": struct.unpack("<I", path.read_bytes()[4:8])[0], **header}


@pytest.mark.parametrize("where", ["empty", "magic", "length", "header", "pickle", "array",
                                   "last_byte"])
def test_truncated_file_is_corrupt(tmp_path: Path, where: str) -> None:
    path = tmp_path / "v.jlc"
    dump({"x": np.arange(1000.0), "s": "payload" * 20}, path)
    info = _layout(path)
    cut = {"empty": 0, "magic": 3, "length": 6, "header": 8 + info["hlen"] // 2,
           "pickle": info["pickle"]["offset"] + 5, "array": info["arrays"][0]["offset"] + 100,
           "last_byte": info["end"] - 1}[where]
    os.truncate(path, cut)
    for mode in (None, "r"):
        with pytest.raises(CorruptEntryError, match=str(path)):
            load(path, mmap_mode=mode)


def test_garbage_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    path.write_bytes(b"\x00" + os.urandom(5000))  # never a pickle or compressor header
    with pytest.raises(CorruptEntryError, match="magic"):
        load(path)


def test_foreign_pickle_is_corrupt_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "v.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CorruptEntryError, match=r"joblib\.load"):
        load(path)


@pytest.mark.parametrize("compress", [0, 3, "gzip", "bz2", "xz", "lzma", "lz4"])
def test_a_joblib_file_is_named_as_such_not_blamed_on_a_crash(tmp_path: Path, compress) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.joblib"
    joblib.dump({"a": [1, 2]}, path, compress=compress if compress in (0, 3) else (compress, 3))
    with pytest.raises(CorruptEntryError, match=r"not a jlcache value file.*joblib\.load") as info:
        load(path)
    assert "crash" not in str(info.value) and "full disk" not in str(info.value)


def test_dump_into_a_missing_directory_names_the_target_not_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.jl"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        dump(1, target)
    assert info.value.filename == str(target) and ".tmp" not in str(info.value)
    assert info.value.errno == errno.ENOENT


def test_bad_pickle_checksum(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump({"s": "payload" * 20}, path)
    data = bytearray(path.read_bytes())
    data[_layout(path)["pickle"]["offset"] + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntryError, match="checksum"):
        load(path)


def test_bad_array_bytes_detected_when_loading_into_memory(tmp_path: Path) -> None:
    for n in (100, 100_000):
        path = tmp_path / f"v{n}.jlc"
        dump(np.arange(n, dtype=np.float64), path)
        data = bytearray(path.read_bytes())
        data[_layout(path)["arrays"][0]["offset"] + 3] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(CorruptEntryError, match="checksum"):
            load(path)


def _rewrite_header(path: Path, edit) -> None:
    data = path.read_bytes()
    hlen = struct.unpack("<I", data[4:8])[0]
    header = json.loads(data[8:8 + hlen])
    edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= hlen
    path.write_bytes(data[:8] + text.ljust(hlen) + data[8 + hlen:])


def test_unknown_format_version_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump([1, 2], path)
    _rewrite_header(path, lambda h: h.update(format=2))
    with pytest.raises(CorruptEntryError, match="format version 2"):
        load(path)
    with pytest.raises(CorruptEntryError, match="format version 2"):
        read_meta(path)


def test_inconsistent_array_table_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump(np.arange(10), path)
    _rewrite_header(path, lambda h: h["arrays"][0].update(shape=[1000]))
    with pytest.raises(CorruptEntryError, match="inconsistent"):
        load(path, mmap_mode="r")


def test_damaged_compressed_stream(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump({"x": np.arange(10_000)}, path, compress="zlib")
    data = bytearray(path.read_bytes())
    start = _layout(path)["compression"]["offset"]
    data[start + 20:start + 60] = os.urandom(40)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntryError):
        load(path)


def test_wrong_magic_generation(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump(1, path)
    data = bytearray(path.read_bytes())
    data[3] = 2
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntryError, match="layout generation 2"):
        load(path)


def test_missing_class_is_corrupt_not_a_crash(tmp_path: Path, python) -> None:
    path = tmp_path / "v.jlc"
    python(f"""
        import jlcache, mymod_sentinel
        jlcache.dump(mymod_sentinel.Thing(), {str(path)!r})
    """, env={"PYTHONPATH": str(_write_module(tmp_path))})
    with pytest.raises(CorruptEntryError, match="cannot be unpickled"):
        load(path)


def _write_module(tmp_path: Path) -> Path:
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "mymod_sentinel.py").write_text("class Thing:\n    pass\n")
    return mod


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.jlc")


def test_raw_pickle_with_arrays_explains_itself(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    dump(np.arange(3), path)
    info = _layout(path)
    raw = path.read_bytes()[info["pickle"]["offset"]:][:info["pickle"]["length"]]
    with pytest.raises(pickle.UnpicklingError, match=r"jlcache\.load"):
        pickle.loads(raw)


def test_read_meta_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    write_value(path, np.arange(100_000), {"duration": 1.5, "args": "(1,)", "odd": Path("/x")})
    data = bytearray(path.read_bytes())
    data[_layout(path)["pickle"]["offset"] + 2] ^= 0xFF  # the value is damaged, not the header
    path.write_bytes(bytes(data))
    assert read_meta(path) == {"duration": 1.5, "args": "(1,)", "odd": "/x"}
    with pytest.raises(CorruptEntryError):
        load(path)
    os.truncate(path, 4096)  # but a truncated file is reported by the header check already
    with pytest.raises(CorruptEntryError, match="truncated"):
        read_meta(path)


# ----------------------------------------------------------------------------- atomicity
def test_unpicklable_value_names_the_culprit_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v.jlc"
    value = {"ok": [1, 2], "bad": [0, Box("b", threading.Lock())]}
    with pytest.raises(UnpicklableValueError, match=r"\['bad'\]\[1\]\.data.*_thread\.lock") as info:
        dump(value, path)
    assert isinstance(info.value, TypeError) and isinstance(info.value, pickle.PicklingError)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_value_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "v.jlc"
    dump("old", path)

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    for value in ("new", np.ones(1_000_000)):  # buffered write and direct array write
        with monkeypatch.context() as m:
            m.setattr(os, "write", no_space)
            with pytest.raises(OSError, match="No space"):
                dump(value, path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["v.jlc"]
        assert load(path) == "old"


def test_failed_rename_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    def read_only(src: str, dst: str) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OSError, match="Read-only"):
        dump(np.arange(10), tmp_path / "v.jlc")
    assert list(tmp_path.iterdir()) == []


def test_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        dump(1, tmp_path / "v.jlc")
    finally:
        os.umask(old)
    assert (tmp_path / "v.jlc").stat().st_mode & 0o777 == 0o600


def test_tiny_value_is_one_small_file(tmp_path: Path) -> None:
    write_value(tmp_path / "v.jlc", 3, {"created": 1.0, "duration": 0.1, "args": "(3,)"})
    assert (tmp_path / "v.jlc").stat().st_size < 400


def test_dump_needs_a_path(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f, pytest.raises(TypeError, match="file path"):
        dump(1, f)


def test_module_import_does_not_load_numpy(python) -> None:
    python("""
        import sys
        import jlcache.store.local, jlcache.serialize.format
        assert "numpy" not in sys.modules, "store/serialize imported numpy"
    """)


def test_values_without_numpy_loaded(tmp_path: Path, python) -> None:
    python(f"""
        import sys
        from jlcache.serialize.format import dump, load
        dump({{"a": [1, 2.5, "x"]}}, {str(tmp_path / "v.jlc")!r})
        assert load({str(tmp_path / "v.jlc")!r}) == {{"a": [1, 2.5, "x"]}}
        assert "numpy" not in sys.modules
    """)


def test_serialize_module_names_are_stable() -> None:
    """The pickles of format 1 reference this function by name: it must not move."""
    assert serialize._restore_array.__module__ == "jlcache.serialize"
    assert serialize._restore_array.__qualname__ == "_restore_array"


# --- loading never rewrites a live class (issue 15, item 3) ----------------------------------


def _dynamic_class():
    ns: dict = {"__name__": "__main__"}   # not importable by name: cloudpickle pickles it by value
    exec("class Result:\n    def __init__(self, v):\n        self.v = v\n"
         "    def show(self):\n        return self.v\n", ns)
    return ns["Result"]


def test_loading_an_instance_keeps_the_live_class_untouched(tmp_path):
    Result = _dynamic_class()
    show = Result.show
    dump(Result(1), tmp_path / "v")
    Result.show = patched = lambda self: "patched"      # the user changes the class later
    loaded = load(tmp_path / "v")
    assert type(loaded) is Result and loaded.v == 1
    assert Result.show is patched and Result.show is not show


def test_loading_in_a_fresh_process_builds_the_class(tmp_path, python):
    Result = _dynamic_class()
    dump([Result(1), Result(2)], tmp_path / "v")
    out = python(f"import jlcache; a, b = jlcache.load({str(tmp_path / 'v')!r}); "
                 "print(type(a) is type(b), a.show() + b.show())").stdout.split()
    assert out == ["True", "3"]
