"""The official DocSpace Python SDK drives every backup endpoint of dsbackup and parses every
answer with its strict models: start -> progress -> history -> delete one -> delete history."""
import datetime
import time

import docspace_api_sdk as ds
import pytest
from docspace_api_sdk.models import BackupDto, BackupStorageType, ItemKeyValuePairObjectObject

from conftest import OWNER_KEY


@pytest.fixture()
def api(backup_server):
    return ds.BackupApi(ds.ApiClient(ds.Configuration(host=backup_server.url, access_token=OWNER_KEY)))


def wait(api, dump=False):
    for _ in range(1200):
        p = api.get_backup_progress(dump=dump).response
        if p is not None and p.is_completed:
            return p
        time.sleep(0.05)
    raise AssertionError("backup did not finish")


def local_dto(server):
    return BackupDto(
        storage_type=BackupStorageType.Local,
        storage_params=[ItemKeyValuePairObjectObject(key="filePath", value=str(server.dir / "backups"))],
        dump=False,
    )


def test_full_sdk_flow(api, backup_server):
    api.delete_backup_history(dump=False)
    assert api.get_backup_progress().count in (0, 1)
    started = api.start_backup(local_dto(backup_server)).response
    assert started.status in (0, 1) and started.progress >= 0 and started.task_id
    done = wait(api)
    assert done.status == 2 and done.progress == 100 and done.error == ""
    assert done.task_id == started.task_id and done.tenant_id >= 1 and done.backup_progress_enum == 0

    second = api.start_backup(BackupDto(storage_type=BackupStorageType.DataStore)).response
    done = wait(api)
    assert done.task_id == second.task_id and done.link.startswith("http")

    history = api.get_backup_history(dump=False)
    assert history.count == 2
    by_id = {str(r.id): r for r in history.response}
    assert set(by_id) == {started.task_id, second.task_id}
    local = by_id[started.task_id]
    assert local.storage_type == BackupStorageType.Local and local.file_name.endswith(".tar.zst")
    assert by_id[second.task_id].expires_on - by_id[second.task_id].created_on == datetime.timedelta(hours=24)
    assert (backup_server.dir / "backups" / local.file_name).exists()

    assert api.delete_backup(local.id).response is True
    assert not (backup_server.dir / "backups" / local.file_name).exists()
    assert [str(r.id) for r in api.get_backup_history().response] == [second.task_id]

    assert api.delete_backup_history(dump=False).response is True
    assert api.get_backup_history(dump=False).response == []
    assert api.get_backup_history(dump=False).count == 0


def test_counts_cancel_and_state(api):
    now = datetime.datetime.now(datetime.timezone.utc)
    count = api.get_backups_count(var_from=now - datetime.timedelta(days=1), to=now + datetime.timedelta(minutes=1), paid=False)
    assert isinstance(count.response, int) and count.response >= 2
    assert api.get_backups_count().response >= 2
    assert api.get_backups_service_state().response.enabled is False
    # Cancel clears the finished job from the view, then has nothing left.
    assert api.cancel_backup().response is True
    assert api.get_backup_progress().response is None
    assert api.cancel_backup().response is False


def test_dump_and_errors(api):
    api.start_backup(BackupDto(storage_type=BackupStorageType.DataStore, dump=True))
    done = wait(api, dump=True)
    assert done.status == 2
    dumps = api.get_backup_history(dump=True).response
    assert len(dumps) == 1 and dumps[0].file_name.startswith("workspace_")
    assert api.delete_backup_history(dump=True).response is True
    assert api.get_backup_history(dump=True).response == []

    with pytest.raises(ds.exceptions.BadRequestException) as e:
        api.start_backup(BackupDto(storage_type=BackupStorageType.Documents,
                                   storage_params=[ItemKeyValuePairObjectObject(key="folderId", value="abc")]))
    assert "wrong folder type" in e.value.body
    with pytest.raises(ds.exceptions.ForbiddenException):
        api.start_backup(BackupDto(storage_type=BackupStorageType.Local,
                                   storage_params=[ItemKeyValuePairObjectObject(key="filePath", value="/etc")]))
    with pytest.raises(ds.exceptions.NotFoundException):
        api.delete_backup("3fa85f64-5717-4562-b3fc-2c963f66afa6")


def test_restore_via_sdk(api, backup_server):
    from docspace_api_sdk.models import BackupRestoreDto

    readme = backup_server.dir / "app-files" / "readme.txt"
    original = readme.read_text()
    started = api.start_backup(local_dto(backup_server)).response
    assert wait(api).status == 2
    readme.write_text("changed after the backup")

    progress = api.start_backup_restore(BackupRestoreDto(
        backup_id=started.task_id, storage_type=BackupStorageType.Local, notify=False, dump=False)).response
    assert progress.backup_progress_enum == 1
    # The SDK sends no credentials for getrestoreprogress; the server answers anyway.
    anonymous = ds.BackupApi(ds.ApiClient(ds.Configuration(host=backup_server.url)))
    for _ in range(1200):
        p = anonymous.get_restore_progress().response
        if p is not None and p.is_completed:
            break
        time.sleep(0.05)
    assert p.status == 2 and p.progress == 100 and p.error == "", p
    assert p.task_id == progress.task_id
    assert readme.read_text() == original
    # The owner's key came back with the catalog; the API works again.
    assert api.get_backup_history().count >= 1
