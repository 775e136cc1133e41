"""Deterministic randomness that needs no memory: ids and per-row draws are functions of an index.

Tables refer to each other by index (patient 17's person is person 40,017), never through lists of
ids kept in memory: ``Ids.of(table)(i)`` is row ``i``'s UUID, and ``Draw.at(table, i)`` a random
generator seeded for that row, so any later table can recompute what it needs about an earlier row.
Everything follows from the seed: the same seed gives the same rows.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import random
import struct
from collections.abc import Callable, Sequence

MASK64 = (1 << 64) - 1
MASK122 = (1 << 122) - 1
MASK62 = (1 << 62) - 1
MASK60 = (1 << 60) - 1
VARIANT = "89ab"
NULL = "\\N"  # COPY's text-format NULL

UTC = dt.UTC
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def mix64(x: int) -> int:
    """splitmix64's finaliser: a cheap bijective scrambling of 64-bit integers."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def _key(*parts: object) -> int:
    return random.Random(":".join(map(str, parts))).getrandbits(64)


class Ids:
    """Row ``i`` of a table gets a version-4-shaped UUID that is a bijection of ``i`` (no two rows of a
    table can collide, so the primary keys never clash) and looks random (ids must not reveal order)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.multiplier = random.Random(f"ids:{seed}").getrandbits(122) | 1

    def of(self, table: str) -> Callable[[int], str]:
        offset = random.Random(f"ids:{self.seed}:{table}").getrandbits(122)
        multiplier = self.multiplier

        def make(i: int) -> str:
            n = (i * multiplier + offset) & MASK122
            high = f"{n >> 62:015x}"
            low = n & MASK62
            tail = f"{low & MASK60:015x}"
            return f"{high[:8]}-{high[8:12]}-4{high[12:15]}-{VARIANT[low >> 60]}{tail[:3]}-{tail[3:]}"

        return make


class RowRandom(random.Random):
    """A ``random.Random`` whose state is a hash of a row index: reseeding costs one BLAKE2b call
    (~2 µs) instead of the Mersenne Twister's 624-word initialisation (~5-20 µs), which dominated
    when every row of every table reseeds. All of ``random.Random``'s methods (choice, randint,
    gauss...) work, drawing from ``random()``."""

    def __init__(self, key: int) -> None:
        self._key = key.to_bytes(8, "little")
        self._values: list[int] = []
        self._row = 0
        self._block = 0
        super().__init__(0)

    def seed(self, a=None, version: int = 2) -> None:  # noqa: ARG002 (signature of random.Random)
        self._row = int(a or 0) & MASK64
        self._block = 0
        self._values = []

    def _refill(self) -> None:
        message = self._key + self._row.to_bytes(8, "little") + self._block.to_bytes(4, "little")
        digest = hashlib.blake2b(message, digest_size=64).digest()
        self._values = list(struct.unpack("<8Q", digest))
        self._block += 1

    def random(self) -> float:
        if not self._values:
            self._refill()
        return (self._values.pop() >> 11) * 1.1102230246251565e-16  # 2 ** -53

    def getstate(self):  # pragma: no cover - not used, but keep the interface honest
        return (self._row, self._block, tuple(self._values))


class Draw:
    """Per-row random generators: ``at(table, i)`` reseeds one generator for row ``i``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._tables: dict[str, RowRandom] = {}
        self._keys: dict[str, int] = {}

    def at(self, table: str, i: int) -> random.Random:
        """Row ``i``'s generator. One object per table is reseeded each time, so a caller must be done
        with row ``i`` of a table before asking for another row of the same table."""
        rng = self._tables.get(table)
        if rng is None:
            rng = self._tables[table] = RowRandom(_key("draw", self.seed, table))
        rng.seed(i)
        return rng

    def u(self, table: str, i: int, k: int = 0) -> float:
        """The ``k``-th uniform number in [0, 1) of row ``i``: a bare hash, for the values other tables
        recompute often (a person's creation time, a patient's navigator)."""
        key = self._keys.get(table)
        if key is None:
            key = self._keys[table] = _key("u", self.seed, table)
        return (mix64((key + i * 0x9E3779B97F4A7C15 + k) & MASK64) >> 11) * 1.1102230246251565e-16

    def stream(self, table: str) -> random.Random:
        """A sequential generator (the fast Mersenne Twister) for rows nobody recomputes later."""
        return random.Random(f"stream:{self.seed}:{table}")


class Weighted:
    """Draw from ``items`` with the given weights in O(log n) (bisect on the cumulative weights)."""

    def __init__(self, items: Sequence, weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]

    def pick_u(self, u: float):
        """The item for the uniform number ``u`` in [0, 1)."""
        return self.items[bisect.bisect_right(self.cumulative, u * self.total)]


def zipf_weights(n: int, exponent: float = 1.0, shift: float = 2.7) -> list[float]:
    """Zipf-Mandelbrot weights: the k-th most common value has weight 1 / (k + shift) ** exponent."""
    return [1.0 / (k + shift) ** exponent for k in range(1, n + 1)]


def split(total: int, parts: int, weight: Callable[[int], float]) -> Callable[[], Sequence[int]]:
    """Deal ``total`` items over ``parts`` owners in proportion to ``weight(j)``, exactly (the counts
    add up to ``total``), in two cheap passes and constant memory: returns a function that yields the
    counts in owner order."""
    weight_sum = sum(weight(j) for j in range(parts)) or 1.0

    def counts():
        cumulative = 0.0
        dealt = 0
        for j in range(parts):
            cumulative += weight(j)
            upto = total if j == parts - 1 else min(total, int(total * cumulative / weight_sum))
            yield upto - dealt
            dealt = upto

    return counts


# --- COPY text formatting ----------------------------------------------------------------------------


def ts(seconds: float) -> str:
    """A timestamptz literal for a Unix time (UTC, microseconds)."""
    return dt.datetime.fromtimestamp(seconds, UTC).isoformat(sep=" ")


def day(ordinal: int) -> str:
    return dt.date.fromordinal(ordinal).isoformat()


def seconds_to_ordinal(seconds: float) -> int:
    return EPOCH_ORDINAL + int(seconds // 86400)


def ordinal_to_seconds(ordinal: int) -> float:
    return (ordinal - EPOCH_ORDINAL) * 86400.0


def boolean(value: bool) -> str:
    return "t" if value else "f"
