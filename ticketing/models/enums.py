"""PostgreSQL enum types made from Python enums (stored by value)."""

import enum

from sqlalchemy import Enum


def pg_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    return Enum(enum_cls, name=name, values_callable=lambda cls: [m.value for m in cls])
