"""When to try a failed delivery again, and when to give up on it.

Retries spread out exponentially, so a receiver that is down is not
hammered, and each delay is drawn at random below its ceiling ("full
jitter"), so the deliveries that failed together during an outage do not
all come back in the same instant when it ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine.errors import FieldError, ValidationError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a channel's failed deliveries are retried.

    Attempt ``n`` (the first retry is attempt 2) waits a random time up to
    ``min(max_delay, first_delay * factor ** (n - 2))`` seconds. After
    ``max_attempts`` attempts a delivery is given up and kept as dead: it
    can still be read and sent again by hand.
    """

    first_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 12

    def __post_init__(self) -> None:
        problems = []
        if not self.first_delay > 0:
            problems.append(FieldError("first_delay", "must be above 0 seconds"))
        if not self.factor >= 1:
            problems.append(FieldError("factor", "must be at least 1"))
        if not self.max_delay >= self.first_delay:
            problems.append(FieldError("max_delay", "must be at least first_delay"))
        if not 1 <= self.max_attempts <= 100:
            problems.append(FieldError("max_attempts", "must be between 1 and 100"))
        if problems:
            raise ValidationError(problems)

    def ceiling(self, attempt: int) -> float:
        """The most attempt ``attempt`` (2 or more) waits after the one before."""
        if attempt < 2:
            raise ValueError(f"attempt: retries start at 2, got {attempt}")
        exponent = min(attempt - 2, 64)
        return min(self.max_delay, self.first_delay * self.factor**exponent)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt``, or None: give up.

        ``rng`` draws the jitter (the module's generator by default), so a
        test can make the delays repeatable.
        """
        if attempt > self.max_attempts:
            return None
        draw = (rng or random).random()
        return draw * self.ceiling(attempt)
