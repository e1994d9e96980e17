"""The relay's settings, checked at start-up: a bad value stops the app with its name."""

from dataclasses import dataclass

# name -> (type, smallest allowed value, largest allowed value or None)
LIMITS = {
    "REALTIME_BATCH_SIZE": (int, 1, 10_000),
    "REALTIME_PUBLISH_CONCURRENCY": (int, 1, 64),
    "REALTIME_POLL_INTERVAL": (float, 0.01, 3600),
    "REALTIME_COALESCE_WINDOW": (float, 0, 1),
    "REALTIME_MAX_BACKOFF": (float, 0.01, 86_400),
    "REALTIME_MAX_ATTEMPTS": (int, 1, 1_000_000),
    "REALTIME_MAX_EVENT_AGE": (float, 1, 365 * 86_400),
    "EVENTS_RETENTION_DAYS": (int, 1, 36_500),
    "ABLY_TIMEOUT": (float, 0.05, 600),
}


class SettingError(ValueError):
    """A setting's value cannot work; the message names the setting."""


def check_realtime_settings(config) -> None:
    for name, (kind, low, high) in LIMITS.items():
        value = config.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                kind is int and not isinstance(value, int)):
            raise SettingError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                               f"not {value!r}")
        if not low <= value <= high:
            raise SettingError(f"{name} must be between {low} and {high}, not {value!r}")


@dataclass
class RelaySettings:
    batch_size: int = 500
    poll_interval: float = 1.0
    # After a commit wakes the relay, it waits this long so that the commits that follow share
    # its round: under load one round (a handful of round trips) serves many commits.
    coalesce_window: float = 0.02
    max_backoff: float = 30.0
    concurrency: int = 8
    max_attempts: int = 50
    max_event_age: float = 3600.0
    retention_days: int = 90

    @classmethod
    def from_config(cls, config) -> "RelaySettings":
        return cls(batch_size=config["REALTIME_BATCH_SIZE"],
                   poll_interval=config["REALTIME_POLL_INTERVAL"],
                   coalesce_window=config["REALTIME_COALESCE_WINDOW"],
                   max_backoff=config["REALTIME_MAX_BACKOFF"],
                   concurrency=config["REALTIME_PUBLISH_CONCURRENCY"],
                   max_attempts=config["REALTIME_MAX_ATTEMPTS"],
                   max_event_age=config["REALTIME_MAX_EVENT_AGE"],
                   retention_days=config["EVENTS_RETENTION_DAYS"])
