"""The dev stack: Redis, PostgreSQL or a scratch database, the gateway, inference, Celery workers,
Flower and replay feeds as real processes on this machine, each awaited until it is healthy.

This is the one place that knows each service's command line; `lob up` (devstack/up.py), the
benchmarks (devstack/bench/) and the tests (tests/support/) start services only through `Stack`:

    with Stack(Path("/tmp/lob-dev"), {"LOB_HOME": "/tmp/lob-dev/home"}) as stack:
        stack.redis()              # an embedded redis-server; REDIS_URL for what starts after it
        stack.database()           # a scratch database (127.0.0.1:5432, else an embedded server)
        gateway = stack.gateway()  # python -m services.api, once GET /healthz answers 200
        stack.inference()          # python -m services.inference, once GET /healthz answers 200
        stack.worker("w1")         # celery -A services.worker.app worker, once it logs "ready."
    # everything stopped in reverse order, the scratch database dropped

Each service runs in its own process group, so a signal reaches its whole tree (Celery's pool
processes too), with its output in a log file under `logs`; under a Supervisor (`lob up`) the
output goes to the supervisor's prefixed log instead, and crashed services are restarted.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from devstack.supervisor import Child, Supervisor
from services.worker import celery_argv
from services.worker.client import QUEUE
from shared import embedded
from shared.errors import LobError

T = TypeVar("T")

# A cold start of inference (torch, TorchScript) takes ~30 s on two busy cores; three times that.
HEALTH_TIMEOUT_S = 90.0
# Where a scratch database goes when no server is named: the machine's own PostgreSQL.
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TAIL_LINES = 40

# Start-up lines known to be harmless, left out of `lob up`'s log (devstack.supervisor.Child.quiet).
REDIS_QUIET = (
    # The embedded Redis saves nothing to disk (--save ""); overcommit protects background saves.
    re.compile(r"WARNING Memory overcommit must be enabled"),
)
FLOWER_QUIET = (
    # The list of registered task names, one per line: the worker and lob up say what runs.
    re.compile(r"Registered tasks:$"),
    re.compile(r"^\s*\[?'(celery|training)\.[a-z_]+'[,\]]$"),
    # Flower asks the workers once as it starts, usually before the worker is up; it asks again
    # whenever a page needs it.
    re.compile(r"Inspect method \w+ failed$"),
)


class NotReady(LobError):
    """A condition not met in time, or a service that exited while it was awaited."""


def wait_until(
    cond: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    services: Iterable[Service] = (),
    every: float = 0.05,
) -> T:
    """Poll `cond` every `every` seconds until it returns something true, and return that.

    Raises NotReady naming `what` when `timeout` seconds have passed, or as soon as one of
    `services` has exited; the message ends with the last lines of each one's log.
    """
    watched = list(services)
    deadline = time.monotonic() + timeout
    while True:
        for service in watched:
            if not service.alive():
                raise NotReady(
                    f"{service.name} exited ({service.returncode()}) while waiting for {what}"
                    + service.tail()
                )
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            logs = "".join(service.tail() for service in watched)
            raise NotReady(f"timed out after {timeout:g} s waiting for {what}{logs}")
        time.sleep(every)


# -- health checks: what "healthy" means for each kind of service ---------------------------------


def http_ok(path: str) -> Callable[[Service], bool]:
    """Healthy when GET <service url><path> answers 200."""

    def check(service: Service) -> bool:
        try:
            with urllib.request.urlopen(service.url + path, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


def listening(service: Service) -> bool:
    """Healthy when its port on 127.0.0.1 accepts connections."""
    return service.port is not None and embedded.port_open("127.0.0.1", service.port)


def logged(marker: str) -> Callable[[Service], bool]:
    """Healthy once its log holds `marker` (a Celery worker says "ready.")."""
    return lambda service: marker in service.output()


# -- one process ----------------------------------------------------------------------------------


class Service:
    """One process of the stack: its command line, environment, log, port and health check."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        log: Path | None,
        port: int | None = None,
        url: str = "",
        check: Callable[[Service], bool] | None = None,
        healthy_when: str = "",
        stop_timeout: float = 15.0,
        supervisor: Supervisor | None = None,
        quiet: tuple[re.Pattern[str], ...] = (),
    ) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.port, self.url, self.check, self.healthy_when = port, url, check, healthy_when
        self.stop_timeout, self.supervisor, self.quiet = stop_timeout, supervisor, quiet
        self._proc: subprocess.Popen[bytes] | None = None
        self._child: Child | None = None
        self._stopped = False  # stop() done since the last start: its group is not signalled again

    def __repr__(self) -> str:
        return f"Service({self.name!r}, port={self.port}, pid={self.pid})"

    @property
    def _current(self) -> subprocess.Popen[bytes] | None:
        # Under a supervisor, the child's process changes with each restart.
        return self._child.proc if self._child is not None else self._proc

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        if self._current is None:
            raise NotReady(f"{self.name} is not running")
        return self._current

    @property
    def pid(self) -> int | None:
        return self._current.pid if self._current is not None else None

    def start(self) -> Service:
        """Start the process (again, after stop(): same command line, same log, appended)."""
        self._stopped = False
        if self.supervisor is not None:
            child = Child(self.name, self.argv, self.env, quiet=self.quiet)
            self._child = self.supervisor.add(child)
            return self
        assert self.log is not None
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group (see the module docstring)
            )
        return self

    def alive(self) -> bool:
        if self.supervisor is not None:
            return self.supervisor.alive(self.name)
        return self._proc is not None and self._proc.poll() is None

    def returncode(self) -> int | None:
        return self._current.poll() if self._current is not None else None

    def healthy(self) -> bool:
        return self.check is None or self.check(self)

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> Service:
        what = f"{self.name}{': ' + self.healthy_when if self.healthy_when else ''}"
        wait_until(self.healthy, timeout, what, services=[self])
        return self

    def output(self) -> str:
        """Everything it logged so far ("" under a supervisor, whose log is the terminal)."""
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = TAIL_LINES) -> str:
        if self.log is None:
            return f" (see the {self.name} lines above)"
        last = self.output().splitlines()[-lines:]
        return f"\n--- {self.log} (last {len(last)} lines) ---\n" + "\n".join(last)

    def signal(self, sig: int) -> None:
        """Send `sig` to its whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, should it be stopped), then SIGKILL what is left of the group."""
        proc = self._current
        if proc is None or self._stopped:
            return
        if proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.stop_timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole group at once (a killed Celery worker leaves its pool), and reap it."""
        if self._stopped:
            return
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        # Once reaped, the group's id may be reused by an unrelated process: never signal it again.
        self._stopped = True

    def restart(self, timeout: float = HEALTH_TIMEOUT_S) -> Service:
        self.stop()
        return self.start().wait_healthy(timeout)


# -- PostgreSQL -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_platformdirs() -> Iterator[None]:
    # pgserver asks platformdirs for a runtime dir; with no XDG_RUNTIME_DIR it warns (as error in
    # the tests): pgserver keeps only its lock file there.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        yield


class Postgres:
    """An embedded PostgreSQL (pgserver) kept in `datadir`, listening on a Unix socket only.

    stop() / start() use its own pg_ctl, keeping the data (for tests that take it away).
    """

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        with _quiet_platformdirs():
            self.admin_url, self.server = embedded.start_postgres(datadir)

    def pid(self) -> int | None:
        return self.server.get_pid()  # type: ignore[no-any-return]

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        with _quiet_platformdirs():
            pgserver.pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # `restart` reuses postmaster.opts: the same socket directory and no TCP listener.
        self._pg_ctl("-w", "-l", str(self.datadir / "log"), "restart")

    def close(self) -> None:
        with _quiet_platformdirs():
            self.server.cleanup()


def _admin_engine(url: str) -> Any | None:
    """An AUTOCOMMIT engine on the server's `postgres` database, or None when it does not answer."""
    import sqlalchemy as sa

    engine = sa.create_engine(
        sa.engine.make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 2},
    )
    try:
        engine.connect().close()
    except sa.exc.OperationalError:
        engine.dispose()
        return None
    return engine


