"""The console's other paths, on a server of their own whose backups pause before writing (the
`backup-write` fault point), so a running backup can be canceled: cancel, a restore from an
archive path in a storage, and the remote storages' options (the request the console builds
for an S3 consumer, answered in the test: no store is needed)."""
import json
import time

import pytest
from playwright.sync_api import expect

import conftest
from conftest import OWNER_EMAIL, OWNER_PASSWORD, shot
from test_console import sign_in


class SlowServer(conftest.Server):
    """A console server whose backups wait 3 s before writing the archive."""

    def __init__(self):
        conftest.sdk.Server.__init__(
            self,
            extra_env={"DSBACKUP_FAULT_DELAY": "backup-write:3000"},
            config=conftest.console_config,
        )
        self.backups = self.dir / "backups"

    def wait_done(self):
        for _ in range(200):
            p = self.api("GET", "/api/2.0/backup/getbackupprogress")
            if p and p["isCompleted"]:
                return p
            time.sleep(0.1)
        raise AssertionError("the backup did not end")


@pytest.fixture(scope="module")
def server():
    s = SlowServer()
    yield s
    s.stop()


def test_a_running_backup_is_canceled(page, server):
    sign_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    page.get_by_label("Local path on the server").check()
    page.get_by_label("Folder path").fill(str(server.backups))
    page.get_by_role("button", name="Start backup").click()
    cancel = page.get_by_role("button", name="Cancel backup")
    expect(cancel).to_be_visible()
    shot(page, "20-backup-running")
    cancel.click()
    expect(page.locator("#backup-msg")).to_have_text("The backup was canceled.")
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("button", name="Start backup")).to_be_enabled()
    shot(page, "21-backup-canceled")
    # Nothing was recorded, and no archive was left behind.
    time.sleep(3.5)
    assert server.api("GET", "/api/2.0/backup/getbackuphistory") == []
    assert not any(server.backups.glob("*.tar.zst"))


def test_restore_from_an_archive_path_in_a_storage(page, server):
    server.api(
        "POST",
        "/api/2.0/backup/startbackup",
        {"storageType": 3, "storageParams": [{"key": "filePath", "value": str(server.backups)}]},
    )
    assert server.wait_done()["status"] == 2
    archive = sorted(server.backups.glob("*.tar.zst"))[0]
    page.get_by_role("link", name="Restore").click()
    expect(page.get_by_role("heading", name="Restore")).to_be_visible()
    page.get_by_label("An archive in a storage").check()
    page.get_by_label("Local path on the server").check()
    page.get_by_label("Archive file path").fill(str(archive))
    page.get_by_label("I understand that the portal will be replaced").check()
    with page.expect_request("**/api/2.0/backup/startrestore") as sent:
        page.get_by_role("button", name="Restore the portal").click()
    body = json.loads(sent.value.post_data)
    assert body["storageType"] == 3, body
    assert {"key": "filePath", "value": str(archive)} in body["storageParams"], body
    expect(page.locator("#restore-msg")).to_contain_text("The portal was restored", timeout=60_000)
    shot(page, "22-restore-from-storage-done")
    page.get_by_role("button", name="Sign in again").click()
    sign_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.get_by_role("heading", name="Data backup")).to_be_visible()


def test_remote_storage_options_build_the_consumer_request(page):
    remote = page.get_by_label("Remote storage")
    expect(remote).to_be_visible()
    remote.check()
    storage = page.get_by_label("Storage", exact=True)
    expect(storage.locator("option")).to_contain_text(["Amazon AWS S3", "Google Cloud Storage"])
    storage.select_option("s3")
    page.get_by_label("Bucket").fill("nightly-backups")
    shot(page, "23-data-backup-remote")
    captured = {}

    def answer(route):
        captured.update(json.loads(route.request.post_data))
        route.fulfill(
            status=400,
            content_type="application/json",
            body=json.dumps({"status": 1, "statusCode": 400, "error": {"message": "test store"}}),
        )

    page.route("**/api/2.0/backup/startbackup", answer)
    page.get_by_role("button", name="Start backup").click()
    expect(page.locator("#backup-msg")).to_contain_text("test store")
    page.unroute("**/api/2.0/backup/startbackup")
    assert captured["storageType"] == 5, captured
    params = {p["key"]: p["value"] for p in captured["storageParams"]}
    assert params["module"] == "s3" and params["bucket"] == "nightly-backups", params

    # Google Cloud Storage asks for its own properties only.
    storage.select_option("googlecloud")
    expect(page.get_by_label("Bucket")).to_have_value("")
    expect(page.get_by_label("Region")).to_have_count(0)
