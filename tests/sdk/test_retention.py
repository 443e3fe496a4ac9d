"""Schedules, retention and expiry seen through the official SDK, on a server whose scheduler
ticks every second: a schedule whose hour passed fires once; backupsStored = 2 keeps the two
newest scheduled backups and every manual one; an expired DataStore backup disappears."""
import datetime
import sqlite3
import time

import docspace_api_sdk as ds
import pytest
from docspace_api_sdk.models import BackupDto, BackupPeriod, BackupScheduleDto, BackupStorageType, Cron

from conftest import OWNER_KEY, Server, backup_config


@pytest.fixture(scope="module")
def fast_server():
    s = Server(config=lambda base: "scheduler_period_secs = 1\n" + backup_config(base))
    yield s
    s.stop()


def wait_for(pred, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_schedules_retention_and_expiry(fast_server):
    api = ds.BackupApi(ds.ApiClient(ds.Configuration(host=fast_server.url, access_token=OWNER_KEY)))
    db = sqlite3.connect(fast_server.data_dir / "catalog.db")
    scheduled = lambda: db.execute("SELECT COUNT(*) FROM backups WHERE is_scheduled = 1").fetchone()[0]

    def done():
        p = api.get_backup_progress().response
        return p is not None and p.is_completed

    api.start_backup(BackupDto(storage_type=BackupStorageType.DataStore))
    wait_for(done, "the manual backup")
    manual = api.get_backup_history().response[0]

    hour = datetime.datetime.now(datetime.timezone.utc).hour
    dto = BackupScheduleDto(storage_type=BackupStorageType.DataStore, backups_stored=2,
                            cron_params=Cron(period=BackupPeriod.EveryDay, hour=hour), dump=False)
    for n in range(1, 5):
        assert api.create_backup_schedule(dto).response is True
        wait_for(lambda: scheduled() == n, f"scheduled run {n}")
        wait_for(lambda: api.get_backup_schedule().response.last_backup_time.year > 1, "lastBackupTime")
    time.sleep(2.5)
    assert scheduled() == 4, "one run per save, not one per tick"
    s = api.get_backup_schedule().response
    assert s.last_backup_time.year == datetime.datetime.now().year

    def kept():
        ids = {str(r.id) for r in api.get_backup_history().response}
        return len(ids) == 3 and str(manual.id) in ids
    wait_for(kept, "retention to keep two scheduled and the manual one")
    newest = [r[0] for r in db.execute(
        "SELECT id FROM backups WHERE is_scheduled = 1 ORDER BY created_on DESC LIMIT 2")]
    assert {str(r.id) for r in api.get_backup_history().response} == set(newest) | {str(manual.id)}

    # Expiry: a DataStore backup past its 24 h is deleted by the next tick.
    db.execute("UPDATE backups SET expires_on = '2020-01-01T00:00:00.000000Z' WHERE id = ?", (str(manual.id),))
    db.commit()
    wait_for(lambda: str(manual.id) not in {str(r.id) for r in api.get_backup_history().response}, "expiry")
    assert api.delete_backup_schedule().response is True
