"""Roles per named client, parsed from configuration."""

import pytest

from app.config import Settings


def test_roles_from_configuration():
    s = Settings.from_env(
        {"COPYDESK_API_KEYS": "a:k1,r:k2,x:k3", "COPYDESK_API_ROLES": "r:review+generate,x:audit"}
    )
    assert s.roles_of("a") == {"generate"}
    assert s.roles_of("r") == {"generate", "review"}
    assert s.roles_of("x") == {"audit"}
    assert Settings().roles_of(None) == {"generate", "review", "audit"}  # no keys: loopback, all roles


@pytest.mark.parametrize("roles", ["nobody:review", "a:approve", "a:", "a"])
def test_bad_roles_are_refused(roles):
    with pytest.raises(ValueError, match="COPYDESK_API_ROLES"):
        Settings.from_env({"COPYDESK_API_KEYS": "a:k1", "COPYDESK_API_ROLES": roles})
