"""Argument keys memoized per function (``memory.keys.KeyMemo``): exactly the keys hashing
gives, never one value's key for another value that compares equal to it."""

from __future__ import annotations

from jlcache.identity import hash as content_hash
from jlcache.memory.keys import KeyMemo


def key_of(value: object) -> str:
    return content_hash(((value,), ()))


def test_memoized_keys_are_the_hashed_keys_and_equal_values_of_other_types_stay_apart(memory):
    def f(x):
        return x

    g = memory.cache(f)
    values = [1, True, 1.0, "1", b"1", None, 0, False, 0.0, -0.0, 2**70]
    for _ in range(2):  # the second round is served from the memo where it applies
        keys = [g.cache_key(v).key for v in values]
        assert keys == [key_of(v) for v in values]
    assert len(set(keys)) == len(values)  # 1 == True == 1.0, yet three entries


def test_only_short_ints_strings_bytes_and_none_are_memoized():
    memo = KeyMemo()
    for bound in [(1, "a", b"b", None), ("x" * 256,)]:
        memo.remember(bound, "k")
        assert memo.get(bound) == "k"
    for bound in [(True,), (1.0,), ("x" * 257,), ((1,),), ([1],)]:
        memo.remember(bound, "k")  # type: ignore[arg-type]
        assert memo.get(bound) is None  # type: ignore[arg-type]


def test_the_memo_is_bounded():
    memo = KeyMemo()
    for i in range(10_000):
        memo.remember((i,), str(i))
    assert len(memo._keys) <= 256
