import socket

from docflow.testing import free_port
from docflow.testing.process import _ephemeral_range


def test_a_free_port_is_outside_the_range_outgoing_connections_take() -> None:
    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert all(not low <= port <= high for port in ports)


def test_a_free_port_is_never_handed_out_twice_and_can_be_bound() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
