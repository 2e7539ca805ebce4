"""The model's requests go through aiohttp (engine/http_transport.py) but read the environment as
the SDK's own transport does: a proxy named by HTTP_PROXY is used (NO_PROXY skips it), and a
~/.netrc entry for the endpoint's host neither replaces nor clashes with the API key."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from scripted_server import ScriptedServer, answer, tools

TOOL = "get_order_status"
KEY = "sk-test-not-a-real-key"


class RelayProxy:
    """A forward proxy for plain HTTP on loopback: each connection piped to the one host it is for
    (the model's), byte for byte; it counts the connections it relayed."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def scripted():
    with ScriptedServer() as srv:
        srv.add(tools((TOOL, {"order_id": "A1002"})), answer("Order A1002 is a day late.", order_id="A1002"))
        yield srv


def model_env(srv: ScriptedServer, **more: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.base_url, "NO_PROXY": "", "no_proxy": "", **more}


@pytest.mark.parametrize("bypassed", [False, True], ids=["through the proxy", "NO_PROXY"])
def test_the_model_is_reached_through_the_proxy_the_environment_names(run_triage, scripted, bypassed):
    host, port = scripted.base_url.split("//")[1].split("/")[0].split(":")
    proxy = RelayProxy((host, int(port)))
    try:
        env = model_env(scripted, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        if bypassed:
            env.update(NO_PROXY=host, no_proxy=host)
        result = run_triage("ask", "Where is A1002?", env=env, process=True)
    finally:
        proxy.close()

    assert result.code == 0, result.err
    assert "A1002 is a day late" in result.out
    assert len(scripted.requests) == 2  # the tool round and the answer
    assert (proxy.connections == 0) if bypassed else (proxy.connections >= 1)


def test_a_netrc_login_for_the_endpoint_neither_replaces_nor_clashes_with_the_key(run_triage, scripted, tmp_path: Path):
    home = tmp_path / "user"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-key\n")
    netrc.chmod(0o600)

    result = run_triage("ask", "Where is A1002?", env=model_env(scripted, HOME=str(home), NETRC=str(netrc)),
                        process=True)

    assert result.code == 0, result.err
    assert [headers["authorization"] for headers in scripted.headers] == [f"Bearer {KEY}"] * 2
