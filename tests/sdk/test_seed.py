"""The seed sample ("Delete the backup history", SEED.md) runs unchanged but for host and key,
in Python and (corrected) in Node.js, and the history is then empty."""
import pathlib
import shutil
import subprocess
import sys
import time

import docspace_api_sdk as ds
import pytest
from docspace_api_sdk.models import BackupDto, BackupStorageType

from conftest import OWNER_KEY

SEED = pathlib.Path(__file__).resolve().parents[1] / "seed"


def with_host_and_key(path, url, key, out_dir):
    text = path.read_text()
    assert "https://yourportal.onlyoffice.com" in text and "your_api_key" in text
    target = out_dir / path.name
    target.write_text(text.replace("https://yourportal.onlyoffice.com", url).replace("your_api_key", key))
    return target


def make_history(server, n=2):
    api = ds.BackupApi(ds.ApiClient(ds.Configuration(host=server.url, access_token=OWNER_KEY)))
    for _ in range(n):
        api.start_backup(BackupDto(storage_type=BackupStorageType.DataStore))
        for _ in range(1200):
            p = api.get_backup_progress().response
            if p is not None and p.is_completed:
                break
            time.sleep(0.05)
    assert api.get_backup_history().count == n
    return api


@pytest.mark.parametrize("runner", ["python", "node"])
def test_seed_sample_deletes_history(backup_server, tmp_path, runner):
    api = make_history(backup_server)
    if runner == "python":
        script = with_host_and_key(SEED / "delete_backup_history.py", backup_server.url, OWNER_KEY, tmp_path)
        cmd = [sys.executable, str(script)]
    else:
        node = shutil.which("node")
        assert node, "node is required for the Node.js seed sample"
        script = with_host_and_key(SEED / "delete-backup-history.js", backup_server.url, OWNER_KEY, tmp_path)
        cmd = [node, str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    shown = "True" if runner == "python" else "true"  # each language prints its own boolean
    assert out.stdout.strip() == f"Backup history deleted: {shown}", out.stdout + out.stderr
    assert api.get_backup_history().response == []
