"""A `wasi:http/proxy` handler for runw's tests, built with componentize-py
(tests/wasm_common/http.rs; hack/build-http-handlers.sh).

Routes:
  /echo...          200: the method, path, headers and body of the request
  /status/N         N
  /trap             raises: the component traps (runw answers 500)
  /sleep/N          200 after N seconds (wasi:clocks)
  /spin             computes forever (never answers)
  /alloc/N          200 after allocating N MiB (fails past the instance's memory limit)
  /fetch?url=U      the body of a GET of U (wasi:http/outgoing-handler); 502 with the error
  anything else     200 "hello from componentize-py"
Each request also prints one line on stdout: "python handled METHOD PATH".
"""

from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import monotonic_clock, outgoing_handler
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    Method_Other,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
)


def method_name(method) -> str:
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def read_all(body: IncomingBody) -> bytes:
    data = bytearray()
    with body.stream() as stream:
        while True:
            try:
                data += stream.blocking_read(16384)
            except Err as err:
                if isinstance(err.value, StreamError_Closed):
                    break
                raise
    IncomingBody.finish(body)
    return bytes(data)


def respond(out: ResponseOutparam, status: int, body: bytes) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
    response.set_status_code(status)
    response_body = response.body()
    ResponseOutparam.set(out, Ok(response))
    with response_body.write() as stream:
        # blocking-write-and-flush takes at most 4096 bytes at a time.
        for i in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[i : i + 4096])
    OutgoingBody.finish(response_body, None)


def fetch(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    request = OutgoingRequest(Fields())
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request.set_path_with_query(path)
    try:
        future = outgoing_handler.handle(request, None)
    except Err as err:
        return 502, f"fetch {url} failed: {err.value}\n".encode()
    with future.subscribe() as ready:
        ready.block()
    result = future.get()
    if not isinstance(result, Ok) or not isinstance(result.value, Ok):
        inner = result.value if isinstance(result, Ok) else result
        return 502, f"fetch {url} failed: {getattr(inner, 'value', inner)}\n".encode()
    response = result.value.value
    status = response.status()
    body = read_all(response.consume())
    return (200 if status == 200 else 502), body


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = method_name(request.method())
        path = request.path_with_query() or "/"
        with request.headers() as fields:
            headers = fields.entries()
        body = read_all(request.consume())
        print(f"python handled {method} {path}", flush=True)
        route = urlsplit(path).path

        if route.startswith("/echo"):
            lines = [f"method: {method}", f"path: {path}"]
            lines += [f"header: {name}: {value.decode(errors='replace')}" for name, value in headers]
            lines.append(f"body: {body.decode(errors='replace')}")
            respond(response_out, 200, ("\n".join(lines) + "\n").encode())
        elif route.startswith("/status/"):
            status = int(route.removeprefix("/status/"))
            respond(response_out, status, f"status {status}\n".encode())
        elif route == "/trap":
            raise RuntimeError("trap requested by /trap")
        elif route.startswith("/sleep/"):
            seconds = float(route.removeprefix("/sleep/"))
            with monotonic_clock.subscribe_duration(int(seconds * 1e9)) as timer:
                timer.block()
            respond(response_out, 200, f"slept {seconds:g}s\n".encode())
        elif route == "/spin":
            n = 0
            while True:
                n += 1
        elif route.startswith("/alloc/"):
            mib = int(route.removeprefix("/alloc/"))
            block = bytearray(mib << 20)
            respond(response_out, 200, f"allocated {len(block) >> 20} MiB\n".encode())
        elif route == "/fetch":
            url = parse_qs(urlsplit(path).query).get("url", [""])[0]
            status, fetched = fetch(url)
            respond(response_out, status, fetched)
        else:
            respond(response_out, 200, b"hello from componentize-py\n")
