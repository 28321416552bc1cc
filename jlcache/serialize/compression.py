"""Compression methods for stored values: one streaming API over zlib, gzip, bz2, lzma/xz, lz4.

The serializer feeds the payload (pickle and array bytes) through ``Compressor`` chunk by
chunk, so a 1 GB array is never duplicated in memory on the way out; ``decompress_into``
fills a preallocated buffer on the way back, so arrays can be views of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["METHODS", "Compressor", "decompress_into", "normalize_compress"]

METHODS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
DEFAULT_LEVEL = 3
LZ4_DEFAULT_LEVEL = 1  # lz4 levels >= 3 switch to the slow "HC" mode; the point of lz4 is speed
_CHUNK = 1 << 20


def normalize_compress(compress: Any) -> tuple[str | None, int]:
    """Turn joblib-style ``compress`` into ``(method, level)``; ``(None, 0)`` means none.

    Accepts ``False``/``None``/``0``, ``True`` (zlib level 3), a level 1-9 (zlib), a method
    name, or ``(method, level)``. Level 0 means no compression whatever the method.
    """
    if compress is None or compress is False:
        return None, 0
    if compress is True:
        return "zlib", DEFAULT_LEVEL
    if isinstance(compress, int):
        return _check_level("zlib", compress)
    if isinstance(compress, str):
        method = _check_method(compress)
        return method, LZ4_DEFAULT_LEVEL if method == "lz4" else DEFAULT_LEVEL
    if isinstance(compress, (tuple, list)) and len(compress) == 2:
        method, level = compress
        if isinstance(method, str) and isinstance(level, int) and not isinstance(level, bool):
            return _check_level(_check_method(method), level)
    raise ValueError(
        f"compress={compress!r} is not understood. Use False, True, a level 0-9, a method "
        f"name ({', '.join(map(repr, METHODS))}) or a (method, level) pair such as ('lz4', 1)."
    )


def _check_method(method: str) -> str:
    name = method.lower()
    if name not in METHODS:
        raise ValueError(
            f"Unknown compression method {method!r}. Choose one of: {', '.join(METHODS)}."
        )
    if name == "lz4":
        _lz4()  # fail now, with the install hint, rather than at the first store
    return name


def _check_level(method: str, level: int) -> tuple[str | None, int]:
    top = 16 if method == "lz4" else 9
    if not 0 <= level <= top:
        raise ValueError(
            f"Compression level {level} is out of range for {method}: use 0 (no compression) "
            f"to {top}."
        )
    return (None, 0) if level == 0 else (method, level)


def _lz4() -> Any:
    try:
        import lz4.frame
    except ImportError:
        raise ImportError(
            "Compression with lz4 needs the lz4 package, which is not installed. Install it "
            "with `pip install lz4` (or `pip install jlcache[lz4]`), or choose another method "
            "such as compress='zlib'."
        ) from None
    return lz4.frame


class Compressor:
    """A streaming compressor with one interface for every method."""

    def __init__(self, method: str, level: int) -> None:
        self._head = b""
        if method in ("zlib", "gzip"):
            import zlib

            self._obj: Any = zlib.compressobj(level, zlib.DEFLATED, 31 if method == "gzip" else 15)
        elif method == "bz2":
            import bz2

            self._obj = bz2.BZ2Compressor(level)
        elif method in ("lzma", "xz"):
            import lzma

            fmt = lzma.FORMAT_XZ if method == "xz" else lzma.FORMAT_ALONE
            self._obj = lzma.LZMACompressor(format=fmt, preset=level)
        elif method == "lz4":
            self._obj = _lz4().LZ4FrameCompressor(compression_level=level)
            self._head = self._obj.begin()
        else:  # pragma: no cover - normalize_compress rejects these first
            raise ValueError(f"Unknown compression method {method!r}.")

    def compress(self, data: Any) -> bytes:
        out = self._obj.compress(data)
        if self._head:
            out, self._head = self._head + out, b""
        return out

    def flush(self) -> bytes:
        return self._head + self._obj.flush()


def _decompressor(method: str) -> Any:
    if method in ("zlib", "gzip"):
        import zlib

        return zlib.decompressobj(31 if method == "gzip" else 15)
    if method == "bz2":
        import bz2

        return bz2.BZ2Decompressor()
    if method in ("lzma", "xz"):
        import lzma

        return lzma.LZMADecompressor()
    if method == "lz4":
        return _lz4().LZ4FrameDecompressor()
    raise ValueError(f"unknown compression method {method!r}")


def _chunks(data: memoryview) -> Iterator[memoryview]:
    for start in range(0, len(data), _CHUNK):
        yield data[start:start + _CHUNK]


def _chain(pieces: Iterator[bytes], dec: Any) -> Iterator[bytes]:
    yield from pieces
    if hasattr(dec, "flush"):  # zlib keeps a tail until flushed
        yield dec.flush()


def decompress_into(method: str, data: memoryview, size: int) -> bytearray:
    """Decompress ``data`` into a new writable buffer of exactly ``size`` bytes.

    Raises ``ValueError`` when the stream is damaged or does not have that size.
    """
    out = bytearray(size)
    pos = 0
    dec = _decompressor(method)
    try:
        pieces = (dec.decompress(chunk) for chunk in _chunks(data))
        for piece in _chain(pieces, dec):
            end = pos + len(piece)
            if end > size:
                raise ValueError(f"decompresses to more than the recorded {size} bytes")
            out[pos:end] = piece
            pos = end
    except ValueError:
        raise
    except Exception as exc:  # zlib.error, OSError (bz2/lzma), lz4's RuntimeError
        raise ValueError(f"{method} stream is damaged ({type(exc).__name__}: {exc})") from exc
    if pos != size:
        raise ValueError(f"decompressed to {pos} bytes, expected {size}")
    return out
