"""Connecting to Ray: the one place that imports it, so the base install runs without it.

`connect(address)` joins a running cluster (`ray start --head` prints its address) or, with no
address, starts a local one; the same engine code then runs on one machine or many. Every node
must see the WORK, model and output folders at the same paths (one machine, or shared storage).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENGINES = ("local", "ray")
INSTALL_HINT = "Ray is not installed: pip install 'neighborwatch[scale]' (or pip install 'ray>=2.9')"


class EngineError(ValueError):
    """A user error about the engine (Ray missing, unknown engine): reported in one line."""


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if engine == "ray":
        ray_module()
    return engine


def ray_module() -> Any:
    """`import ray`, or an EngineError with the install hint."""
    try:
        import ray
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    return ray


@contextmanager
def connect(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, initialised for the block: an already initialised Ray (a test fixture, a caller's
    own `ray.init`) is used as it is and left running; otherwise join `address` or start a
    local instance bound to 127.0.0.1, and shut it down afterwards. Workers get this process's
    PYTHONPATH so that they import the same neighborwatch."""
    ray = ray_module()
    if ray.is_initialized():
        yield ray
        return
    env = {k: os.environ[k] for k in ("PYTHONPATH", "OMP_NUM_THREADS") if k in os.environ}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "runtime_env": {"env_vars": env} if env else None,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(address="local", num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
