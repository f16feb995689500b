"""The rule for a run's training seeds, shared by ``--seeds`` and ``seeds:`` in a config.

This module imports nothing heavy, so the command line checks ``--seeds`` while it parses its
arguments (in milliseconds, before torch is imported).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from molgraphpt.errors import ConfigError

__all__ = ["MAX_SEED", "check_seeds", "parse_seeds"]

MAX_SEED = 2**32 - 1  # NumPy's seeds are 32-bit
_EXAMPLE = "Use e.g. seeds: [0, 1, 2] in the config, or --seeds 0,1,2"


def check_seeds(seeds: Sequence[object], *, key: str = "seeds") -> tuple[int, ...]:
    """Return ``seeds`` as a tuple if they are one or more distinct integers in [0, 2**32 - 1].

    Args:
        seeds: The seeds as given.
        key: Config key for messages.

    Raises:
        ConfigError: No seed, a seed that is no such integer, or a seed listed twice (one run
            would count twice in the mean ± std over seeds).
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ConfigError(key, seeds, expected="a list of integers", hint=_EXAMPLE)
    if not seeds:
        raise ConfigError(key, list(seeds), expected="at least one seed", hint=_EXAMPLE)
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ConfigError(
                f"{key}.{i}", seed, expected=f"an integer from 0 to {MAX_SEED}", hint=_EXAMPLE
            )
    repeated = [seed for seed, n in Counter(seeds).items() if n > 1]
    if repeated:
        distinct = list(dict.fromkeys(seeds))
        raise ConfigError(
            key,
            list(seeds),
            expected="distinct seeds",
            hint=f"Seed {repeated[0]} is listed more than once, so one run would count twice "
            f"in the mean ± std over seeds; list each seed once, e.g. {distinct}",
        )
    return tuple(int(seed) for seed in seeds)  # type: ignore[call-overload]


def parse_seeds(text: str) -> tuple[int, ...]:
    """Parse ``--seeds`` (``"0,1,2"``; spaces allowed) and check it with :func:`check_seeds`.

    Raises:
        ConfigError: An entry is not an integer, or :func:`check_seeds` rejects the seeds.
    """
    if not text.strip():
        raise ConfigError("seeds", text, expected="at least one seed", hint=_EXAMPLE)
    entries = [part.strip() for part in text.split(",")]
    seeds: list[int] = []
    for entry in entries:
        try:
            seeds.append(int(entry))
        except ValueError:
            raise ConfigError(
                "seeds",
                text,
                expected="comma-separated integers from 0, e.g. --seeds 0,1,2",
                hint=f"{entry!r} is not an integer" if entry else "An entry is empty",
            ) from None
    return check_seeds(seeds)
