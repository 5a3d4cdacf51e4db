// doodlestream's page at `/`: the sketchpad (pad.js over socket.js, shown by view.js), or with
// `?mode=play` the play mode (game.js) on the same pad. This module wires them; nothing imports it.
//
// Promises:
// - A page opened with `?token=...` (a token deployment's link: the server set its cookie with the
//   page) takes the token out of the address bar at once; a wrong or missing token is said on the
//   badge instead of retrying forever (socket.js).
// - Sketchpad only: Submit (with the optional word) and Sprite, each saying "not available" on a
//   server without the feature; a saved drawing is remembered in this browser (storage.js) and
//   linked; the model's words are offered for "What is it?"; the footer says what the server keeps.
// - window.doodle exposes the counters and state for people (and tests) at the console, and
//   window.doodle.ready tells boot.js the scripts loaded.

import * as pad from "./pad.js";
import { conn, connect, onMessage, onState, request, stats, wake } from "./socket.js";
import { rememberDrawing } from "./storage.js";
import * as view from "./view.js";

const UNAVAILABLE = "unknown_type";
// Errors answered elsewhere: a stroke the pad dropped, a resume the server declined, the play mode's own.
const QUIET_KINDS = new Set(["resume", "game", "game-submit"]);
const REFUSED = new Set(["too_many_points", "stroke_too_long", "too_many_strokes", "drawing_too_large"]);

const $ = (id) => document.getElementById(id);
const els = view.els;
const params = new URLSearchParams(location.search);
const play = params.get("mode") === "play";

// ------------------------------------------------------------------ the token link

if (params.has("token")) {
  conn.tokenGiven = true;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
}

// ------------------------------------------------------------------ connection

onState((state, detail) => {
  if (state === "denied") pad.lock(true); // nothing can be drawn; the canvas says why (view.setConn)
  view.setConn(state, detail, conn.attempt > 0);
  if (state !== "connected") view.markStale();
});

// ------------------------------------------------------------------ sketchpad actions

function clearDrawing() {
  pad.clear();
  els.word.value = ""; // the next drawing is not this one: its word goes too
}

function submitDrawing(ev) {
  ev.preventDefault();
  if (!pad.state.strokes.length) return view.notice("Draw something first");
  const word = els.word.value.trim();
  const msg = { type: "submit" };
  if (word) msg.word = word;
  if (!request(msg, "submit")) view.notice("Offline: can't submit right now");
}

function askSprite() {
  if (!pad.state.strokes.length) return view.notice("Draw something first");
  if (!request({ type: "sprite" }, "sprite")) view.notice("Offline: can't make a sprite right now");
}

function saved(id, key) {
  const link = document.createElement("a");
  link.href = `/doodles/${id}`;
  link.textContent = `drawing #${id}`;
  view.notice(["Saved as ", link]);
  rememberDrawing(id, key, els.word.value.trim());
}

onMessage((msg, pending) => {
  const what = pending ? pending.kind : "";
  if (msg.type === "saved" && what === "submit") return saved(msg.id, msg.drawing || pad.state.drawingKey);
  if (msg.type === "sprite") return view.showSprite(msg.png);
  if (msg.type !== "error" || QUIET_KINDS.has(what) || REFUSED.has(msg.code)) return undefined;
  if (msg.code === UNAVAILABLE && (what === "submit" || what === "sprite")) {
    return view.notice(`${what === "submit" ? "Submit" : "Sprite"} is not available on this server`);
  }
  console.warn("server error", msg.code, msg.message);
  return view.notice(what ? `${what}: ${msg.message}` : msg.message, true);
});

// The model's words as suggestions for "What is it?" (optional: an older server has no /classes).
async function loadWords() {
  try {
    const res = await fetch("/classes");
    if (!res.ok) return;
    const { classes } = await res.json();
    $("words").replaceChildren(...classes.map((w) => Object.assign(document.createElement("option"), { value: w })));
  } catch (err) {
    console.warn("no word list", err);
  }
}

// What this server keeps and who sees it: the gallery's own sentence (an older server has none,
// and the page's wording stays).
async function loadPrivacy() {
  try {
    const res = await fetch("/api/privacy");
    if (!res.ok) return;
    const { text } = await res.json();
    if (typeof text === "string") $("privacy").textContent = text;
  } catch (err) {
    console.warn("no privacy statement", err);
  }
}

// ------------------------------------------------------------------ wiring

els.undo.addEventListener("click", pad.undo);
els.redo.addEventListener("click", pad.redo);
els.clear.addEventListener("click", clearDrawing);
els.submitForm.addEventListener("submit", submitDrawing);
els.sprite.addEventListener("click", askSprite);
window.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement) return; // typing, not drawing
  wake();
  const key = e.key.toLowerCase();
  if (!(e.ctrlKey || e.metaKey)) return;
  if ((key === "z" && e.shiftKey) || key === "y") {
    e.preventDefault();
    pad.redo();
  } else if (key === "z") {
    e.preventDefault();
    pad.undo();
  }
});

window.doodle = { stats, state: pad.state, conn, ready: true };
connect();
loadPrivacy();
if (play) {
  import("./game.js").catch((err) => {
    console.error("the play mode did not load", err);
    view.notice("The game could not load: reload the page to try again", true);
  });
} else {
  loadWords();
  $("nav-sandbox").setAttribute("aria-current", "page");
}
