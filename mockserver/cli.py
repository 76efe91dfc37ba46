"""The `humanloop-mock` command: `serve` the fake server, print the `openapi` document, `check` a config."""

from __future__ import annotations

import gc
import json
import logging
import os
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click

from contracts.check.command import FiniteFloatRange
from contracts.check.command import check as check_command
from contracts.openapi import openapi_json
from mockserver.app import create_app
from mockserver.fixed_unicode import quoted
from mockserver.http import console
from mockserver.http.hostcheck import ANY_HOST, is_loopback
from mockserver.http.server import (
    LOOPBACK,
    MockServer,
    ServerOptions,
    base_url,
    bind_socket,
    connection_cap,
    raise_open_file_limit,
    uvicorn_config,
)
from mockserver.proxy.forward import origin_of
from mockserver.proxy.outputs import cannot_write
from mockserver.recording import DEFAULT_IGNORE, CassetteError
from mockserver.recording.command import cassette as cassette_command
from mockserver.settings import (
    DEFAULT_JOURNAL_LIMIT,
    DEFAULT_LOG_LIMIT,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BODY_VALUES,
    DEFAULT_MAX_KEPT_BYTES,
    DEFAULT_MAX_PROMPT_BYTES,
    DEFAULT_MAX_PROVISIONED,
    DEFAULT_MAX_TENANTS,
    DEFAULT_SEED,
    DEFAULT_TENANT_IDLE_TIMEOUT,
    MockSettings,
)
from mockserver.spec.config_file import ConfigFileError, load_spec
from mockserver.spec.models import MockSpec, default_spec
from mockserver.spec.rules import describe_match

log = logging.getLogger("humanloop_mock")
_DEFAULTS = ServerOptions()
# Every setting a container or CI service needs can come from the environment (the flag wins).
ENV_PREFIX = "HUMANLOOP_MOCK_"
API_KEY_ENV = f"{ENV_PREFIX}API_KEYS"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})


_SECONDS = FiniteFloatRange(min=0, min_open=True)
STDOUT_GRACE_SECONDS = 2.0  # at shutdown, how long the last lines may take to reach a slow stdout


