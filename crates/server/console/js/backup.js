// Data backup: choose a storage, start (startbackup), follow getbackupprogress until the job
// ends, offer the download link, cancel (cancelbackup).

import { api } from "./api.js";
import { $, poll, progress, say, template } from "./ui.js";
import { storageChooser } from "./storage.js";

const FAILED = 4;
const CANCELED = 3;

export async function mount(main) {
  main.replaceChildren(template("backup"));
  const form = $("#backup-form", main);
  const start = $("#backup-start", main);
  const cancel = $("#backup-cancel", main);
  const bar = $("#backup-progress", main);
  const msg = $("#backup-msg", main);
  const link = $("#backup-link", main);
  const chooser = await storageChooser($(".storage", main), "backup");
  let stop = () => {};

  const running = (on) => {
    start.disabled = on;
    cancel.hidden = !on;
  };

  const follow = () => {
    running(true);
    link.hidden = true;
    stop = poll(async () => {
      let p;
      try {
        p = await api.get("/api/2.0/backup/getbackupprogress");
      } catch (e) {
        say(msg, `Cannot read the progress: ${e.message}`, "error");
        running(false);
        return true;
      }
      if (!p) {
        // Dropped by cancelbackup: the job is gone.
        running(false);
        return true;
      }
      progress(bar, p.progress ?? 0, `${p.progress ?? 0} %`);
      if (!p.isCompleted) return false;
      running(false);
      if (p.error || p.status === FAILED) {
        say(msg, `The backup failed: ${p.error || "unknown error"}`, "error");
      } else if (p.status === CANCELED) {
        say(msg, "The backup was canceled.", "info");
      } else {
        progress(bar, 100, "100 % — complete");
        say(msg, p.warning ? `Backup complete, with a warning: ${p.warning}` : "Backup complete.", "ok");
        if (p.link) {
          $("a", link).href = p.link;
          link.hidden = false;
        }
      }
      return true;
    });
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(msg, "");
    try {
      await api.post("/api/2.0/backup/startbackup", chooser.read());
      progress(bar, 0, "0 % — starting");
      follow();
    } catch (err) {
      say(msg, `The backup could not start: ${err.message}`, "error");
    }
  });

  cancel.addEventListener("click", async () => {
    try {
      const dropped = await api.post("/api/2.0/backup/cancelbackup");
      stop();
      running(false);
      bar.hidden = true;
      say(msg, dropped ? "The backup was canceled." : "No backup was running.", "info");
    } catch (err) {
      say(msg, `Cancel failed: ${err.message}`, "error");
    }
  });

  // A backup already running (started elsewhere, or before a reload) is followed at once.
  try {
    const p = await api.get("/api/2.0/backup/getbackupprogress");
    if (p && !p.isCompleted) {
      progress(bar, p.progress ?? 0);
      follow();
    }
  } catch {
    /* shown when the user starts one */
  }
  return () => stop();
}
