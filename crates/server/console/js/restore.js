// Restore: from a history record, from a path in a storage, or from an archive uploaded in
// chunks (backupFileUpload.ashx); startrestore, then getrestoreprogress (anonymous, the only
// endpoint that answers while the portal is restoring). A restore replaces the portal and ends
// every session, so success ends with a new sign-in.

import { api, uploadArchive } from "./api.js";
import { $, $$, STORAGE_NAMES, dateText, poll, progress, say, sizeText, template } from "./ui.js";
import { storageChooser } from "./storage.js";

/** Follows a running restore in `bar`/`msg`; `done(ok)` when it ends. Returns a stop function. */
export function followRestore(bar, msg, done) {
  return poll(async () => {
    let p;
    try {
      p = await api.get("/api/2.0/backup/getrestoreprogress");
    } catch (e) {
      say(msg, `Cannot read the restore progress: ${e.message}`, "error");
      done(false);
      return true;
    }
    if (!p) return false;
    progress(bar, p.progress ?? 0);
    if (!p.isCompleted) return false;
    if (p.error) {
      say(msg, `The restore failed: ${p.error}`, "error");
      done(false);
    } else {
      progress(bar, 100, "100 % — complete");
      say(msg, "The portal was restored. Everyone was signed out: sign in again.", "ok");
      done(true);
    }
    return true;
  });
}

export async function mount(main) {
  main.replaceChildren(template("restore"));
  const form = $("#restore-form", main);
  const record = $("#restore-record", main);
  const file = $("#restore-file", main);
  const upload = $("#restore-upload-progress", main);
  const bar = $("#restore-progress", main);
  const msg = $("#restore-msg", main);
  const go = $("#restore-start", main);
  const again = $("#restore-signin", main);
  let stop = () => {};

  const chooser = await storageChooser($(".storage", main), "restore");
  let history = [];
  try {
    history = (await api.get("/api/2.0/backup/getbackuphistory")) ?? [];
  } catch (e) {
    say(msg, `Cannot read the history: ${e.message}`, "error");
  }
  history.sort((a, b) => b.createdOn.localeCompare(a.createdOn));
  for (const r of history) {
    const label = `${dateText(r.createdOn)} — ${STORAGE_NAMES[r.storageType] ?? r.storageType}, ${sizeText(r.size)}${r.isScheduled ? ", scheduled" : ""}`;
    record.append(new Option(label, r.id));
  }
  if (!history.length) record.append(new Option("No backups yet", ""));

  const sourceBoxes = () => {
    const source = $("input[name=restore-source]:checked", main).value;
    for (const box of $$(".source-fields", main)) box.hidden = box.dataset.source !== source;
    return source;
  };
  form.addEventListener("change", sourceBoxes);
  const preselect = new URLSearchParams(location.hash.split("?")[1] ?? "").get("backup");
  if (preselect) record.value = preselect;
  sourceBoxes();

  again.addEventListener("click", () => location.assign("/"));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(msg, "");
    const source = sourceBoxes();
    const notify = $("#restore-notify", main).checked;
    let body;
    try {
      if (source === "history") {
        const r = history.find((r) => r.id === record.value);
        if (!r) throw new Error("choose a backup from the history");
        body = { backupId: r.id, storageType: r.storageType, storageParams: [], notify };
      } else if (source === "storage") {
        body = { backupId: "", ...chooser.read(), notify };
      } else {
        const f = file.files[0];
        if (!f) throw new Error("choose an archive file to upload");
        go.disabled = true;
        await uploadArchive(f, (sent, total) =>
          progress(upload, Math.floor((sent * 100) / total), `${sizeText(sent)} of ${sizeText(total)} uploaded`),
        );
        body = { backupId: "", storageType: 3, storageParams: [], notify };
      }
      go.disabled = true;
      await api.post("/api/2.0/backup/startrestore", body);
      progress(bar, 0, "0 % — starting");
      say(msg, "Restoring. The portal is unavailable until it ends.", "info");
      stop = followRestore(bar, msg, (ok) => {
        go.disabled = false;
        again.hidden = !ok;
        if (ok) again.focus();
      });
    } catch (err) {
      go.disabled = false;
      say(msg, `The restore could not start: ${err.message}`, "error");
    }
  });
  return () => stop();
}
