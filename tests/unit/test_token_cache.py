"""The token cache on its own: lifetimes, the bound, eviction, and lookups that raced a change."""

from __future__ import annotations

from datetime import UTC, datetime

from ordermill.token_cache import TokenCache


class Clocks:
    """A monotonic clock and a wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


def cache(
    ttl: float = 5.0, *, serving: bool = True, max_entries: int = 100
) -> tuple[TokenCache[str], Clocks]:
    clocks = Clocks()
    made: TokenCache[str] = TokenCache(
        ttl,
        serving=serving,
        max_entries=max_entries,
        clock=lambda: clocks.now,
        wall_clock=lambda: clocks.wall,
    )
    return made, clocks


def put(
    tokens: TokenCache[str],
    digest: str,
    value: str,
    *keys: str,
    expires: datetime | None = None,
    generation: int | None = None,
) -> None:
    tokens.put(
        digest,
        value,
        keys=keys or ("user:1",),
        expires=expires,
        generation=tokens.generation if generation is None else generation,
    )


def test_a_stored_answer_is_served_until_its_lifetime_ends() -> None:
    tokens, clocks = cache(ttl=5.0)
    put(tokens, "d1", "ann")

    clocks.advance(4.9)
    assert tokens.get("d1") == "ann"
    clocks.advance(0.1)
    assert tokens.get("d1") is None
    assert len(tokens) == 0


def test_an_answer_is_never_served_past_the_tokens_own_expiry() -> None:
    tokens, clocks = cache(ttl=5.0)
    expires = datetime.fromtimestamp(clocks.wall + 2, UTC)
    put(tokens, "d1", "ann", expires=expires)

    clocks.advance(1.9)
    assert tokens.get("d1") == "ann"
    clocks.advance(0.1)
    assert tokens.get("d1") is None


def test_an_unknown_digest_misses() -> None:
    tokens, _ = cache()

    assert tokens.get("nobody") is None


def test_the_cache_holds_at_most_its_bound_dropping_the_oldest() -> None:
    tokens, _ = cache(max_entries=3)
    for n in range(5):
        put(tokens, f"d{n}", f"v{n}")

    assert len(tokens) == 3
    assert [tokens.get(f"d{n}") for n in range(5)] == [None, None, "v2", "v3", "v4"]


def test_evicting_a_key_forgets_every_entry_carrying_it_and_no_other() -> None:
    tokens, _ = cache()
    put(tokens, "ann-phone", "ann", "user:1")
    put(tokens, "ann-laptop", "ann", "user:1", "customer:7")
    put(tokens, "bob", "bob", "user:2")

    tokens.evict(["customer:7"])
    assert [tokens.get(d) for d in ("ann-phone", "ann-laptop", "bob")] == ["ann", None, "bob"]

    tokens.evict(["user:1"])
    assert [tokens.get(d) for d in ("ann-phone", "bob")] == [None, "bob"]


def test_an_answer_read_before_an_eviction_is_not_stored_after_it() -> None:
    tokens, _ = cache()
    generation = tokens.generation  # a lookup starts, and reads the row as it was
    tokens.evict(["user:1"])  # meanwhile the token is revoked and the change announced

    put(tokens, "d1", "ann", generation=generation)

    assert tokens.get("d1") is None


def test_a_suspended_cache_serves_and_keeps_nothing_until_resumed_empty() -> None:
    tokens, _ = cache()
    put(tokens, "d1", "ann")

    tokens.suspend()
    assert tokens.get("d1") is None
    put(tokens, "d2", "bob")
    assert len(tokens) == 0

    tokens.resume()
    assert tokens.serving
    put(tokens, "d2", "bob")
    assert tokens.get("d2") == "bob"


def test_a_cache_made_not_serving_waits_for_resume() -> None:
    tokens, _ = cache(serving=False)
    put(tokens, "d1", "ann")

    assert tokens.get("d1") is None
    tokens.resume()
    put(tokens, "d1", "ann")
    assert tokens.get("d1") == "ann"


def test_a_lifetime_of_zero_turns_the_cache_off() -> None:
    tokens, _ = cache(ttl=0)
    tokens.resume()
    put(tokens, "d1", "ann")

    assert not tokens.serving
    assert tokens.get("d1") is None
