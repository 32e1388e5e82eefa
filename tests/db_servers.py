"""MariaDB and PostgreSQL servers for tests: started by hand on 127.0.0.1 in a temp
folder, each with a user `penguins` that has a random password, and stopped by PID.

Nothing is installed here: `make test` installs the Debian packages (mariadb-server,
postgresql). A missing server raises ServerMissing, which tests turn into a failure that
says what to install, never a skip. As root (CI containers), MariaDB runs with
`--user=root` and PostgreSQL, whose initdb refuses root, as the `postgres` user that its
package creates.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_SECONDS = 60
USER = "penguins"
DATABASE = "penguins"


class ServerMissing(RuntimeError):
    """A server binary is not installed; the message says which package provides it."""


@dataclasses.dataclass
class Server:
    kind: str  # mysql | postgresql
    url: str  # the store name for pipeline.lineage.store, without the password
    password: str  # goes into MLMD_PASSWORD
    pid: int
    folder: Path
    dump_command: list[str] = dataclasses.field(default_factory=list)
    process: subprocess.Popen | None = None  # MariaDB runs as our child; PostgreSQL detaches

    def dump(self) -> str:
        """The database as SQL text (to check what was, and was not, stored)."""
        return subprocess.run(self.dump_command, capture_output=True, text=True, check=True).stdout

    def stop(self) -> None:
        """Fast shutdown by PID, wait until the process is gone, remove the folder."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=START_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        else:
            _stop_detached(self.pid)
        shutil.rmtree(self.folder, ignore_errors=True)


def _stop_detached(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL: fast shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _binary(name: str, package: str, folders: tuple[str, ...] = ()) -> str:
    found = shutil.which(name) or next(
        (p for folder in folders for p in sorted(glob.glob(f"{folder}/{name}"), reverse=True)), None
    )
    if not found:
        raise ServerMissing(
            f"{name} not found: install it with `apt-get install -y {package}` (make test does)"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[-500:]
        raise RuntimeError(f"{what} failed ({result.returncode}): {detail}")


def wait_for_port(port: int, what: str, log: Path, alive=lambda: True) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and alive():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    tail = log.read_text()[-500:] if log.exists() else ""
    raise RuntimeError(f"{what} did not start on port {port}: {tail}")


def start_mariadb() -> Server:
    install_db = _binary("mariadb-install-db", "mariadb-server")
    server = _binary("mariadbd", "mariadb-server", ("/usr/sbin", "/usr/libexec"))
    client = _binary("mariadb", "mariadb-client")
    folder = Path(tempfile.mkdtemp(prefix="mlmd-mariadb-"))
    data, sock, log = folder / "data", folder / "mysqld.sock", folder / "server.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    _run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ],
        "mariadb-install-db",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=2",
            f"--log-error={log}",
            f"--pid-file={folder / 'mysqld.pid'}",
            *as_root,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    password = secrets.token_hex(12)
    dump = [
        _binary("mariadb-dump", "mariadb-client"),
        "--no-defaults",
        f"--socket={sock}",
        "-u",
        "root",
        DATABASE,
    ]
    result = Server(
        "mysql",
        f"mysql://{USER}@127.0.0.1:{port}/{DATABASE}",
        password,
        process.pid,
        folder,
        dump,
        process,
    )
    try:
        wait_for_port(port, "mariadbd", log, alive=lambda: process.poll() is None)
        sql = (
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{password}';"
            f" GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';"
        )
        _run(
            [client, "--no-defaults", f"--socket={sock}", "-u", "root", "-e", sql],
            "creating the MariaDB user",
        )
    except BaseException:
        result.stop()
        raise
    return result


def start_postgresql() -> Server:
    folders = ("/usr/lib/postgresql/*/bin",)
    initdb = _binary("initdb", "postgresql", folders)
    bin_dir = Path(initdb).resolve().parent
    pg_ctl = _binary("pg_ctl", "postgresql", (str(bin_dir),))
    psql = _binary("psql", "postgresql-client", (str(bin_dir),))
    folder = Path(tempfile.mkdtemp(prefix="mlmd-postgres-"))
    data, log = folder / "data", folder / "server.log"
    as_postgres = _as_postgres_user(folder)
    _run(
        [
            *as_postgres,
            initdb,
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        ],
        "initdb",
    )
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    _run(
        [*as_postgres, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
        "pg_ctl start",
    )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    password = secrets.token_hex(12)
    as_superuser = ["-h", str(folder), "-p", str(port), "-U", "postgres"]  # over the socket
    dump = [
        *as_postgres,
        _binary("pg_dump", "postgresql-client", (str(bin_dir),)),
        *as_superuser,
        DATABASE,
    ]
    result = Server(
        "postgresql",
        f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}",
        password,
        pid,
        folder,
        dump,
    )
    try:
        sql = f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{password}'"
        _run(
            [
                *as_postgres,
                psql,
                *as_superuser,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            "creating the PostgreSQL role",
        )
    except BaseException:
        result.stop()
        raise
    return result


def _as_postgres_user(folder: Path) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as `postgres` (the
    package's user), owning the folder; otherwise as ourselves."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerMissing(
            "no postgres user to run PostgreSQL as (root cannot): "
            "install it with `apt-get install -y postgresql` (make test does)"
        ) from None
    os.chown(folder, user.pw_uid, user.pw_gid)
    return [_binary("runuser", "util-linux"), "-u", "postgres", "--"]
