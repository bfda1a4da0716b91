"""Live detection: events arrive one by one, each is scored the moment it is released.

Layers (dependency direction downward): `engine` (ordering, dedup, sessions, scoring, risk,
alerts) over `session_state`, `scorer`, `risk`, `alerts`; `runtime` drives an engine from a
`sources` object to `sinks`, taking `snapshot`s so that a restart resumes without loss.
"""
