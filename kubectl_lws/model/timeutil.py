"""Kubernetes timestamps (RFC 3339) to seconds; pure so ages are testable with a fixed ``now``."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python < 3.11 accepts at most 6 fractional digits
        head, _, rest = text.partition(".")
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac):]
        text = f"{head}.{frac[:6]}{tz}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def age_seconds(value: str | None, now: datetime | None = None) -> float | None:
    dt = parse_time(value)
    if dt is None:
        return None
    return ((now or datetime.now(timezone.utc)) - dt).total_seconds()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
