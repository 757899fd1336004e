"""Seeded caps, balance and limit on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from finereason.select.caps import CAP_REASONS, CapPolicy, order_key, plan_caps


def _arrays(groups: dict[tuple[int, int], int], seed: int = 0):
    """``{(source, domain): n}`` → keys, source codes, domain codes, ids."""
    ids, src, dom = [], [], []
    for (s, d), n in groups.items():
        for i in range(n):
            ids.append(f"s{s}-d{d}-{i}")
            src.append(s)
            dom.append(d)
    keys = np.array([order_key(seed, i) for i in ids], dtype=np.uint64)
    return keys, np.array(src), np.array(dom), ids


def _reasons(codes: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(codes, return_counts=True)
    return {CAP_REASONS[n] or "kept": int(c) for n, c in zip(names, counts)}


def test_order_key_is_seeded_and_stable() -> None:
    assert order_key(0, "abc") == order_key(0, "abc")
    assert order_key(0, "abc") != order_key(1, "abc")
    assert 0 <= order_key(7, "x") < 2**64


def test_cap_per_source_keeps_lowest_keys() -> None:
    keys, src, dom, _ = _arrays({(0, 0): 10, (1, 0): 3})
    codes = plan_caps(keys, src, dom, CapPolicy(cap_per_source=4))
    assert _reasons(codes) == {"kept": 7, "over_cap_source": 6}
    kept0 = np.flatnonzero((codes == 0) & (src == 0))
    assert sorted(keys[kept0]) == sorted(keys[src == 0])[:4]


def test_cap_per_domain_after_source() -> None:
    keys, src, dom, _ = _arrays({(0, 0): 10, (1, 0): 10, (2, 1): 5})
    codes = plan_caps(keys, src, dom, CapPolicy(cap_per_source=6, cap_per_domain=8))
    assert _reasons(codes) == {"kept": 13, "over_cap_source": 8, "over_cap_domain": 4}
    assert ((codes == 0) & (dom == 0)).sum() == 8


def test_balance_without_limit_cuts_to_smallest_group() -> None:
    keys, src, dom, _ = _arrays({(0, 0): 10, (1, 1): 4, (2, 2): 7})
    codes = plan_caps(keys, src, dom, CapPolicy(balance="domain"))
    assert [int(((codes == 0) & (dom == d)).sum()) for d in range(3)] == [4, 4, 4]
    assert _reasons(codes)["over_balance"] == 9


def test_balance_with_limit_is_round_robin() -> None:
    keys, src, dom, _ = _arrays({(0, 0): 10, (1, 1): 2, (2, 2): 7})
    codes = plan_caps(keys, src, dom, CapPolicy(balance="source", limit=12))
    # round-robin: the small source gives its 2, the other 10 are shared 5 / 5
    assert [int(((codes == 0) & (src == s)).sum()) for s in range(3)] == [5, 2, 5]
    assert _reasons(codes) == {"kept": 12, "over_limit": 7}


def test_limit_alone_is_a_seeded_sample() -> None:
    keys, src, dom, _ = _arrays({(0, 0): 50})
    codes = plan_caps(keys, src, dom, CapPolicy(limit=10))
    assert sorted(keys[codes == 0]) == sorted(keys)[:10]


def test_empty_input() -> None:
    empty = np.zeros(0, dtype=np.uint64)
    assert len(plan_caps(empty, np.zeros(0, int), np.zeros(0, int), CapPolicy(balance="source", cap_per_source=1))) == 0


def test_policy_validates() -> None:
    with pytest.raises(ValueError):
        CapPolicy(balance="language")
    with pytest.raises(ValueError):
        CapPolicy(limit=-1)
