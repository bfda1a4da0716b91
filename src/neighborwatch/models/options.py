"""One configuration idiom for every detector: a frozen dataclass with a strict `from_dict`.

A detector's constructor is `Detector(config=None, **overrides)`; `configure` builds the frozen
config from the detector's `Config` class, and a key that is not a field raises
`UnknownOptionError` — one error type for a mistyped option anywhere (a JSON preset, `--params`,
a saved manifest), naming the option and the known ones. Checks of values live in each config's
`__post_init__`, so a bad value fails when the config is built, not half-way through `fit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

C = TypeVar("C", bound="DetectorConfig")


class UnknownOptionError(ValueError):
    """A detector option that does not exist (a typo must not be ignored silently)."""


@dataclass(frozen=True)
class DetectorConfig:
    """Base of the detectors' configs (fields: each subclass's; methods: here)."""

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any], owner: str | None = None) -> C:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UnknownOptionError(
                f"{owner or cls.__name__}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self: C, owner: str | None = None, **changes: Any) -> C:
        """A copy with `changes` (strict: an unknown key is an error)."""
        return type(self).from_dict({**self.to_dict(), **changes}, owner)


def configure(config_class: type[C], config: C | None, overrides: Mapping[str, Any], owner: str) -> C:
    """The detector's config: `config` (or the defaults) with `overrides` applied, strictly."""
    return (config or config_class()).replace(owner, **overrides)


def known_part(config_class: type[DetectorConfig], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a saved manifest's config (the manifest also holds vocab_size, history...)."""
    names = {f.name for f in fields(config_class)}
    return {k: v for k, v in saved.items() if k in names}
