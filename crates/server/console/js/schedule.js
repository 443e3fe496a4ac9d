// Automatic backup: the schedule form (createbackupschedule), its state (getbackupschedule:
// next run, last run, and the last run's error, shown first when there is one) and its
// removal (deletebackupschedule).

import { api } from "./api.js";
import { $, dateText, say, template } from "./ui.js";
import { storageChooser } from "./storage.js";

const PERIODS = { 0: "day", 1: "week", 2: "month" };

export async function mount(main) {
  main.replaceChildren(template("schedule"));
  const form = $("#schedule-form", main);
  const period = $("#schedule-period", main);
  const weekday = $("#schedule-weekday", main);
  const monthday = $("#schedule-monthday", main);
  const hour = $("#schedule-hour", main);
  const keep = $("#schedule-keep", main);
  const msg = $("#schedule-msg", main);
  const status = $("#schedule-status", main);
  const error = $("#schedule-error", main);
  const remove = $("#schedule-delete", main);

  for (let d = 1; d <= 31; d++) monthday.append(new Option(String(d), String(d)));
  for (let h = 0; h < 24; h++) hour.append(new Option(`${String(h).padStart(2, "0")}:00`, String(h)));
  const chooser = await storageChooser($(".storage", main), "schedule");

  const showDays = () => {
    $("#schedule-weekday-field", main).hidden = period.value !== "1";
    $("#schedule-monthday-field", main).hidden = period.value !== "2";
  };
  period.addEventListener("change", showDays);

  const load = async (fill = true) => {
    let s;
    try {
      s = await api.get("/api/2.0/backup/getbackupschedule");
    } catch (e) {
      say(msg, `Cannot read the schedule: ${e.message}`, "error");
      return;
    }
    remove.hidden = !s;
    if (!s) {
      status.textContent = "No automatic backup is set.";
      error.hidden = true;
      showDays();
      return;
    }
    if (fill) {
      period.value = String(s.cronParams.period);
      hour.value = String(s.cronParams.hour);
      if (s.cronParams.period === 1) weekday.value = String(s.cronParams.day);
      if (s.cronParams.period === 2) monthday.value = String(s.cronParams.day);
      keep.value = String(s.backupsStored ?? 1);
      chooser.set(s.storageType, s.storageParams ?? {});
      showDays();
    }
    status.textContent =
      `Every ${PERIODS[s.cronParams.period] ?? "period"} at ${String(s.cronParams.hour).padStart(2, "0")}:00. ` +
      `Next run: ${dateText(s.nextBackupTime)}. Last run started: ${dateText(s.lastBackupTime)}.`;
    if (s.lastError) {
      error.hidden = false;
      $(".error-text", error).textContent = s.lastError;
      $(".error-time", error).textContent = dateText(s.lastErrorTime);
    } else {
      error.hidden = true;
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = Number(period.value);
    const body = {
      ...chooser.read(),
      backupsStored: Number(keep.value),
      cronParams: {
        period: p,
        hour: Number(hour.value),
        day: p === 1 ? Number(weekday.value) : p === 2 ? Number(monthday.value) : null,
      },
      dump: false,
    };
    try {
      await api.post("/api/2.0/backup/createbackupschedule", body);
      say(msg, "The schedule is saved.", "ok");
      await load();
    } catch (err) {
      say(msg, `The schedule was not saved: ${err.message}`, "error");
    }
  });

  remove.addEventListener("click", async () => {
    if (!confirm("Turn automatic backup off? Existing archives stay.")) return;
    try {
      await api.del("/api/2.0/backup/deletebackupschedule");
      say(msg, "Automatic backup is off.", "ok");
      await load();
    } catch (err) {
      say(msg, `The schedule was not removed: ${err.message}`, "error");
    }
  });

  await load();
  // The scheduler may record an outcome while the page is open: the state follows, the form
  // is left as the user has it.
  const timer = setInterval(() => load(false).catch(() => {}), 3000);
  return () => clearInterval(timer);
}
