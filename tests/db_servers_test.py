"""The server fixture fails loudly, naming the package, when a server is not installed
(CI must not skip the server tests); the servers themselves run in lineage_servers_test."""

import pytest

from tests import db_servers


def test_a_missing_server_names_the_package_to_install():
    with pytest.raises(db_servers.ServerMissing) as missing:
        db_servers._binary("mariadbd-not-installed", "mariadb-server", ("/nonexistent",))
    assert str(missing.value) == (
        "mariadbd-not-installed not found: install it with "
        "`apt-get install -y mariadb-server` (make test does)"
    )


def test_free_ports_are_on_loopback_and_usable():
    port = db_servers.free_port()
    assert 1024 < port < 65536