def _drop_database(engine: Any, name: str) -> None:
    import sqlalchemy as sa

    # A fresh connection: the server may have restarted since (tests take it away), killing any
    # pooled one.
    engine.dispose()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


# -- the stack ------------------------------------------------------------------------------------


def worker_command(name: str, *options: str, banner: bool = True) -> list[str]:
    """A training worker named `name@<host>` on this interpreter; `options` such as
    `--concurrency 1`; `banner=False` leaves out Celery's start-up banner (lob up prints its own)."""
    quiet = [] if banner else ["--quiet"]
    return celery_argv(
        *quiet, "worker", "-Q", QUEUE, "--loglevel", "INFO", "-n", f"{name}@%h", *options
    )


class Stack:
    """Services started on this machine, stopped in reverse order by close() (or `with`).

    `env` is what every service gets on top of this process's environment; redis() and database()
    add REDIS_URL and DATABASE_URL to it for the services started after them. Logs go to `logs`
    (default `base`), one file per service (`<name>-<port>.log`).
    """

    def __init__(
        self,
        base: Path,
        env: dict[str, str] | None = None,
        *,
        logs: Path | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.base = Path(base)
        self.env = dict(env or {})
        self.logs = Path(logs) if logs is not None else self.base
        self.supervisor = supervisor
        self.services: list[Service] = []
        self.pg: Postgres | None = None  # the embedded PostgreSQL, if this stack started one
        self._cleanups: list[Callable[[], None]] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def environ(self, **extra: str) -> dict[str, str]:
        """The whole environment a service of this stack runs with."""
        return {**os.environ, **self.env, **extra, "PYTHONUNBUFFERED": "1"}

    def service(self, name: str) -> Service:
        """The service last started under `name`."""
        for service in reversed(self.services):
            if service.name == name:
                return service
        raise KeyError(name)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        port: int | None = None,
        url: str = "",
        check: Callable[[Service], bool] | None = None,
        healthy_when: str = "",
        wait: bool = True,
        timeout: float = HEALTH_TIMEOUT_S,
        stop_timeout: float = 15.0,
        quiet: tuple[re.Pattern[str], ...] = (),
        env: dict[str, str] | None = None,
    ) -> Service:
        """Start a process of this stack and, with `wait` and a `check`, wait until it is healthy."""
        service = Service(
            name,
            argv,
            self.environ(**(env or {})),
            log=None if self.supervisor is not None else self._log_path(name, port),
            port=port,
            url=url,
            check=check,
            healthy_when=healthy_when,
            stop_timeout=stop_timeout,
            supervisor=self.supervisor,
            quiet=quiet,
        )
        self.services.append(service)
        service.start()
        return service.wait_healthy(timeout) if wait and check is not None else service

    def _log_path(self, name: str, port: int | None) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{port}" if port else name
        path, n = self.logs / f"{stem}.log", 2
        while path.exists():  # a new process of the same name: a log of its own
            path, n = self.logs / f"{stem}-{n}.log", n + 1
        return path

    # -- Redis and PostgreSQL ----------------------------------------------------------------------

    def redis(self, port: int | None = None, *, workdir: Path | None = None) -> Service:
        """An embedded redis-server on 127.0.0.1 (no persistence: it holds only transient state)."""
        port = port or embedded.free_port()
        workdir = workdir or self.base / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        service = self.start(
            "redis",
            embedded.redis_command(port, workdir),
            port=port,
            url=f"redis://127.0.0.1:{port}/0",
            check=listening,
            healthy_when="accepting connections",
            timeout=15,
            quiet=REDIS_QUIET,
        )
        self.env["REDIS_URL"] = service.url
        return service

    def postgres(self, datadir: Path | None = None) -> Postgres:
        """An embedded PostgreSQL in `datadir` (kept, so a later stack reuses its data)."""
        self.pg = Postgres(datadir or self.base / "pg")
        self._cleanups.append(self.pg.close)
        return self.pg

    def database(self, admin: str | None = None, *, prefix: str = "lob_dev") -> str:
        """A fresh database with the real migrations applied, dropped when the stack closes.

        On `admin`'s server (a URL of any database there), else the machine's own PostgreSQL on
        127.0.0.1:5432, else an embedded PostgreSQL of this stack. Returns its URL.
        """
        import sqlalchemy as sa

        engine = _admin_engine(admin or LOCAL_POSTGRES)
        if engine is None:
            engine = _admin_engine(self.postgres().admin_url)
        if engine is None:
            raise NotReady(f"the embedded PostgreSQL in {self.base / 'pg'} does not answer")
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self._cleanups.append(lambda: _drop_database(engine, name))
        url: str = engine.url.set(database=name).render_as_string(hide_password=False)
        self.env["DATABASE_URL"] = url
        self.migrate()
        return url

    def migrate(self) -> None:
        """`lob db upgrade` on this stack's DATABASE_URL."""
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli.main", "db", "upgrade"],
            env=self.environ(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise NotReady(f"database migrations failed:\n{done.stderr.strip()}")

    # -- the services ------------------------------------------------------------------------------

    def gateway(
        self,
        port: int | None = None,
        *,
        host: str | None = "127.0.0.1",
        log_level: str | None = None,
        ready: bool = False,
        wait: bool = True,
        timeout: float = HEALTH_TIMEOUT_S,
        **env: str,
    ) -> Service:
        """`python -m services.api`; healthy when /healthz answers 200 (with `ready`, /readyz:
        PostgreSQL and Redis answer too). `host=None` leaves the bind address to its default."""
        port = port or embedded.free_port()
        argv = [sys.executable, "-m", "services.api", *(["--host", host] if host else [])]
        argv += ["--port", str(port), *(["--log-level", log_level] if log_level else [])]
        path = "/readyz" if ready else "/healthz"
        return self.start(
            "gateway",
            argv,
            port=port,
            url=f"http://127.0.0.1:{port}",
            check=http_ok(path),
            healthy_when=f"GET {path} answering 200",
            wait=wait,
            timeout=timeout,
            env=env,
        )

    def inference(
        self,
        port: int | None = None,
        *,
        start_id: str | None = None,
        wait: bool = True,
        timeout: float = HEALTH_TIMEOUT_S,
        **env: str,
    ) -> Service:
        """`python -m services.inference`; healthy when /healthz answers 200. `start_id`: where a
        new consumer group starts reading the stream (default '$', only what comes after)."""
        port = port or embedded.free_port()
        argv = [sys.executable, "-m", "services.inference", "--port", str(port)]
        argv += ["--start-id", start_id] if start_id is not None else []
        return self.start(
            "inference",
            argv,
            port=port,
            url=f"http://127.0.0.1:{port}",
            check=http_ok("/healthz"),
            healthy_when="GET /healthz answering 200",
            wait=wait,
            timeout=timeout,
            env=env,
        )

    def worker(
        self,
        name: str = "worker",
        *options: str,
        banner: bool = True,
        wait: bool = True,
        timeout: float = HEALTH_TIMEOUT_S,
        **env: str,
    ) -> Service:
        """A Celery training worker `name@<host>` (see worker_command); healthy once it logs
        "ready." (which needs the log: a supervised worker is not awaited)."""
        return self.start(
            name,
            worker_command(name, *options, banner=banner),
            check=logged("ready.") if self.supervisor is None else None,
            healthy_when='logging "ready."',
            wait=wait,
            timeout=timeout,
            # A worker finishes its batch before it stops; a training step takes up to a few s.
            stop_timeout=30.0,
            env=env,
        )

    def flower(
        self, port: int | None = None, *, wait: bool = True, timeout: float = 60, **env: str
    ) -> Service:
        """`python -m services.worker.flower` (basic auth from FLOWER_USER / FLOWER_PASSWORD);
        healthy when its port accepts connections."""
        port = port or embedded.free_port()
        return self.start(
            "flower",
            [sys.executable, "-m", "services.worker.flower", "--port", str(port)],
            port=port,
            url=f"http://127.0.0.1:{port}",
            check=listening,
            healthy_when="listening",
            wait=wait,
            timeout=timeout,
            quiet=FLOWER_QUIET,
            env=env,
        )

    def feed(self, *args: str, name: str = "feed", **env: str) -> Service:
        """`lob feed ARGS` (replay or binance) as a process of its own; not awaited."""
        return self.start(
            name,
            [sys.executable, "-m", "shared.cli.main", "feed", *args],
            stop_timeout=10.0,
            env=env,
        )

    def close(self) -> None:
        """Stop every service, newest first, then drop the scratch database and stop PostgreSQL."""
        if self.supervisor is not None:
            self.supervisor.stop()
        else:
            for service in reversed(self.services):
                service.stop()
        while self._cleanups:
            self._cleanups.pop()()
