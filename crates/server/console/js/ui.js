// Small DOM helpers shared by the screens: cloning a <template>, messages, progress bars,
// formatting of sizes, dates and storage names.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** A copy of `<template id="tpl-NAME">`'s content. */
export function template(name) {
  return document.getElementById(`tpl-${name}`).content.cloneNode(true);
}

/** Shows `text` in a screen's message box (role=alert for errors, status otherwise). */
export function say(box, text, kind = "info") {
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `msg msg-${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
}

/** Sets a progress widget (a <progress> and its label) to `pct` percent. */
export function progress(widget, pct, label) {
  const bar = $("progress", widget);
  const text = $(".progress-text", widget);
  widget.hidden = false;
  bar.value = pct;
  bar.setAttribute("aria-valuenow", String(pct));
  text.textContent = label ?? `${pct} %`;
}

export const STORAGE_NAMES = {
  0: "Documents",
  1: "Third-party folder",
  2: "Custom cloud",
  3: "Local path",
  4: "DataStore",
  5: "Remote storage",
};

export function sizeText(n) {
  if (!Number.isFinite(n) || n <= 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** A date-time for people; "never" for DocSpace's empty date (year 1). */
export function dateText(iso) {
  if (!iso || iso.startsWith("0001-")) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Calls `step` every `ms` until it resolves to true; `step` handles its own errors (one
 *  that escapes stops the polling). Returns a function that stops it. */
export function poll(step, ms = 500) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    let done = true;
    try {
      done = await step();
    } catch (e) {
      console.error(e);
    }
    if (!done && !stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** An element with attributes (`text` sets its text; `true` a bare attribute) and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  e.append(...children);
  return e;
}

/** A labelled form field: `<div class="field"><label for=id>…</label>input[hint]</div>`. */
export function field(label, input, hint) {
  const box = el("div", { class: "field" }, el("label", { for: input.id, text: label }), input);
  if (hint) {
    const h = el("p", { class: "hint", id: `${input.id}-hint`, text: hint });
    input.setAttribute("aria-describedby", h.id);
    box.append(h);
  }
  return box;
}
