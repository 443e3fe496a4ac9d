// The console's entry: who is signed in (people/@self), the sign-in form (POST
// authentication, which sets the session cookie), the access-denied page for members who are
// neither the owner nor a DocSpace admin, and the hash router between the four screens.

import { api, ApiError } from "./api.js";
import { $, $$, el, progress, say, template } from "./ui.js";
import * as backup from "./backup.js";
import * as schedule from "./schedule.js";
import * as restore from "./restore.js";
import * as history from "./history.js";

const SCREENS = { backup, schedule, restore, history };
const main = $("#main");
const nav = $("#tabs");
const who = $("#who");
const logout = $("#logout");
let unmount = () => {};

function focusHeading() {
  const h = $("h2", main);
  if (h) {
    h.setAttribute("tabindex", "-1");
    h.focus();
  }
}

async function route() {
  const name = location.hash.slice(1).split("?")[0] || "backup";
  const screen = SCREENS[name] ? name : "backup";
  for (const a of $$("a", nav)) {
    if (a.getAttribute("href") === `#${screen}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  unmount();
  unmount = () => {};
  try {
    unmount = (await SCREENS[screen].mount(main)) ?? (() => {});
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signIn();
    main.replaceChildren(el("p", { class: "msg msg-error", role: "alert", text: `This screen failed to load: ${e.message}` }));
  }
  document.title = `${$("h2", main)?.textContent ?? "Backup"} — dsbackup`;
  focusHeading();
}

function signedOut() {
  unmount();
  unmount = () => {};
  nav.hidden = true;
  logout.hidden = true;
  who.textContent = "";
}

function signIn(message) {
  signedOut();
  main.replaceChildren(template("signin"));
  const form = $("#signin-form", main);
  const msg = $("#signin-msg", main);
  if (message) say(msg, message, "info");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(msg, "");
    try {
      await api.post("/api/2.0/authentication", {
        userName: $("#signin-email", main).value,
        password: $("#signin-password", main).value,
      });
      await start();
    } catch (err) {
      const text =
        err.status === 401
          ? "The e-mail or password is wrong."
          : err.status === 429
            ? "Too many attempts. Wait a minute and try again."
            : `Sign-in failed: ${err.message}`;
      say(msg, text, "error");
      $("#signin-password", main).focus();
    }
  });
  document.title = "Sign in — dsbackup";
  $("#signin-email", main).focus();
}

function denied(me) {
  main.replaceChildren(template("denied"));
  $("#denied-who", main).textContent = me.displayName || me.email;
  document.title = "Access denied — dsbackup";
  focusHeading();
}

/** While the portal is being restored every other endpoint answers 403: show the restore. */
function restoring() {
  main.replaceChildren(template("restoring"));
  const bar = $("#restoring-progress", main);
  const msg = $("#restoring-msg", main);
  progress(bar, 0);
  unmount = restore.followRestore(bar, msg, () => {
    $("#restoring-signin", main).hidden = false;
  });
  $("#restoring-signin", main).addEventListener("click", () => location.assign("/"));
  focusHeading();
}

async function start() {
  let me;
  try {
    me = await api.get("/api/2.0/people/@self");
  } catch (e) {
    if (e.status === 403) {
      const p = await api.get("/api/2.0/backup/getrestoreprogress").catch(() => null);
      if (p && !p.isCompleted) return restoring();
    }
    return signIn(e.status === 401 ? "" : `The server answered: ${e.message}`);
  }
  who.textContent = `${me.displayName || me.email}${me.isOwner ? " (owner)" : me.isAdmin ? " (admin)" : ""}`;
  logout.hidden = false;
  if (!me.isAdmin && !me.isOwner) return denied(me);
  nav.hidden = false;
  await route();
}

logout.addEventListener("click", async () => {
  await api.post("/api/2.0/authentication/logout").catch(() => {});
  signIn("You are signed out.");
});
window.addEventListener("hashchange", () => {
  if (!nav.hidden) route();
});
main.addEventListener("click", (e) => {
  if (e.target.id === "denied-signout") logout.click();
});
start();
