//! HTTP handlers: components whose world exports `wasi:http/incoming-handler` (0.2.x), as
//! built by componentize-py, ComponentizeJS, Spin or cargo-component for `wasi:http/proxy`.
//!
//! Host side, at create: [`component_kind`] reads the component's exports (a command still
//! runs as a command), and [`link`] pre-instantiates it (`ProxyPre`) on an engine of its own
//! ([`engine`]: epoch interruption, so that a handler that computes forever still yields).
//!
//! Container side, in the init during create: the listening socket ([`HttpHandler::acquire`],
//! so that an address in use fails create, with the container's own capabilities). After
//! `start` and [`super::confine`]: [`HttpHandler::run`]
//! serves HTTP/1.1 with hyper on `WASMTIME_HTTP_PROXY_SOCKET_ADDR` from `process.env` (the
//! variables of runwasi's wasmtime shim, for drop-in compatibility) on a tokio runtime that runw
//! owns, with one worker thread per CPU the container may use (`Wasi::cpus`), and a fresh
//! instance per request. Faults stay per request: a trap
//! answers 500, a handler past `RUNW_HTTP_REQUEST_TIMEOUT` answers 504, a malformed request
//! gets hyper's 400. SIGTERM/SIGINT stop accepting, let in-flight requests finish (at most
//! `RUNW_HTTP_SHUTDOWN_TIMEOUT`) and exit 0.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{header, Request, Response, StatusCode};
use tokio::signal::unix::{signal, SignalKind};
use wasmparser::{Parser, Payload};
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::wasmtime::{limits, trap_report, unsatisfiable, wasi_builder};
use super::{Outcome, PrepareError, Prepared, Wasi};

/// Where the server listens (runwasi's name and default).
pub const ADDR_ENV: &str = "WASMTIME_HTTP_PROXY_SOCKET_ADDR";
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";
/// The listen backlog (runwasi's name and default).
pub const BACKLOG_ENV: &str = "WASMTIME_HTTP_PROXY_BACKLOG";
pub const DEFAULT_BACKLOG: u32 = 100;
/// Seconds a request's instance may run (until its response body is complete).
pub const TIMEOUT_ENV: &str = "RUNW_HTTP_REQUEST_TIMEOUT";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_ENV: &str = "RUNW_HTTP_SHUTDOWN_TIMEOUT";
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(10);

/// How often the engine's epoch advances: a running handler yields to the others (and to its
/// timeout) at least this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);

const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";
const CLI_RUN: &str = "wasi:cli/run";

/// What a component is, from the names of its exports.
#[derive(Debug, PartialEq, Eq)]
pub enum ComponentKind {
    /// Exports `wasi:cli/run` (0.2.x): runs as a command (also when it serves HTTP too).
    Command,
    /// Exports `wasi:http/incoming-handler` (0.2.x) and no `wasi:cli/run`.
    HttpHandler,
    /// Exports neither: the names it does export.
    Neither(Vec<String>),
}

/// Classifies a component by its top-level exports. A binary wasmparser cannot read is left to
/// the engine (as a command), whose compile error names the problem.
pub fn component_kind(binary: &[u8]) -> ComponentKind {
    let Ok(exports) = component_exports(binary) else {
        return ComponentKind::Command;
    };
    let exports_02 = |interface: &str| {
        exports.iter().any(|name| {
            name.strip_prefix(interface)
                .and_then(|rest| rest.strip_prefix("@0.2."))
                .is_some()
        })
    };
    if exports_02(CLI_RUN) {
        ComponentKind::Command
    } else if exports_02(INCOMING_HANDLER) {
        ComponentKind::HttpHandler
    } else {
        ComponentKind::Neither(exports)
    }
}

/// The names of a component's own exports (not those of the components nested in it).
fn component_exports(binary: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    let mut depth = 0usize;
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(binary) {
        match payload? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    names.push(export?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The one-line reason a component that is neither a command nor an HTTP handler is refused.
pub fn neither_reason(exports: &[String]) -> String {
    let what = if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports.join(", ")
    };
    format!("it exports {what}, neither {CLI_RUN} (a wasi:cli/command) nor {INCOMING_HANDLER} (a wasi:http/proxy), 0.2.x")
}

/// The engine of HTTP handlers: like the commands' (no compiler threads), plus epoch
/// interruption. Its settings are part of the cache key, so its artifacts are its own.
pub fn engine() -> Result<&'static Engine, PrepareError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.parallel_compilation(false);
            config.epoch_interruption(true);
            Engine::new(&config).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| PrepareError::Other(anyhow::anyhow!("cannot start wasmtime: {e}")))
}

