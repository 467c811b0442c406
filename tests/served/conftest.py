"""One archive per module here: each module shares one run (or one server) among its tests."""

import pytest


@pytest.fixture(scope="module", name="home")
def module_home(module_env):
    """The module's archive (``STAGEBOOK_HOME``), instead of one per test."""
    return module_env[1]
