"""websockets_fast.sync.router: dispatch by URL with werkzeug URL maps."""

import threading

import pytest

routing = pytest.importorskip("werkzeug.routing")

from websockets_fast.exceptions import InvalidStatus  # noqa: E402
from websockets_fast.sync.client import connect  # noqa: E402
from websockets_fast.sync.router import route  # noqa: E402

BOUND = 10.0


def hello(websocket):
    websocket.send("hello")


def room(websocket, number):
    websocket.send(f"room {number} {type(number).__name__}")


def test_route():
    url_map = routing.Map(
        [
            routing.Rule("/", endpoint=hello),
            routing.Rule("/room/<int:number>", endpoint=room),
            routing.Rule("/old", redirect_to="/"),
        ]
    )
    seen = []

    def process_request(connection, request):
        seen.append(request.path)

    with route(url_map, "127.0.0.1", 0, process_request=process_request) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
            with connect(uri + "/") as websocket:
                assert websocket.recv(timeout=BOUND) == "hello"
            with connect(uri + "/room/42") as websocket:
                assert websocket.recv(timeout=BOUND) == "room 42 int"
            with connect(uri + "/old") as websocket:  # redirected to /
                assert websocket.recv(timeout=BOUND) == "hello"
            with pytest.raises(InvalidStatus) as info:
                connect(uri + "/nowhere")
            assert info.value.response.status_code == 404
        finally:
            server.shutdown()
            thread.join(BOUND)
    assert seen == ["/", "/room/42", "/old", "/", "/nowhere"]
