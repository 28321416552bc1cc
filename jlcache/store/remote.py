"""One object-storage location reached through fsspec: opening it, naming objects, failing well.

``Remote`` is the narrow object the parts of an ``ObjectStore`` share (as ``DiskLayout`` is
for the local store): the fsspec filesystem, the root (``bucket/prefix``), the public URL
(never with credentials), the object name of each entry, and ``call``, through which every
request goes so that a store that stops answering is noticed once and then skipped for a
while instead of making every cached call wait for timeouts.

fsspec is imported here, and only when a URL location is opened: ``import jlcache`` stays
cheap.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from jlcache.errors import CacheFormatError, StoreUnavailableError, StoreUnavailableWarning
from jlcache.store import recent_listings
from jlcache.store.layout import INFO, SUFFIX, EntryRef, _check_component, _check_kind, group_name

__all__ = ["OPEN_TIMEOUT", "Remote", "extra_for"]

_log = logging.getLogger("jlcache.store")
T = TypeVar("T")

OPEN_TIMEOUT = 30.0  # seconds the first contact may take before a clear error
RETRY_AFTER = 30.0  # seconds a store that failed is skipped before it is tried again
FORMAT = 1  # the remote layout's format number (the local store's, see store/location.py)
ACCESS = "_access"  # folder of batched access records (see remote_access.py)

# protocol -> (extra of jlcache to install, the fsspec implementation it brings)
_EXTRAS = {"s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs"), "gs": ("gcs", "gcsfs"),
           "gcs": ("gcs", "gcsfs"), "az": ("azure", "adlfs"), "abfs": ("azure", "adlfs"),
           "abfss": ("azure", "adlfs"), "adl": ("azure", "adlfs")}
_USERINFO = re.compile(r"(?<=://)[^/@]*@")  # s3://KEY:SECRET@bucket: never shown


def extra_for(scheme: str) -> str:
    """How to install what a protocol needs: ``pip install "jlcache[s3]"`` or fsspec's hint."""
    extra = _EXTRAS.get(scheme.lower())
    if extra is not None:
        return f'pip install "jlcache[{extra[0]}]" (it installs {extra[1]})'
    return ("pip install fsspec plus the fsspec implementation of that protocol (see "
            "https://filesystem-spec.readthedocs.io/en/latest/api.html#other-known-implementations)")


