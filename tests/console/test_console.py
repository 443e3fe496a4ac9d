"""The web console in a real browser: sign in, back up to 100 %, the history, a schedule, a
failed scheduled run's error, restores from the history and from an uploaded archive, the
access-denied page for a plain member, and a narrow screen. Tests run in file order on one
server and one page."""
import datetime
import re

from playwright.sync_api import expect

from conftest import OWNER_EMAIL, OWNER_PASSWORD, shot


def sign_in(page, email, password):
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_page_then_wrong_password_then_signed_in(page):
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")
    sign_in(page, OWNER_EMAIL, "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("e-mail or password is wrong")
    sign_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.get_by_role("heading", name="Data backup")).to_be_visible()
    expect(page.get_by_role("navigation", name="Backup screens")).to_be_visible()


def test_a_local_backup_reaches_100(page, server):
    page.get_by_label("Local path on the server").check()
    page.get_by_label("Folder path").fill(str(server.backups))
    page.get_by_role("button", name="Start backup").click()
    expect(page.locator("#backup-msg")).to_have_text("Backup complete.")
    expect(page.locator("#backup-progress .progress-text")).to_contain_text("100 %")
    expect(page.locator("#backup-bar")).to_have_attribute("aria-valuenow", "100")
    assert any(server.backups.glob("*.tar.zst")), "the archive is on disk"
    shot(page, "02-data-backup-local")


def test_a_datastore_backup_gives_a_download_link(page):
    page.get_by_label("DataStore (the server's own storage)").check()
    page.get_by_role("button", name="Start backup").click()
    expect(page.locator("#backup-msg")).to_have_text("Backup complete.")
    link = page.get_by_role("link", name="Download the archive")
    expect(link).to_be_visible()
    res = page.request.get(link.get_attribute("href"))
    assert res.status == 200 and len(res.body()) > 100
    shot(page, "03-data-backup-datastore")


