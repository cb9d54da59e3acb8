// A `wasi:http/proxy` handler for runw's tests, built with ComponentizeJS through jco
// (tests/wasm_common/http.rs; hack/build-http-handlers.sh). The same routes as app.py:
//   /echo...      200: the method, path, headers and body of the request
//   /status/N     N
//   /trap         throws (StarlingMonkey answers 500 itself; runw answers 500 on a real trap)
//   /sleep/N      200 after N seconds
//   /fetch?url=U  the body of a GET of U (wasi:http/outgoing-handler); 502 with the error
//   anything else 200 "hello from componentize-js"
// Each request also prints one line on stdout: "js handled METHOD PATH".

function text(body, status = 200) {
  return new Response(body, { status, headers: { "content-type": "text/plain" } });
}

async function handle(request) {
  const url = new URL(request.url);
  const path = url.pathname + url.search;
  const route = url.pathname;
  const body = await request.text();
  console.log(`js handled ${request.method} ${path}`);

  if (route.startsWith("/echo")) {
    const lines = [`method: ${request.method}`, `path: ${path}`];
    for (const [name, value] of request.headers) lines.push(`header: ${name}: ${value}`);
    lines.push(`body: ${body}`);
    return text(lines.join("\n") + "\n");
  }
  if (route.startsWith("/status/")) {
    const status = Number(route.slice("/status/".length));
    return text(`status ${status}\n`, status);
  }
  if (route === "/trap") {
    throw new Error("trap requested by /trap");
  }
  if (route.startsWith("/sleep/")) {
    const seconds = Number(route.slice("/sleep/".length));
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return text(`slept ${seconds}s\n`);
  }
  if (route === "/fetch") {
    const target = url.searchParams.get("url") || "";
    try {
      const response = await fetch(target);
      return text(await response.text(), response.status === 200 ? 200 : 502);
    } catch (err) {
      return text(`fetch ${target} failed: ${err}\n`, 502);
    }
  }
  return text("hello from componentize-js\n");
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
