// History: every live backup record (getbackuphistory) with its date, storage, size, hash,
// whether the schedule made it, a download link where one exists, restore and delete
// (deletebackup/{id}).

import { api } from "./api.js";
import { $, STORAGE_NAMES, dateText, el, say, sizeText, template } from "./ui.js";

function row(r, onDelete) {
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  const actions = el("td", { "data-label": "Actions", class: "actions" });
  if (r.link) {
    actions.append(el("a", { href: r.link, download: r.fileName, text: "Download", "aria-label": `Download ${r.fileName}` }));
  }
  actions.append(el("a", { href: `#restore?backup=${r.id}`, text: "Restore", "aria-label": `Restore ${r.fileName}` }));
  const del = el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${r.fileName}` });
  del.addEventListener("click", () => onDelete(r));
  actions.append(del);
  return el(
    "tr",
    {},
    el("th", { scope: "row", "data-label": "Date" }, el("time", { datetime: r.createdOn, text: dateText(r.createdOn) })),
    cell("Archive", r.fileName),
    cell("Storage", STORAGE_NAMES[r.storageType] ?? String(r.storageType)),
    cell("Size", sizeText(r.size)),
    cell("SHA-256", el("code", { class: "hash", title: r.hash, text: r.hash ? `${r.hash.slice(0, 12)}…` : "—" })),
    cell("Made by", r.isScheduled ? "Schedule" : "Manual"),
    actions,
  );
}

export async function mount(main) {
  main.replaceChildren(template("history"));
  const body = $("#history-rows", main);
  const msg = $("#history-msg", main);
  const empty = $("#history-empty", main);

  const load = async () => {
    let list;
    try {
      list = (await api.get("/api/2.0/backup/getbackuphistory")) ?? [];
    } catch (e) {
      say(msg, `Cannot read the history: ${e.message}`, "error");
      return;
    }
    list.sort((a, b) => b.createdOn.localeCompare(a.createdOn));
    empty.hidden = list.length > 0;
    body.replaceChildren(...list.map((r) => row(r, remove)));
  };

  const remove = async (r) => {
    if (!confirm(`Delete the backup ${r.fileName} and its archive?`)) return;
    try {
      await api.del(`/api/2.0/backup/deletebackup/${r.id}`);
      say(msg, `Deleted ${r.fileName}.`, "ok");
      await load();
    } catch (e) {
      say(msg, `Delete failed: ${e.message}`, "error");
    }
  };

  await load();
}