struct HttpHost {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for HttpHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// A pre-instantiated HTTP handler component.
pub struct HttpHandler {
    pre: ProxyPre<HttpHost>,
    /// The listening socket, bound in the init during create ([`Prepared::acquire`]).
    listener: Mutex<Option<TcpListener>>,
}

/// Links the component against WASI 0.2 and `wasi:http` (outgoing-handler and types).
pub fn link(engine: &Engine, component: &Component) -> Result<HttpHandler, PrepareError> {
    let mut linker = wasmtime::component::Linker::<HttpHost>::new(engine);
    let other = |e: wasmtime::Error| PrepareError::Other(e.into());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(other)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(other)?;
    let pre = linker.instantiate_pre(component).map_err(unsatisfiable)?;
    let pre = ProxyPre::new(pre).map_err(|e| {
        PrepareError::Invalid(format!(
            "it is not a wasi:http/proxy component: {:#}",
            anyhow::Error::from(e)
        ))
    })?;
    Ok(HttpHandler {
        pre,
        listener: Mutex::new(None),
    })
}

/// The server's settings, from `process.env`.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub backlog: u32,
    pub timeout: Duration,
    pub shutdown: Duration,
}

impl ServerConfig {
    /// The last value of a variable wins, as in a process's environment.
    pub fn from_env(env: &[(String, String)]) -> Result<Self, String> {
        let var = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let addr = var(ADDR_ENV).unwrap_or(DEFAULT_ADDR);
        let addr = addr.parse().map_err(|_| {
            format!("invalid {ADDR_ENV} {addr:?} in process.env: expected IP:PORT, e.g. {DEFAULT_ADDR} or [::]:8080")
        })?;
        let backlog = match var(BACKLOG_ENV) {
            None => DEFAULT_BACKLOG,
            Some(v) => v.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                format!("invalid {BACKLOG_ENV} {v:?} in process.env: expected a number of connections, more than 0")
            })?,
        };
        let seconds = |name: &str, default: Duration| match var(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("invalid {name} {v:?} in process.env: expected seconds, more than 0")
                }),
        };
        Ok(Self {
            addr,
            backlog,
            timeout: seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT)?,
            shutdown: seconds(SHUTDOWN_ENV, DEFAULT_SHUTDOWN)?,
        })
    }
}

impl Prepared for HttpHandler {
    fn serves_http(&self) -> bool {
        true
    }

    fn validate(&self, wasi: &Wasi) -> Result<(), String> {
        ServerConfig::from_env(&wasi.env).map(drop)
    }

    fn acquire(&self, wasi: &Wasi) -> Result<(), String> {
        let listener = listen(&ServerConfig::from_env(&wasi.env)?)?;
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
        Ok(())
    }

    fn kept_fds(&self) -> Vec<std::os::fd::RawFd> {
        let listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        listener.iter().map(AsRawFd::as_raw_fd).collect()
    }

