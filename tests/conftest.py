"""Shared pytest fixtures, and the Genesys SDK's config-file watcher switched off."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def frame_bytes():
    """Read a golden wire frame from tests/data/frames by stem name."""

    def read(name: str) -> bytes:
        return (DATA / "frames" / f"{name}.json").read_bytes()

    return read


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """Give SIGINT/SIGTERM back their handlers after each test.

    A safety net: ``diarkit capture`` used to ignore both once its capture had stopped
    (fixed: ``run_capture`` restores them, tests/capture/test_cli_signals.py); invoked
    in-process by a test (``CliRunner``), that left the test process ignoring them, and
    every subprocess it started later inherited the ignored SIGINT: ``diarkit simulate``
    stopped with Ctrl-C by a later test on the same xdist worker ran its whole
    ``--duration`` (31 s, not 1 s).
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) != handler:
            signal.signal(sig, handler)


# The official Genesys SDK (purecloudplatformclientv2, the tests' conformance oracle) makes
# a ``Configuration`` when imported that live-reloads ``~/.genesyscloudpython/config``: a
# watchdog thread watches that folder, or, when it does not exist, the nearest existing
# parent, i.e. the whole home folder, recursively (17,500 folders on the dev machine: 3 s
# of CPU and one inotify watch per folder, in every pytest-xdist worker, counted against
# the user's system-wide inotify limit). The tests configure the SDK in code, so the
# watcher is switched off as the SDK's configuration module is loaded; its config file is
# still read once, as before.
_SDK_CONFIGURATION = "PureCloudPlatformClientV2.configuration"


class _NoObserver:
    """Stands in for ``watchdog.observers.Observer`` in the SDK's configuration module."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def schedule(self, *args: Any, **kwargs: Any) -> None: ...
    def unschedule_all(self) -> None: ...


def _no_live_reload(module: ModuleType) -> None:
    module.Observer = _NoObserver  # the module's global: ``Configuration`` calls it


class _SdkConfigurationHook(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != _SDK_CONFIGURATION:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            _no_live_reload(module)

        loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec


if _SDK_CONFIGURATION in sys.modules:  # imported before this conftest (a plugin)
    _no_live_reload(sys.modules[_SDK_CONFIGURATION])
elif not any(isinstance(f, _SdkConfigurationHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _SdkConfigurationHook())