def bind_host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`--host`: an address as a URL writes it is taken too (`[::1]` is `::1`); an empty one is refused,
    as the socket layer would read it as every interface (not what an empty value means to anyone)."""
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise click.BadParameter("empty; give an address to bind, such as 127.0.0.1 (loopback, the default) "
                                 "or 0.0.0.0 (every interface)")
    return host


def check_combinations(ctx: click.Context, flags: dict[str, Any]) -> None:
    """Flags that do nothing without another, or that contradict one: a usage error (exit 2) at start."""
    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)

    for name, flag in (("replay_speed", "--replay-speed"), ("replay_ignore", "--replay-ignore")):
        if given(name) and not flags["replay"]:
            raise click.UsageError(f"{flag} sets how --replay answers: give --replay FILE")
    if flags["record_on_miss"] and not (flags["replay"] and flags["upstream"]):
        raise click.UsageError("--record-on-miss needs --replay FILE and --upstream URL (it fetches what the "
                               "cassette lacks and appends it)")
    if flags["record"] and flags["replay"] and os.path.realpath(flags["record"]) == os.path.realpath(flags["replay"]):
        raise click.UsageError("--record and --replay name the same file: each replayed answer would be appended "
                               "to the cassette it came from (to add what the cassette lacks: --record-on-miss)")


def _version() -> str:
    try:
        return version("humanloop-mock")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def declared(spec: MockSpec) -> list[str]:
    """What a spec declares, one line each: projects, experiments with their configs, scripts, faults."""
    lines = _experiment_lines(spec)[0]
    for index, script in enumerate(spec.scripts, start=1):
        answer = script.answer or (script.answers or [None])[0]
        what = f"{len(script.answers)} answers" if script.answers else quoted((answer.output if answer else "")[:40])
        times = "always" if script.times is None else f"{script.times}x"
        lines.append(f"script {quoted(script.name or f'script-{index}')}: {what} when {describe_match(script.match)}"
                     f" ({times})")
    for index, fault in enumerate(spec.faults, start=1):
        effects = fault.model_dump(exclude_none=True, exclude={"name", "match", "times", "reset"})
        if fault.reset:
            effects["reset"] = True
        times = "always" if fault.times is None else f"{fault.times}x"
        what = ", ".join(f"{k}={v}" for k, v in effects.items())
        lines.append(f"fault {quoted(fault.name or f'fault-{index}')}: {what} when {describe_match(fault.match)}"
                     f" ({times})")
    return lines


def _experiment_lines(spec: MockSpec) -> tuple[list[str], str | None]:
    lines: list[str] = []
    first_experiment = None
    for project in spec.projects:
        lines.append(f"project {quoted(project.name)} ({project.id or 'id derived from name'})")
        for experiment in project.experiments:
            first_experiment = first_experiment or experiment.id
            total = sum(c.weight for c in experiment.configs) or 1
            adaptive = ", adaptive sampling" if experiment.sampling == "adaptive" else ""
            lines.append(f"  experiment {quoted(experiment.name)}: {experiment.id or 'id derived from name'}{adaptive}")
            for config in experiment.configs:
                share = f"weight {config.weight:g} ({100 * config.weight / total:.0f}%)"
                if experiment.sampling == "adaptive":
                    share = "drawn by feedback"
                lines.append(f"    config {config.id or config.name or config.model}: {config.model}, {share}"
                             f"{'' if config.active else ', inactive'}{', timed' if config.timing else ''}")
    return lines, first_experiment


def local_url(host: str, port: int) -> str:
    """The base URL to print. Bound to every address (as in a container), the server is reached as 127.0.0.1
    where it runs: `http://0.0.0.0:8000` would send `Host: 0.0.0.0`, which the Host check refuses."""
    return base_url(LOOPBACK if host in WILDCARD_HOSTS else host, port)


def host_check_note(host: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """For a server bound beyond loopback, which `Host` headers it answers (what a 400 in CI is about)."""
    if is_loopback(host):
        return None
    if not allowed_hosts or ANY_HOST in allowed_hosts:
        return f"Listening on {host}: every Host header is answered (the Host check is off)."
    names = ", ".join(["127.0.0.1", "localhost", "[::1]", *allowed_hosts])
    return (f"Listening on {host}: answers Host {names}; others get 400 (add names with --allowed-host "
            f"or ${ENV_PREFIX}ALLOWED_HOSTS).")


def traffic_lines(settings: MockSettings) -> list[str]:
    """What answers besides the mock, and what is recorded (docs/recording.md)."""
    lines = []
    if settings.replay:
        miss = "fetched from the upstream and appended" if settings.record_on_miss else "a 404 naming the nearest"
        lines.append(f"Replaying {settings.replay} at speed {settings.replay_speed:g} (a request matching no "
                     f"recording: {miss}).")
    if settings.upstream:
        lines.append(f"Proxy to {origin_of(settings.upstream)}: every /v4 request no script or fault answers "
                     "is forwarded, and every answer checked (GET /__admin/violations).")
    if settings.record:
        lines.append(f"Recording every exchange to {settings.record} (keys replaced).")
    return lines


def banner(settings: MockSettings, url: str, note: str | None = None) -> str:
    """What `serve` prints at start: where it is, what it knows, and how to call it (keys never shown)."""
    mode = [f"seed {settings.seed}"] + (["strict"] if settings.strict else []) + (
        [f"isolated keys, at most {settings.max_tenants} tenants"] if settings.isolate_keys else [])
    lines = [f"humanloop-mock {_version()} serving Humanloop v4 at {url}  ({', '.join(mode)})", "",
             "Pass this base URL as the SDK's `host`.", *([note] if note else []), *traffic_lines(settings), ""]
    lines += declared(settings.spec)
    _, first_experiment = _experiment_lines(settings.spec)
    admin = url.removesuffix("/v4") + "/__admin"
    experiment_id = first_experiment or "exp_anything"
    body = json.dumps({"experiment_id": experiment_id, "messages": [{"role": "user", "content": "Hello"}]})
    key = "$HUMANLOOP_API_KEY" if settings.api_keys else "any-key"
    python_key = 'os.environ["HUMANLOOP_API_KEY"]' if settings.api_keys else repr(key)
    key_note = (["(use one of the keys given with --api-key; they are never printed)"] if settings.api_keys else [])
    lines += [
        "",
        "Try it:",
        f"  curl -s {url}/chat-experiment -H \"X-API-KEY: {key}\" -H 'Content-Type: application/json' \\",
        f"    -d '{body}'",
        "",
        *(["  import os", ""] if settings.api_keys else []),
        "  from humanloop import Humanloop",
        f"  hl = Humanloop(api_key={python_key}, host={url!r})",
        f"  reply = hl.chat_experiment(experiment_id={experiment_id!r},",
        "                              messages=[{'role': 'user', 'content': 'Hello'}])",
        "  print(reply.data[0].output)",
        *key_note,
        "",
        f"Admin API: {admin}/ (journal page), {admin}/openapi.json; see docs/admin.md.",
        (f"One line per request follows (--no-access-log: none); {admin}/requests has each in full."
         if settings.access_log else f"Requests are not logged here; {admin}/requests has each in full."),
        "Unknown experiment ids are provisioned on first use" + (" (off: --strict)." if settings.strict else
                                                               "; --strict answers 404 instead."),
    ]
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="humanloop-mock")
def main() -> None:
    """A deterministic stand-in for Humanloop's v4 Chat Experiment API."""