def test_history_lists_both_backups(page):
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    rows = page.locator("#history-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("DataStore")
    expect(rows.nth(1)).to_contain_text("Local path")
    expect(rows.first).to_contain_text("Manual")
    expect(rows.first.locator("code.hash")).to_have_text(re.compile(r"^[0-9A-F]{12}…$"))
    expect(rows.first.get_by_role("link", name=re.compile("^Download"))).to_be_visible()
    expect(rows.nth(1).get_by_role("link", name=re.compile("^Download"))).to_have_count(0)
    shot(page, "04-history")


def test_a_weekly_schedule_is_saved_and_shown(page, server):
    page.get_by_role("link", name="Automatic backup").click()
    expect(page.get_by_role("heading", name="Automatic backup")).to_be_visible()
    expect(page.locator("#schedule-status")).to_have_text("No automatic backup is set.")
    # Twelve hours from now, so the scheduler does not run it during the test.
    hour = (datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24
    page.get_by_label("Repeat").select_option(label="Every week")
    page.get_by_label("Day of the week").select_option(label="Wednesday")
    page.get_by_label("Time (portal time zone)").select_option(str(hour))
    page.get_by_label("Copies to keep").fill("5")
    page.get_by_label("Local path on the server").check()
    page.get_by_label("Folder path").fill(str(server.backups))
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedule-msg")).to_have_text("The schedule is saved.")
    expect(page.locator("#schedule-status")).to_contain_text("Every week")
    expect(page.locator("#schedule-status")).to_contain_text("Next run:")
    s = server.api("GET", "/api/2.0/backup/getbackupschedule")
    assert s["cronParams"] == {"period": 1, "hour": hour, "day": 4}, s
    assert s["backupsStored"] == 5 and s["storageType"] == 3
    shot(page, "05-automatic-backup")


def test_a_failed_scheduled_run_is_shown(page, server):
    broken = server.dir / "nightly"
    broken.mkdir()
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    page.get_by_label("Repeat").select_option(label="Every day")
    page.get_by_label("Time (portal time zone)").select_option(str(hour))
    page.get_by_label("Folder path").fill(str(broken))

    # The folder exists when the schedule is saved and is gone as soon as the server has
    # answered, before the scheduler (ticking every second) runs it.
    def save_then_remove(route):
        answer = route.fetch()
        broken.rmdir()
        route.fulfill(response=answer)

    page.route("**/api/2.0/backup/createbackupschedule", save_then_remove)
    with page.expect_response("**/api/2.0/backup/createbackupschedule") as saved:
        page.get_by_role("button", name="Save schedule").click()
    assert saved.value.ok
    assert not broken.exists()
    page.unroute("**/api/2.0/backup/createbackupschedule")
    banner = page.locator("#schedule-error")
    expect(banner).to_be_visible(timeout=30_000)
    expect(banner).to_contain_text("The last automatic backup failed")
    expect(banner).to_contain_text("does not exist")
    shot(page, "06-automatic-backup-failed")
    page.get_by_role("button", name="Turn off").click()
    expect(page.locator("#schedule-status")).to_have_text("No automatic backup is set.")
    expect(banner).to_be_hidden()


def test_restore_from_history_replaces_the_portal_and_signs_out(page):
    page.get_by_role("link", name="Restore").click()
    expect(page.get_by_role("heading", name="Restore")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Restoring replaces the whole portal")
    page.get_by_label("Backup", exact=True).select_option(index=0)
    page.get_by_label("I understand that the portal will be replaced").check()
    shot(page, "07-restore")
    page.get_by_role("button", name="Restore the portal").click()
    expect(page.locator("#restore-msg")).to_contain_text("The portal was restored", timeout=60_000)
    expect(page.locator("#restore-progress .progress-text")).to_contain_text("100 %")
    shot(page, "08-restore-done")
    page.get_by_role("button", name="Sign in again").click()
    sign_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.get_by_role("heading", name="Data backup")).to_be_visible()


def test_restore_from_an_uploaded_archive(page, server):
    archive = sorted(server.backups.glob("*.tar.zst"))[0]
    page.get_by_role("link", name="Restore").click()
    page.get_by_label("An archive file from this computer").check()
    page.get_by_label("Archive file to upload").set_input_files(str(archive))
    page.get_by_label("I understand that the portal will be replaced").check()
    page.get_by_role("button", name="Restore the portal").click()
    expect(page.locator("#restore-upload-progress .progress-text")).to_contain_text("uploaded")
    expect(page.locator("#restore-upload-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#restore-msg")).to_contain_text("The portal was restored", timeout=60_000)
    shot(page, "09-restore-upload-done")
    page.get_by_role("button", name="Sign in again").click()
    sign_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.get_by_role("heading", name="Data backup")).to_be_visible()


def test_a_narrow_screen_shows_history_as_cards(page):
    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_role("link", name="History").click()
    rows = page.locator("#history-rows tr")
    expect(rows.first).to_be_visible()
    box = rows.first.bounding_box()
    assert box["width"] <= 375, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "10-history-narrow")
    page.set_viewport_size({"width": 1100, "height": 900})


def test_keyboard_reaches_the_screens(page):
    page.goto(page.url.split("#")[0] + "#backup")
    expect(page.get_by_role("heading", name="Data backup")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    for _ in range(10):
        if page.evaluate("document.activeElement.textContent") == "History":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="History")).to_be_focused()


def test_history_deletes_a_record(page, server):
    page.get_by_role("link", name="History").click()
    rows = page.locator("#history-rows tr")
    expect(rows.first).to_be_visible()
    before = rows.count()
    name = rows.first.locator("td").first.inner_text()
    backup_id = rows.first.get_by_role("link", name=re.compile("^Restore")).get_attribute("href").split("=")[1]
    rows.first.get_by_role("button", name=re.compile("^Delete")).click()  # confirm() accepted
    expect(page.locator("#history-msg")).to_have_text(f"Deleted {name}.")
    expect(rows).to_have_count(before - 1)
    assert all(r["id"] != backup_id for r in server.api("GET", "/api/2.0/backup/getbackuphistory"))


def test_a_plain_member_gets_access_denied(browser, server):
    server.api(
        "POST",
        "/api/2.0/people",
        {"email": "member@example.org", "password": "member-password", "firstName": "Plain",
         "lastName": "Member", "type": "User"},
    )
    ctx = browser.new_context(viewport={"width": 1100, "height": 700})
    pg = ctx.new_page()
    pg.goto(server.url + "/")
    sign_in(pg, "member@example.org", "member-password")
    expect(pg.get_by_role("heading", name="Access denied")).to_be_visible()
    expect(pg.get_by_role("alert")).to_contain_text("Only the portal's owner and DocSpace admins")
    expect(pg.get_by_role("navigation", name="Backup screens")).to_be_hidden()
    shot(pg, "11-access-denied")
    ctx.close()
