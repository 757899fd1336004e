"""Per-source and per-domain caps, balancing and a global limit, decided reproducibly.

Which samples survive a cap must not depend on how the dataset happens to be sharded, on the
order shards are read, or on how many workers run. So every sample gets a rank key from a
seeded hash of its id (``sha256(seed, id)``), groups are ordered by name, and every decision is
a sort on those keys: the same ids, seed and options always keep the same samples.

The decisions are made on compact NumPy arrays (8-byte key and two small group codes per
sample), so planning a few million samples takes a few tens of MB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from finereason.errors import UserError

#: Reason codes of :func:`plan_caps`; 0 keeps the sample.
KEEP = 0
CAP_REASONS = ("", "over_cap_source", "over_cap_domain", "over_balance", "over_limit", "rl_holdout")
_CAP_SOURCE, _CAP_DOMAIN, _BALANCE, _LIMIT = 1, 2, 3, 4
#: The reason code of a sample held out of SFT as an RL prompt (``select --rl-holdout``).
HOLDOUT = 5

GROUPINGS = ("source", "domain")


def order_key(seed: int, sample_id: str) -> int:
    """A sample's place in the seeded random order: the first 8 bytes of sha256(seed, id)."""
    digest = hashlib.sha256(f"{seed}\x00{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class CapPolicy:
    """The dataset-wide part of a selection.

    Applied in this order to the samples the per-sample rules kept:

    1. ``cap_per_source``: at most N per source (the N first in seeded order);
    2. ``cap_per_domain``: then at most N per domain;
    3. ``balance``: with ``limit``, take ``limit`` samples round-robin over the groups (each group
       in seeded order), so small groups give all they have and the rest is shared evenly;
       without ``limit``, cut every group to the size of the smallest one;
    4. ``limit`` alone: the first ``limit`` samples in seeded order (a uniform random sample).
    """

    cap_per_source: int | None = None
    cap_per_domain: int | None = None
    balance: str | None = None
    limit: int | None = None
    seed: int = 0
    rl_holdout: int | None = None

    def __post_init__(self) -> None:
        if self.balance is not None and self.balance not in GROUPINGS:
            raise ValueError(f"balance must be one of {GROUPINGS}, got {self.balance!r}")
        for name in ("cap_per_source", "cap_per_domain", "limit", "rl_holdout"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def settings(self) -> dict[str, Any]:
        return {
            "cap_per_source": self.cap_per_source,
            "cap_per_domain": self.cap_per_domain,
            "balance": self.balance,
            "limit": self.limit,
            "seed": self.seed,
            "rl_holdout": self.rl_holdout,
        }

    def detail(self, code: int, source: str, domain: str | None) -> str:
        """A person-readable line for a capped sample's rejection record."""
        if code == _CAP_SOURCE:
            return f"source {source!r} is over --cap-per-source {self.cap_per_source} (seed {self.seed})"
        if code == _CAP_DOMAIN:
            return f"domain {domain!r} is over --cap-per-domain {self.cap_per_domain} (seed {self.seed})"
        if code == HOLDOUT:
            return f"held out of SFT as an RL prompt (--rl-holdout {self.rl_holdout}, seed {self.seed})"
        if code == _BALANCE:
            return f"--balance {self.balance}: every {self.balance} cut to the smallest one's size (seed {self.seed})"
        return f"beyond --limit {self.limit} (seed {self.seed})"


def holdout_key(seed: int, sample_id: str) -> int:
    """The RL hold-out's own seeded order, independent of :func:`order_key` (which caps use)."""
    return order_key(seed, f"rl-holdout\x00{sample_id}")


def plan_holdout(keys: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    """Mask of the ``n`` eligible samples first in seeded order: a uniform sample, as the paper's
    40K RL prompts are drawn uniformly from the curated set. Fewer eligible than ``n`` is an error."""
    idx = np.flatnonzero(eligible)
    if len(idx) < n:
        raise UserError(f"--rl-holdout {n}: only {len(idx)} samples pass the rules with a verifiable answer")
    held = np.zeros(len(keys), dtype=bool)
    held[idx[np.argsort(keys[idx], kind="stable")[:n]]] = True
    return held


def _rank_within(groups: np.ndarray, keys: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Each alive sample's 0-based rank inside its group by key; -1 for the others."""
    ranks = np.full(len(keys), -1, dtype=np.int64)
    idx = np.flatnonzero(alive)
    if not len(idx):
        return ranks
    order = idx[np.lexsort((keys[idx], groups[idx]))]
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(order)])
    ranks[order] = np.arange(len(order)) - np.repeat(starts, lengths)
    return ranks


def plan_caps(keys: np.ndarray, source: np.ndarray, domain: np.ndarray, policy: CapPolicy) -> np.ndarray:
    """Reason code per sample (0 keeps it; see ``CAP_REASONS``).

    ``keys`` are :func:`order_key` values (uint64); ``source`` and ``domain`` are integer group
    codes numbered in the sorted order of the group names, so round-robin order is name order.
    """
    n = len(keys)
    reason = np.zeros(n, dtype=np.uint8)
    alive = np.ones(n, dtype=bool)

    def drop(mask: np.ndarray, code: int) -> None:
        reason[mask] = code
        alive[mask] = False

    if policy.cap_per_source is not None:
        drop(alive & (_rank_within(source, keys, alive) >= policy.cap_per_source), _CAP_SOURCE)
    if policy.cap_per_domain is not None:
        drop(alive & (_rank_within(domain, keys, alive) >= policy.cap_per_domain), _CAP_DOMAIN)
    if policy.balance is not None:
        groups = source if policy.balance == "source" else domain
        ranks = _rank_within(groups, keys, alive)
        if policy.limit is None:
            sizes = np.bincount(groups[alive])
            smallest = int(sizes[sizes > 0].min()) if alive.any() else 0
            drop(alive & (ranks >= smallest), _BALANCE)
        else:
            idx = np.flatnonzero(alive)
            round_robin = idx[np.lexsort((groups[idx], ranks[idx]))]
            over = np.zeros(n, dtype=bool)
            over[round_robin[policy.limit:]] = True
            drop(over, _LIMIT)
    elif policy.limit is not None:
        idx = np.flatnonzero(alive)
        ordered = idx[np.argsort(keys[idx], kind="stable")]
        over = np.zeros(n, dtype=bool)
        over[ordered[policy.limit:]] = True
        drop(over, _LIMIT)
    return reason
