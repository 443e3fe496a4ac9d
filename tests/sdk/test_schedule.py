"""The official Python SDK drives the schedule endpoints: create -> get -> delete with every
period, edge hours and days, and every validation error; and all 14 backup methods parse."""
import docspace_api_sdk as ds
import pytest
from docspace_api_sdk.models import (
    BackupPeriod,
    BackupScheduleDto,
    BackupStorageType,
    Cron,
    ItemKeyValuePairObjectObject,
)

from conftest import OWNER_KEY


@pytest.fixture()
def api(backup_server):
    return ds.BackupApi(ds.ApiClient(ds.Configuration(host=backup_server.url, access_token=OWNER_KEY)))


def dto(server, period, hour, day=None, stored=3):
    return BackupScheduleDto(
        storage_type=BackupStorageType.Local,
        storage_params=[ItemKeyValuePairObjectObject(key="filePath", value=str(server.dir / "backups"))],
        backups_stored=stored,
        cron_params=Cron(period=period, hour=hour, day=day),
        dump=False,
    )


@pytest.mark.parametrize("period,hour,day", [
    (BackupPeriod.EveryDay, 0, None), (BackupPeriod.EveryDay, 23, None),
    (BackupPeriod.EveryWeek, 0, 1), (BackupPeriod.EveryWeek, 23, 7),
    (BackupPeriod.EveryMonth, 12, 1), (BackupPeriod.EveryMonth, 3, 31),
])
def test_create_get_delete(api, backup_server, period, hour, day):
    assert api.create_backup_schedule(dto(backup_server, period, hour, day)).response is True
    s = api.get_backup_schedule(dump=False).response
    assert s is not None
    assert s.storage_type == BackupStorageType.Local
    assert s.cron_params.period == period and s.cron_params.hour == hour and s.cron_params.day == (day or 0)
    assert s.backups_stored == 3 and s.dump is False
    assert s.storage_params["folderId"] == str(backup_server.dir / "backups")
    assert s.last_backup_time is not None
    assert api.delete_backup_schedule(dump=False).response is True
    assert api.get_backup_schedule().response is None


@pytest.mark.parametrize("period,hour,day,stored,needle", [
    (BackupPeriod.EveryDay, 1, None, 0, "backupStored must be 1 - 30"),
    (BackupPeriod.EveryDay, 1, None, 31, "backupStored must be 1 - 30"),
    (BackupPeriod.EveryDay, 24, None, 1, "hour"),
    (BackupPeriod.EveryWeek, 1, 0, 1, "1 - 7"),
    (BackupPeriod.EveryWeek, 1, 8, 1, "1 - 7"),
    (BackupPeriod.EveryMonth, 1, 32, 1, "1 - 31"),
    (BackupPeriod.EveryMonth, 1, None, 1, "1 - 31"),
])
def test_validation_errors(api, backup_server, period, hour, day, stored, needle):
    with pytest.raises(ds.exceptions.BadRequestException) as e:
        api.create_backup_schedule(dto(backup_server, period, hour, day, stored))
    assert needle in e.value.body
    assert api.get_backup_schedule().response is None


def test_all_fourteen_methods_parse(api, backup_server):
    """Every BackupApi method of SDK 3.7.0 gets an answer its models accept."""
    from docspace_api_sdk.models import BackupDto, BackupRestoreDto

    names = sorted(n for n in dir(ds.BackupApi) if not n.startswith("_") and not n.endswith(("_with_http_info", "_without_preload_content")))
    assert len(names) == 13, names  # getbackupscountbypaid is not in 3.7.0; tested over HTTP
    api.create_backup_schedule(dto(backup_server, BackupPeriod.EveryDay, 4))
    api.get_backup_schedule()
    started = api.start_backup(BackupDto(storage_type=BackupStorageType.DataStore)).response
    import time
    for _ in range(600):
        p = api.get_backup_progress().response
        if p is not None and p.is_completed:
            break
        time.sleep(0.05)
    api.get_backup_history()
    api.get_backups_count()
    api.get_backups_service_state()
    api.start_backup_restore(BackupRestoreDto(backup_id=started.task_id, storage_type=BackupStorageType.DataStore))
    for _ in range(600):
        p = ds.BackupApi(ds.ApiClient(ds.Configuration(host=backup_server.url))).get_restore_progress().response
        if p is not None and p.is_completed:
            break
        time.sleep(0.05)
    assert p.status == 2, p
    api.cancel_backup()
    api.delete_backup(started.task_id)
    api.delete_backup_history()
    api.delete_backup_schedule()