@main.command()
@click.option("--host", default=LOOPBACK, show_default=True, envvar=f"{ENV_PREFIX}HOST", show_envvar=True,
              callback=bind_host, help="Interface to bind (loopback by default; IPv6 as ::1 or [::1]).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), envvar=f"{ENV_PREFIX}PORT",
              show_envvar=True, help="0 picks a free port.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, envvar=f"{ENV_PREFIX}SEED",
              show_envvar=True, help="Decides every id, draw and text.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar=f"{ENV_PREFIX}CONFIG",
              show_envvar=True, help="TOML, YAML or JSON spec file.")
@click.option("--api-key", "api_keys", multiple=True, envvar=API_KEY_ENV,
              help=f"Accept only this X-API-KEY (repeatable; or space-separated in ${API_KEY_ENV}, which "
                   "keeps keys out of the process list).")
@click.option("--strict", is_flag=True, envvar=f"{ENV_PREFIX}STRICT", show_envvar=True,
              help="Unknown experiment/project ids get 404, like the real service.")
@click.option("--max-body-bytes", default=DEFAULT_MAX_BODY_BYTES, show_default=True, type=click.IntRange(1))
@click.option("--journal-limit", default=DEFAULT_JOURNAL_LIMIT, show_default=True, type=click.IntRange(0),
              help="Requests kept in the journal (0 = all).")
@click.option("--log-limit", default=DEFAULT_LOG_LIMIT, show_default=True, type=click.IntRange(0),
              help="Answer log ids remembered for feedback, per world (0 = no count limit; the byte budget "
                   "still applies); older ones get 404.")
@click.option("--stream-done-event", is_flag=True, help="End streams with `data: [DONE]`.")
@click.option("--isolate-keys", is_flag=True, envvar=f"{ENV_PREFIX}ISOLATE_KEYS", show_envvar=True,
              help="Each X-API-KEY gets its own world (state, counters, scripts, faults, journal).")
@click.option("--max-tenants", default=DEFAULT_MAX_TENANTS, show_default=True, type=click.IntRange(1),
              help="With --isolate-keys: worlds kept (a new key gets 503 while all are in use).")
@click.option("--tenant-idle-timeout", default=DEFAULT_TENANT_IDLE_TIMEOUT, show_default=True, type=_SECONDS,
              help="With --isolate-keys: seconds a world must be unused before a new key may take its slot "
                   "(until then a new key gets 503).")
@click.option("--max-kept-bytes", default=DEFAULT_MAX_KEPT_BYTES, show_default=True, type=click.IntRange(1),
              help="Bytes every world keeps and holds together: journal, memo, log ids, specs, scripts, faults "
                   "and runtime state (the world using the most gives up its oldest entries first).")
@click.option("--max-body-values", default=DEFAULT_MAX_BODY_VALUES, show_default=True, type=click.IntRange(1),
              help="JSON values and keys a request body may hold; more gets 413 before it is parsed.")
@click.option("--max-prompt-bytes", default=DEFAULT_MAX_PROMPT_BYTES, show_default=True, type=click.IntRange(1),
              help="Largest rendered prompt (template with inputs, plus messages); larger gets 413.")
@click.option("--max-answer-bytes", default=DEFAULT_MAX_ANSWER_BYTES, show_default=True, type=click.IntRange(1),
              help="Largest JSON answer; a request whose answer would be larger gets 413.")
@click.option("--max-provisioned", default=DEFAULT_MAX_PROVISIONED, show_default=True, type=click.IntRange(1),
              help="Unknown experiment/project ids kept at once (least recently used forgotten).")
@click.option("--header-timeout", default=_DEFAULTS.header_timeout, show_default=True, type=_SECONDS,
              help="Seconds for a request's headers to arrive (then 408).")
