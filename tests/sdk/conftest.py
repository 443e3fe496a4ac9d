"""Fixtures for driving a real dsbackup server with the official DocSpace Python SDK.

Each test module gets its own server process on port 0 with a fresh data directory and known
owner credentials. The binary is $DSBACKUP_BIN, else target/debug/dsbackup.
"""
import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OWNER_EMAIL = "owner@example.org"
OWNER_PASSWORD = "owner-password-1"
OWNER_KEY = "sk-sdk00000000000000000000000000000owner"


class Server:
    def __init__(self, extra_env=None, config=None):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)
        self.data_dir = self.dir / "data"
        binary = os.environ.get("DSBACKUP_BIN", str(ROOT / "target" / "debug" / "dsbackup"))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DSBACKUP_LISTEN": "127.0.0.1:0",
            "DSBACKUP_DATA_DIR": str(self.data_dir),
            "DSBACKUP_OWNER_EMAIL": OWNER_EMAIL,
            "DSBACKUP_OWNER_PASSWORD": OWNER_PASSWORD,
            "DSBACKUP_OWNER_API_KEY": OWNER_KEY,
            "DSBACKUP_LOG": "warn",
        }
        env.update(extra_env or {})
        self.log = open(pathlib.Path(self.tmp.name) / "server.log", "wb")
        args = [binary, "serve"]
        if config is not None:
            cfg = self.dir / "dsbackup.toml"
            cfg.write_text(config(self.dir))
            args += ["--config", str(cfg)]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = None
        for line in self.proc.stdout:
            if line.startswith("dsbackup listening on "):
                self.url = line.split()[-1]
                break
        if self.url is None:
            self.stop()
            raise RuntimeError("dsbackup did not start: " + (pathlib.Path(self.tmp.name) / "server.log").read_text())

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def backup_config(base):
    """A Local root and one directory source under `base`."""
    (base / "backups").mkdir()
    src = base / "app-files"
    (src / "nested").mkdir(parents=True)
    (src / "readme.txt").write_text("hello from the sdk test\n")
    (src / "nested" / "data.json").write_text('{"k": "v"}\n' * 500)
    return (
        f'local_roots = ["{base}"]\n'
        '[[portals]]\nalias = "default"\n'
        f'[[portals.sources]]\nkind = "directory"\nname = "files"\npath = "{src}"\n'
    )


@pytest.fixture(scope="module")
def backup_server():
    s = Server(config=backup_config)
    yield s
    s.stop()


@pytest.fixture()
def sdk(server):
    """A factory: sdk(access_token=...) -> ApiClient for the module's server."""
    import docspace_api_sdk as ds

    def make(**auth):
        return ds.ApiClient(ds.Configuration(host=server.url, **auth))

    return make