    fn run(&self, wasi: &Wasi) -> Outcome {
        let config = match ServerConfig::from_env(&wasi.env) {
            Ok(config) => config,
            Err(err) => return Outcome::Failed(err),
        };
        // One worker per CPU the container may use: requests are instantiated and run on
        // all of them. The threads start after confinement (so they are confined too) with
        // SIGTERM and SIGINT still blocked: those reach the thread that unblocks them in
        // `serve`, and tokio's handlers. One CPU: no thread beyond the epoch ticker.
        let mut builder = if wasi.cpus > 1 {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(wasi.cpus).thread_name("runw-http");
            builder
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = match builder.enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => return Outcome::Failed(format!("cannot start the WASI runtime: {err}")),
        };
        // Bound by `acquire`, which libcontainer runs (executor validation) before any `run`.
        let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Outcome::Failed(format!("no socket on {} was bound at create", config.addr));
        };
        let server = Arc::new(Server {
            pre: self.pre.clone(),
            wasi: wasi.clone(),
            timeout: config.timeout,
        });
        let outcome = match runtime.block_on(server.serve(&config, listener)) {
            Ok(()) => Outcome::Exited(0),
            Err(err) => Outcome::Failed(err),
        };
        // Past the shutdown timeout, a task still in a blocking call must not hold the exit.
        runtime.shutdown_background();
        outcome
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`], from a thread of the init (started after
/// confinement, so it is confined too; runw's threads on the host are another matter, see
/// `wasmtime.rs`). Without it (a seccomp profile that forbids threads) the server still
/// serves, but a handler that computes without end holds the others up.
fn start_epoch_ticker(engine: Engine) {
    let started = std::thread::Builder::new()
        .name("runw-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        });
    if let Err(err) = started {
        eprintln!("runw: cannot start the epoch thread ({err}): a handler that never yields will hold the others up");
    }
}

struct Server {
    pre: ProxyPre<HttpHost>,
    wasi: Wasi,
    timeout: Duration,
}

/// Why a request's instance ended without a response.
enum Failure {
    Instantiate(wasmtime::Error),
    Trap(wasmtime::Error),
    Timeout,
}

impl Server {
    /// Serves on `listener`, bound during create.
    async fn serve(
        self: Arc<Self>,
        config: &ServerConfig,
        listener: TcpListener,
    ) -> Result<(), String> {
        // SIGTERM and SIGINT were blocked (and queued) since the init started (`super::run`):
        // tokio's handlers take them from here on.
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
        let listener = listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(listener))
            .map_err(|e| format!("cannot serve on {}: {e}", config.addr))?;
        start_epoch_ticker(self.pre.engine().clone());
        super::unblock_stop_signals();
        let addr = listener.local_addr().unwrap_or(config.addr);
        eprintln!("runw: serving HTTP on {addr}");
        super::trim::drop_code_pages();

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let server = self.clone();
                        let mut stop = stop_rx.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let server = server.clone();
                                async move { Ok::<_, std::convert::Infallible>(server.respond(req).await) }
                            });
                            let conn = http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service);
                            tokio::pin!(conn);
                            tokio::select! {
                                _ = conn.as_mut() => {}
                                _ = stop.changed() => {
                                    conn.as_mut().graceful_shutdown();
                                    let _ = conn.await;
                                }
                            }
                        });
                    }
                    // Out of descriptors or memory, or a connection reset before accept: the
                    // server goes on.
                    Err(err) => {
                        eprintln!("runw: cannot accept a connection: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(config.shutdown, drain).await.is_err() {
            eprintln!(
                "runw: {} connections still busy {:?} after the stop signal ({SHUTDOWN_ENV}); closing them",
                connections.len(),
                config.shutdown
            );
        }
        Ok(())
    }

    /// One request, one instance: whatever happens to it, the answer is a response.
    async fn respond(self: Arc<Self>, req: Request<Incoming>) -> Response<HyperOutgoingBody> {
        let (method, path) = (req.method().clone(), req.uri().to_string());
        let ctx = match wasi_builder(&self.wasi) {
            Ok(mut builder) => builder.build(),
            Err(err) => return self.failed(&method, &path, "cannot set up WASI", &err),
        };
        let mut store = Store::new(
            self.pre.engine(),
            HttpHost {
                ctx,
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                limits: limits(&self.wasi),
            },
        );
        store.limiter(|h| &mut h.limits);
        store.epoch_deadline_async_yield_and_update(1);
        let req = match store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
        {
            Ok(req) => req,
            Err(err) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("{:#}\n", anyhow::Error::from(err)),
                )
            }
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let out = match store.data_mut().http().new_response_outparam(sender) {
            Ok(out) => out,
            Err(err) => return self.failed(&method, &path, "cannot set up the response", &err),
        };
        // The instance runs in a task of its own: it may go on writing the body after it has
        // set the response.
        let pre = self.pre.clone();
        let timeout = self.timeout;
        let task = tokio::spawn(async move {
            let work = async {
                let proxy = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Failure::Instantiate)?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
                    .map_err(Failure::Trap)
            };
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or(Err(Failure::Timeout))
        });
        match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the handler answered with an error: {code:?}\n"),
            ),
            Err(_) => match task.await {
                Ok(Ok(())) => plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the handler returned without a response\n".into(),
                ),
                Ok(Err(Failure::Timeout)) => {
                    eprintln!(
                        "runw: {method} {path}: the handler did not answer within {timeout:?} ({TIMEOUT_ENV})"
                    );
                    plain(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("the handler did not answer within {timeout:?}\n"),
                    )
                }
                Ok(Err(Failure::Trap(err))) => {
                    eprintln!(
                        "runw: {method} {path}: wasm handler {} trapped: {}",
                        self.module(),
                        trap_report(&err)
                    );
                    plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the handler trapped\n".into(),
                    )
                }
                Ok(Err(Failure::Instantiate(err))) => {
                    self.failed(&method, &path, "cannot instantiate the handler", &err)
                }
                Err(err) => plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the handler's task failed: {err}\n"),
                ),
            },
        }
    }

    fn module(&self) -> &str {
        self.wasi.args.first().map(String::as_str).unwrap_or("")
    }

    fn failed(
        &self,
        method: &hyper::Method,
        path: &str,
        what: &str,
        err: &wasmtime::Error,
    ) -> Response<HyperOutgoingBody> {
        eprintln!(
            "runw: {method} {path}: {what} {}: {}",
            self.module(),
            format!("{err:#}").replace('\n', " ")
        );
        plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}\n"))
    }
}

/// A listening socket on [`ADDR_ENV`] with the backlog of [`BACKLOG_ENV`].
fn listen(config: &ServerConfig) -> Result<TcpListener, String> {
    let addr = config.addr;
    let failed = |e: std::io::Error| format!("cannot listen on {addr} ({ADDR_ENV}): {e}");
    // std binds with SO_REUSEADDR and listens with a backlog of 128; a second listen(2) on a
    // listening socket sets the configured one.
    let listener = TcpListener::bind(addr).map_err(failed)?;
    let backlog = libc::c_int::try_from(config.backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: listen(2) on a socket this function owns, with an integer argument.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(failed(std::io::Error::last_os_error()));
    }
    Ok(listener)
}

fn plain(status: StatusCode, text: String) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_settings_from_process_env() {
        let config = ServerConfig::from_env(&[]).unwrap();
        assert_eq!(config.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(config.backlog, 100);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        let config = ServerConfig::from_env(&env(&[
            (ADDR_ENV, "127.0.0.1:1"),
            (ADDR_ENV, "[::1]:9000"),
            (BACKLOG_ENV, "7"),
            (TIMEOUT_ENV, "0.5"),
            (SHUTDOWN_ENV, "3"),
        ]))
        .unwrap();
        assert_eq!(config.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(config.backlog, 7);
        assert_eq!(config.timeout, Duration::from_millis(500));
        assert_eq!(config.shutdown, Duration::from_secs(3));
        for (name, value) in [
            (ADDR_ENV, "localhost:80"),
            (ADDR_ENV, "8080"),
            (BACKLOG_ENV, "0"),
            (BACKLOG_ENV, "many"),
            (TIMEOUT_ENV, "-1"),
            (SHUTDOWN_ENV, "inf"),
        ] {
            let err = ServerConfig::from_env(&env(&[(name, value)])).unwrap_err();
            assert!(err.contains(name) && err.contains(value), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn components_are_told_apart_by_their_exports() {
        let component = |exports: &str| {
            wat::parse_str(format!(
                r#"(component
                  (component $inner (import "x" (func)) (export "wasi:cli/run@0.2.0" (func 0)))
                  {exports})"#
            ))
            .unwrap()
        };
        let handler = component(
            r#"(instance $i) (export "wasi:http/incoming-handler@0.2.12" (instance $i))"#,
        );
        assert_eq!(component_kind(&handler), ComponentKind::HttpHandler);
        let command = component(
            r#"(instance $i) (export "wasi:cli/run@0.2.3" (instance $i))
               (export "wasi:http/incoming-handler@0.2.0" (instance $i))"#,
        );
        assert_eq!(component_kind(&command), ComponentKind::Command);
        // The nested component's export is not the component's.
        let other = component(r#"(instance $i) (export "my:pkg/api@1.0.0" (instance $i))"#);
        let ComponentKind::Neither(exports) = component_kind(&other) else {
            panic!("classified as servable");
        };
        assert_eq!(exports, ["my:pkg/api@1.0.0"]);
        let reason = neither_reason(&exports);
        assert!(
            reason.starts_with("it exports my:pkg/api@1.0.0, neither"),
            "{reason}"
        );
        let old =
            component(r#"(instance $i) (export "wasi:http/incoming-handler@0.3.0" (instance $i))"#);
        assert!(matches!(component_kind(&old), ComponentKind::Neither(_)));
        assert!(neither_reason(&[]).starts_with("it exports nothing, neither"));
    }
}