@click.option("--body-timeout", default=_DEFAULTS.body_timeout, show_default=True, type=_SECONDS,
              help="Seconds for a request's body to arrive (then 408).")
@click.option("--idle-timeout", default=_DEFAULTS.idle_timeout, show_default=True, type=_SECONDS,
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--send-timeout", default=_DEFAULTS.send_timeout, show_default=True, type=_SECONDS,
              help="Seconds a client may read nothing of an answer before it is dropped.")
@click.option("--max-connections", default=_DEFAULTS.max_connections, show_default=True, type=click.IntRange(1),
              help="Open connections at once; more get 503 (lowered to fit the open-file limit).")
@click.option("--max-header-bytes", default=_DEFAULTS.max_header_bytes, show_default=True,
              type=click.IntRange(256), help="Largest request line plus headers; larger get 431.")
@click.option("--shutdown-timeout", default=_DEFAULTS.shutdown_timeout, show_default=True,
              type=FiniteFloatRange(min=0),
              help="Seconds open answers get after SIGTERM/SIGINT (a second signal exits at once).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, envvar=f"{ENV_PREFIX}ALLOWED_HOSTS", show_envvar=True,
              help="Also answer this Host header when bound to loopback, or turn the check on elsewhere "
                   "(repeatable, or space-separated in the variable; '*' turns the check off).")
@click.option("--upstream", metavar="URL", envvar=f"{ENV_PREFIX}UPSTREAM", show_envvar=True,
              help="Proxy mode: forward every /v4 request to this base URL (as an SDK's host takes it, e.g. "
                   "http://127.0.0.1:9000/v4), relay its answers as they arrive and check each one.")
@click.option("--upstream-ca-bundle", metavar="FILE", envvar=f"{ENV_PREFIX}UPSTREAM_CA_BUNDLE", show_envvar=True,
              type=click.Path(exists=True, dir_okay=False),
              help="With --upstream: trust only these CA certificates (PEM) for an https:// upstream, e.g. a "
                   "private deployment's own CA (default: the certifi bundle).")
