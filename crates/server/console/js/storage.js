// The storage chooser shared by Data backup, Automatic backup and Restore: a radio group of
// the storages this portal can use (rooms from files/rooms, the third-party backup account
// from files/thirdparty/backup, remote consumers from settings/storage/backup), each with the
// fields it needs. `read()` gives `{storageType, storageParams}` for the API.

import { api, storageParams } from "./api.js";
import { $, $$, el, field } from "./ui.js";

async function sources() {
  const quiet = (p, fallback) => p.catch(() => fallback);
  const [rooms, account, consumers] = await Promise.all([
    quiet(api.get("/api/2.0/files/rooms"), null),
    quiet(api.get("/api/2.0/files/thirdparty/backup"), null),
    quiet(api.get("/api/2.0/settings/storage/backup"), []),
  ]);
  return { rooms: rooms?.folders ?? [], account: account ?? null, consumers: consumers ?? [] };
}

function input(id, attrs = {}) {
  return el("input", { id, type: "text", autocomplete: "off", ...attrs });
}

/** The storage options for `purpose` ("backup", "schedule" or "restore"). */
function options(purpose, { rooms, account, consumers }) {
  const p = `${purpose}-storage`;
  const restore = purpose === "restore";
  const list = [];

  if (restore) {
    const id = input(`${p}-fileid`, { inputmode: "numeric" });
    list.push({
      type: 0,
      label: "Documents",
      fields: [field("Archive file id in Documents", id)],
      read: () => ({ filePath: id.value }),
      fill: (m) => (id.value = m.filePath ?? ""),
    });
  } else {
    const room = el("select", { id: `${p}-room` });
    for (const r of rooms) room.append(el("option", { value: r.id, text: r.title }));
    list.push({
      type: 0,
      label: "Documents room",
      disabled: rooms.length === 0,
      note: rooms.length === 0 ? "(create a room first)" : "",
      fields: [field("Room", room)],
      read: () => ({ folderId: room.value }),
      fill: (m) => m.folderId && (room.value = m.folderId),
    });
  }

  if (account) {
    const sub = input(`${p}-tp-path`);
    const label = restore ? "Archive path in the folder" : "Subfolder (optional)";
    list.push({
      type: 1,
      label: `Third-party folder (${account.title})`,
      fields: [field(label, sub)],
      read: () =>
        restore
          ? { folderId: account.id, filePath: sub.value }
          : { folderId: sub.value.trim() ? `${account.id}-${sub.value.trim()}` : account.id },
      fill: (m) => {
        const f = m.folderId ?? "";
        sub.value = f.startsWith(`${account.id}-`) ? f.slice(account.id.length + 1) : "";
      },
    });
  }

  const path = input(`${p}-path`, { spellcheck: "false" });
  list.push({
    type: 3,
    label: "Local path on the server",
    fields: [
      field(
        restore ? "Archive file path" : "Folder path",
        path,
        restore
          ? "An archive file on the server, inside a configured local root."
          : "An existing folder on the server, inside a configured local root (local_roots).",
      ),
    ],
    read: () => ({ filePath: path.value }),
    fill: (m) => (path.value = m.filePath ?? m.folderId ?? ""),
  });

  const name = input(`${p}-ds-name`, { spellcheck: "false" });
  list.push({
    type: 4,
    label: "DataStore (the server's own storage)",
    fields: restore ? [field("Archive name", name)] : [],
    read: () => (restore ? { filePath: name.value } : {}),
    fill: () => {},
  });

  if (consumers.length) {
    const module = el("select", { id: `${p}-module` });
    for (const c of consumers) {
      module.append(el("option", { value: c.id, text: c.isSet ? c.title : `${c.title} (credentials not set)` }));
    }
    const props = el("div", { class: "props" });
    const object = input(`${p}-object`, { spellcheck: "false" });
    const draw = (values = {}) => {
      const c = consumers.find((c) => c.id === module.value);
      props.replaceChildren(
        ...(c?.properties ?? []).map((pr) =>
          field(pr.title || pr.name, input(`${p}-prop-${pr.name}`, { "data-name": pr.name, value: values[pr.name] ?? pr.value ?? "" })),
        ),
      );
    };
    module.addEventListener("change", () => draw());
    const current = consumers.find((c) => c.current);
    if (current) module.value = current.id;
    draw();
    list.push({
      type: 5,
      label: "Remote storage",
      fields: [field("Storage", module), props, ...(restore ? [field("Archive object name", object)] : [])],
      read: () => {
        const m = { module: module.value };
        for (const i of $$("input", props)) m[i.dataset.name] = i.value;
        if (restore) m.filePath = object.value;
        return m;
      },
      fill: (m) => {
        if (m.module) module.value = m.module;
        draw(m);
      },
    });
  }
  return list;
}

/**
 * Fills `root` with the chooser for `purpose`; resolves to `{read, set}`: `read()` the chosen
 * storage for the API, `set(type, paramsMap)` to show a saved choice.
 */
export async function storageChooser(root, purpose) {
  const opts = options(purpose, await sources());
  const set = el("fieldset", { class: "storage-set" }, el("legend", { text: "Storage" }));
  const name = `${purpose}-storage-type`;
  for (const o of opts) {
    const id = `${name}-${o.type}`;
    o.radio = el("input", { type: "radio", name, id, value: o.type, disabled: !!o.disabled });
    o.box = el("div", { class: "storage-fields", hidden: true }, ...o.fields);
    set.append(
      el(
        "div",
        { class: "choice" },
        o.radio,
        el("label", { for: id, text: o.note ? `${o.label} ${o.note}` : o.label }),
        o.box,
      ),
    );
  }
  const show = () => {
    for (const o of opts) o.box.hidden = !o.radio.checked || o.fields.length === 0;
  };
  set.addEventListener("change", (e) => e.target.type === "radio" && show());
  root.replaceChildren(set);
  (opts.find((o) => !o.disabled) ?? opts[0]).radio.checked = true;
  show();
  return {
    read() {
      const o = opts.find((o) => o.radio.checked);
      return { storageType: o.type, storageParams: storageParams(o.read()) };
    },
    set(type, params = {}) {
      const o = opts.find((o) => o.type === type);
      if (!o) return;
      o.radio.checked = true;
      o.fill(params);
      show();
    },
    focus: () => $("input:checked", set)?.focus(),
  };
}