def public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part: what messages and listings may show."""
    return _USERINFO.sub("", url)


def _open_filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    scheme = url.split("://", 1)[0]
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"The cache location {public_url(url)} needs fsspec, which is not "
                          f"installed: {extra_for(scheme)}.") from None
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise ImportError(f"The cache location {public_url(url)} is a {scheme}:// URL, whose "
                          f"fsspec implementation is not installed ({exc}): "
                          f"{extra_for(scheme)}.") from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise ValueError(f"location {public_url(url)!r}: fsspec does not know the "
                             f"{scheme}:// protocol. Use s3://, gs://, az://, memory:// or a "
                             "local directory.") from None
        raise
    return fs, root.rstrip("/")


class Remote:
    """An fsspec location and how jlcache names and reaches the objects in it."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.fs, self.root = _open_filesystem(url, options)
        if not self.root.strip("/"):
            raise ValueError(f"location {public_url(url)!r} names no bucket or container: use "
                             "e.g. s3://bucket/prefix.")
        self.url = public_url(self.fs.unstrip_protocol(self.root))
        self.protocol = url.split("://", 1)[0].lower()
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------- naming
    def path(self, ref: EntryRef) -> str:
        """The object name of an entry; ``ValueError`` for a ref that is not a valid name."""
        return "/".join((self.root, *self.parts(ref.kind, ref.group, ref.version),
                         _check_component("key", ref.key) + SUFFIX))

    @staticmethod
    def parts(kind: str, group: str, version: str) -> tuple[str, str, str]:
        return _check_kind(kind), group_name(group), _check_component("version", version)

    def prefix(self, where: tuple[str, ...]) -> str:
        """The object name (or name prefix) of the cache, a kind, group, version or entry."""
        if len(where) >= 4:
            return self.path(EntryRef(*where[:4]))
        names = [_check_kind(where[0])] if where else []
        if len(where) > 1:
            names.append(group_name(where[1]))
        if len(where) > 2:
            names.append(_check_component("version", where[2]))
        return "/".join((self.root, *names))

    def info_path(self, kind: str, group: str, version: str) -> str:
        return "/".join((self.root, *self.parts(kind, group, version), INFO))

    def relative(self, path: str) -> list[str]:
        """The names under the root of an object listed by fsspec."""
        path = path.lstrip("/")
        root = self.root.lstrip("/")
        return path[len(root) + 1:].split("/") if path.startswith(root + "/") else []

    def describe_url(self, path: str) -> str:
        return public_url(self.fs.unstrip_protocol(path))

    # ------------------------------------------------------------------------- requests
    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args)`` against the store. A missing object (``FileNotFoundError``) and a
        denial (``PermissionError``) pass through; anything else means the store is not
        answering: one ``StoreUnavailableWarning``, then a ``StoreUnavailableError`` at once
        for every call during ``RETRY_AFTER`` seconds (the user's work goes on uncached)."""
        if self._down_until and time.monotonic() < self._down_until:
            raise StoreUnavailableError(f"The cache at {self.url} is not answering (skipped "
                                        f"for up to {RETRY_AFTER:.0f} s after a failure).")
        changed = self._changed(func, args)
        if changed is not None:  # before and after: a listing made meanwhile may lack it
            recent_listings.forget(self.url, changed or None)
        try:
            result = func(*args, **kwargs)
        except (FileNotFoundError, PermissionError, MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:
            self._failed(exc)
            raise StoreUnavailableError(explain(self.url, exc)) from None
        finally:
            if changed is not None:
                recent_listings.forget(self.url, changed or None)
        if self._down_until:
            self._down_until = 0.0
            self._warned = False
        return result

    def _changed(self, func: Callable[..., Any], args: tuple[Any, ...]) -> list[list[str]] | None:
        """What a call changes, for ``recent_listings``: ``None`` for a read, the names of
        the written or deleted objects, or ``[]`` when they cannot be told (all changed)."""
        name = getattr(func, "__name__", "").lstrip("_")
        if name not in recent_listings.WRITES:
            return None
        where = 1 if name in ("put_file", "put") else 0  # put_file(local file, object)
        target = args[where] if len(args) > where and name not in ("mv", "copy") else None
        paths = [target] if isinstance(target, str) else target
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return []
        names = [self.relative(self.fs._strip_protocol(p)) for p in paths]
        return [] if any(not n for n in names) else names

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_AFTER
            warn, self._warned = not self._warned, True
        if warn:
            warnings.warn(StoreUnavailableWarning(
                f"{explain(self.url, exc)} Results are computed and returned but not cached "
                f"(and cached ones not read) until it answers again; jlcache retries every "
                f"{RETRY_AFTER:.0f} s. (Shown once per outage.)"), stacklevel=5)

    # ------------------------------------------------------------------------- first contact
    def check(self, timeout: float | None = None) -> None:
        """Read (or write, for a new cache) ``FORMAT`` within ``timeout`` seconds, or raise
        ``StoreUnavailableError`` naming the URL and the likely cause. Never creates a bucket."""
        timeout = OPEN_TIMEOUT if timeout is None else timeout
        box: list[Any] = []

        def run() -> None:
            try:
                self._read_or_write_format()
                box.append(None)
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=run, name="jlcache-open-store", daemon=True)
        worker.start()
        worker.join(timeout)
        if not box:
            raise StoreUnavailableError(
                f"The cache at {self.url} did not answer within {timeout:.0f} s. Likely cause: "
                "the endpoint cannot be reached (network, VPN, a wrong endpoint_url in "
                "storage_options) or it is overloaded. Check the URL and the network, or use a "
                "local directory.")
        if isinstance(box[0], BaseException):
            exc = box[0]
            if isinstance(exc, (CacheFormatError, KeyboardInterrupt, MemoryError)):
                raise exc
            raise StoreUnavailableError(explain(self.url, exc, opening=True)) from None

    def _read_or_write_format(self) -> None:
        name = f"{self.root}/FORMAT"
        try:
            text = self.fs.cat_file(name).decode("ascii", "replace").strip()
        except FileNotFoundError:
            self.fs.pipe_file(name, f"{FORMAT}\n".encode())  # a missing bucket fails here
            return
        if not text.isdigit():
            raise CacheFormatError(f"{self.url}/FORMAT contains {text[:40]!r}, not a jlcache "
                                   "format number: this location is not a jlcache cache. "
                                   "Choose another prefix.")
        if int(text) > FORMAT:
            raise CacheFormatError(f"The cache at {self.url} was written by a newer jlcache "
                                   f"(format {text}); this jlcache understands format {FORMAT} "
                                   "only. Upgrade jlcache, or use another prefix.")


def explain(url: str, exc: BaseException, opening: bool = False) -> str:
    """What went wrong with the store at ``url``, its likely cause and what to do."""
    what = f"{type(exc).__name__}: {exc}"
    text = str(exc).lower()
    if isinstance(exc, (TypeError, ValueError)):
        return (f"Cannot use the cache at {url}: fsspec did not accept the request or the "
                f"storage_options ({what}). Check the names and values in storage_options "
                "against the documentation of the protocol's fsspec package.")
    if isinstance(exc, FileNotFoundError) or "nosuchbucket" in text or "bucket does not" in text:
        return (f"Cannot use the cache at {url}: its bucket (or container) does not exist "
                f"({what}). jlcache never creates buckets: create it (or fix the name in the "
                "URL), then try again.")
    denied = ("accessdenied", "access denied", "forbidden", "invalidaccesskeyid",
              "signaturedoesnotmatch", "credential", "expiredtoken")
    if isinstance(exc, PermissionError) or any(word in text for word in denied):
        return (f"Cannot use the cache at {url}: access denied ({what}). Likely cause: missing "
                "or wrong credentials (storage_options, the environment, the profile) or a "
                "bucket policy that does not let them read and write that prefix.")
    if isinstance(exc, TimeoutError) or "timeout" in text or "timed out" in text:
        cause = "it did not answer in time"
    else:
        cause = "it cannot be reached"
    verb = "open" if opening else "use"
    return (f"Cannot {verb} the cache at {url}: {cause} ({what}). Likely cause: the endpoint is "
            "down or unreachable (network, VPN, endpoint_url in storage_options).")