@click.option("--record", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write every exchange (proxied, replayed or mocked) to this cassette (HAR; keys replaced).")
@click.option("--replay", metavar="FILE", type=click.Path(dir_okay=False),
              help="Answer /v4 requests from this cassette (a request matching none gets a 404 naming the "
                   "nearest recordings).")
@click.option("--replay-speed", default=1.0, show_default=True, type=FiniteFloatRange(min=0),
              help="Replay pace: 1 = as recorded, 2 = twice as fast, 0 = no waiting.")
@click.option("--replay-ignore", multiple=True, metavar="FIELD", default=DEFAULT_IGNORE, show_default=True,
              help="Top-level body field (dotted path, * for any list item) that replay matching ignores "
                   "(repeatable; giving any replaces the default).")
@click.option("--record-on-miss", is_flag=True,
              help="With --replay and --upstream: a request the cassette lacks is forwarded, and its answer "
                   "appended to the cassette.")
@click.option("--report", metavar="FILE", type=click.Path(dir_okay=False),
              help="With --upstream: write the passive checks' report (JSON) here at shutdown.")
@click.option("--junit", metavar="FILE", type=click.Path(dir_okay=False),
              help="With --upstream: write the passive checks as JUnit XML here at shutdown.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request on stdout (at log level info or debug).")
@click.pass_context
def serve(ctx: click.Context, **flags: Any) -> None:
    """Run the fake server (Ctrl-C stops it; a second Ctrl-C stops it at once)."""
    check_combinations(ctx, flags)
    settings = ServeSettings.from_flags(flags)
    serve_with(settings)


@dataclass(frozen=True)
class ServeSettings:
    """Everything `serve` was told, in one object: where to listen and what to log, the app's settings
    (`MockSettings`) and the connection layer's (`ServerOptions`). Each flag is named as the field it sets
    (`--max-body-bytes` is `MockSettings.max_body_bytes`), and its default is that field's default."""

    host: str
    port: int
    log_level: str
    mock: MockSettings
    server: ServerOptions
    report: str | None = None  # --report: the passive checks' report, written at shutdown
    junit: str | None = None  # --junit: the same as JUnit XML

    @classmethod
    def from_flags(cls, flags: dict[str, Any]) -> ServeSettings:
        """The flags, each put in the one field of its name (a flag that names no field is a bug)."""
        flags = dict(flags)
        config_path = flags.pop("config_path")
        host, port, log_level = flags.pop("host"), flags.pop("port"), flags.pop("log_level")
        report, junit = flags.pop("report"), flags.pop("junit")
        if (report or junit) and not flags["upstream"]:
            raise click.UsageError("--report and --junit write the passive checks of --upstream: give --upstream URL")
        for name, path in (("--report", report), ("--junit", junit)):  # found now, not after a long run
            problem = cannot_write(path) if path else None
            if problem:
                raise click.BadParameter(problem, param_hint=name)
        if flags["upstream_ca_bundle"] and not flags["upstream"]:
            raise click.UsageError("--upstream-ca-bundle is the CA of --upstream: give --upstream URL")
        flags["access_log"] = flags["access_log"] and log_level in ("debug", "info")  # (lines go out at info)
        mock_fields = {f.name for f in fields(MockSettings)}
        server_fields = {f.name for f in fields(ServerOptions)}
        unknown = set(flags) - mock_fields - server_fields
        if unknown:
            raise RuntimeError(f"serve flags that set nothing: {sorted(unknown)}")
        spec = _load_or_exit(config_path) if config_path else default_spec()
        mock = MockSettings(spec=spec, **{name: value for name, value in flags.items() if name in mock_fields})
        server = ServerOptions(**{name: value for name, value in flags.items() if name in server_fields})
        return cls(host, port, log_level, mock, server, report, junit)


def serve_with(serving: ServeSettings) -> None:
    host, port, log_level = serving.host, serving.port, serving.log_level
    settings, options = serving.mock, serving.server
    max_connections, max_tenants = options.max_connections, settings.max_tenants
    closed = console.fill_closed_streams()
    console.queue_stderr()  # (before any log handler takes sys.stderr)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if "stdout" in closed:
        log.warning("Standard output is closed: the banner and the access log go nowhere (the journal, "
                    "GET /__admin/requests, has every request).")
    try:
        sock = bind_socket(host, port)
    except OSError as error:
        raise click.ClickException(f"cannot bind {host}:{port}: {error.strerror}") from None
    open_files = raise_open_file_limit()
    cap = connection_cap(options, open_files)
    if cap < max_connections:
        log.warning("Open-file limit is %d: serving at most %d connections at once (not %d).",
                    open_files, cap, max_connections)
    try:  # a cassette or an upstream flag that cannot work stops here, before the banner says it serves
        app = create_app(settings)
    except (ValueError, CassetteError) as refused:
        sock.close()
        raise click.ClickException(str(refused)) from None
    # (stdout through `console`: a full disk, a closed stdout or a pipe nobody reads never stops the server;
    # the warnings so far first, for a reader of both in one file)
    if console.stderr is not None:
        console.stderr.drain()
    console.stdout.write(banner(settings, local_url(host, sock.getsockname()[1]),
                                host_check_note(host, options.allowed_hosts)) + "\n")
    if app.state.tenants.max_tenants < max_tenants and settings.isolate_keys:
        log.warning("Each tenant holds at least %d bytes: %d tenants fit in --max-kept-bytes %d (with room "
                    "for their specs, scripts and faults), not %d.", app.state.tenants.world_bytes,
                    app.state.tenants.max_tenants,
                    settings.max_kept_bytes, max_tenants)
    config = uvicorn_config(app, host, options, log_level=log_level, max_connections=cap)
    gc.freeze()  # what start-up built lives as long as the server: full collections need not walk it

    def stopped() -> None:  # the last access lines, the passive checks judged and written, the cassettes whole
        if app.state.access_log is not None:
            app.state.access_log.flush()
        for line in app.traffic.close(serving.report, serving.junit):
            console.stdout.write(line + "\n")
        console.drain_all(STDOUT_GRACE_SECONDS)  # (before a caught signal ends the process)

    MockServer(config, on_stopped=stopped).run(sockets=[sock])


@main.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to a file.")
def openapi(output: str | None) -> None:
    """Print the OpenAPI 3.1 document of the contract."""
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(openapi_json() + "\n")
    else:
        click.echo(openapi_json())


@main.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False))
def check_config(path: str) -> None:
    """Validate a config file and list what it declares."""
    spec = _load_or_exit(path)
    lines = declared(spec)
    click.echo(f"{path}: valid; it declares:" if lines else f"{path}: valid; it declares nothing.")
    for line in lines:
        click.echo("  " + line)


def _load_or_exit(path: str) -> MockSpec:
    try:
        return load_spec(path)
    except ConfigFileError as error:
        raise click.ClickException(str(error)) from None


main.add_command(check_command)
main.add_command(cassette_command)

if __name__ == "__main__":
    main()
