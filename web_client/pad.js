// The drawing pad: Pointer Events (mouse, touch, pen) in, strokes streamed over the socket out,
// guesses shown as they come back. The sketchpad (main.js) and the play mode (game.js) both drive it.
//
// Promises:
// - Points are streamed while the pen moves, batched once per animation frame; a pen-up is sent
//   on release and its guesses replace the shown ones.
// - Live guesses (hello live_ms) update the list while drawing; the top guess is announced to
//   screen readers at most once per pen-up, never while drawing.
// - The drawing lives here, not on the server: after a reconnect the pad asks to resume its drawing
//   key (hello.resume, so the history keeps one record of it) and replays its strokes, so guesses
//   come back.
// - The server's limits (welcome.limits) are kept: a stroke ends at max_points_per_stroke, a stroke
//   past max_strokes (or past max_points_per_drawing) is refused with a plain message, and a stroke
//   the server refused anyway is dropped, so it is never replayed.
// - Undo (Ctrl+Z), redo (Ctrl+Shift+Z, Ctrl+Y) and clear; a new stroke empties redo.
// - Leaving the canvas while drawing lifts the pen; coming back draws a new stroke.
// - Coordinates are sent in a fixed 0..1000 frame of the square canvas, whatever its size on
//   screen; t is ms since the drawing's first point.
// - While locked (the play mode between rounds) nothing is drawn, and a click on the canvas does
//   not move the keyboard focus.

import { appendPoint, drawStrokes, fitCanvas } from "./drawing.js";
import { conn, configure, hello, onMessage, onWelcome, request, send, stats, wake } from "./socket.js";
import { rememberKey } from "./storage.js";
import * as view from "./view.js";

export const LOGICAL = 1000; // side of the coordinate frame sent to the server
// Errors meaning the server refused (part of) a stroke: that stroke is dropped here.
const REFUSED = new Set(["too_many_points", "stroke_too_long", "too_many_strokes", "drawing_too_large"]);

const els = view.els;
const ctx = els.pad.getContext("2d");

export const state = {
  strokes: [], // finished strokes: {x: [], y: [], t: []}
  redo: [], // undone strokes, last undone last
  current: null, // stroke in progress
  unsent: { x: [], y: [], t: [] }, // points of `current` not sent yet
  t0: null, // performance.now() of the drawing's first point
  pointerId: null, // the pointer held down (kept while it is off the canvas)
  frameRequested: false,
  awaitingCleared: 0, // clears sent whose "cleared" has not come back
  drawingKey: null, // the server's key of the drawing on the canvas (v1.1 `drawing`)
  capped: false, // a limit ended the stroke: nothing more until the pen lifts
  locked: false, // play mode: no drawing between rounds
};

// ------------------------------------------------------------------ canvas

let scale = 1; // device pixels per logical unit

function resize() {
  scale = fitCanvas(els.pad, LOGICAL);
  redraw();
}

function drawSegment(s) {
  const n = s.x.length;
  if (n < 2) return drawStrokes(ctx, [s], scale);
  drawStrokes(ctx, [{ x: s.x.slice(n - 2), y: s.y.slice(n - 2) }], scale);
}

function redraw() {
  ctx.clearRect(0, 0, els.pad.width, els.pad.height);
  drawStrokes(ctx, state.current ? [...state.strokes, state.current] : state.strokes, scale);
  showHint();
}

function showHint() {
  els.hint.hidden = state.strokes.length > 0 || state.current !== null || state.locked;
}

const meta = (live = false) => view.showMeta({
  strokes: state.strokes.length, drawing: state.current !== null, live, redo: state.redo.length, locked: state.locked,
});

// ------------------------------------------------------------------ pointer input

function pointOf(e) {
  const rect = els.pad.getBoundingClientRect();
  const k = LOGICAL / rect.width;
  return [(e.clientX - rect.left) * k, (e.clientY - rect.top) * k];
}

const inside = ([x, y]) => x >= 0 && y >= 0 && x <= LOGICAL && y <= LOGICAL;

function pointsDrawn() {
  let n = state.current ? state.current.x.length : 0;
  for (const s of state.strokes) n += s.x.length;
  return n;
}

// Whether one more point fits the server's limits; at a limit the stroke ends there.
function roomForPoint() {
  const s = state.current;
  if (s.x.length >= conn.limits.max_points_per_stroke) {
    state.capped = true;
    penUp();
    view.notice("That line got very long, so I ended it there");
    return false;
  }
  if (pointsDrawn() >= conn.limits.max_points_per_drawing) {
    state.capped = true;
    penUp();
    view.notice("This drawing is full: undo or clear to draw more");
    return false;
  }
  return true;
}

const addPoint = (x, y) => appendPoint(state, x, y, roomForPoint);

// Start a stroke at `p` if the drawing has room for one; false (with a message) if not.
function beginStroke(p) {
  if (state.capped) return false; // at a limit: the pen must lift first
  if (state.strokes.length >= conn.limits.max_strokes) {
    state.capped = true;
    view.notice(`A drawing can have at most ${conn.limits.max_strokes} strokes: undo or clear to draw more`);
    return false;
  }
  if (pointsDrawn() >= conn.limits.max_points_per_drawing) {
    state.capped = true;
    view.notice("This drawing is full: undo or clear to draw more");
    return false;
  }
  state.current = { x: [], y: [], t: [] };
  state.redo = [];
  els.hint.hidden = true;
  view.hideSprite();
  addPoint(p[0], p[1]);
  drawStrokes(ctx, [state.current], scale);
  meta(true);
  scheduleFlush();
  return true;
}

function onPointerDown(e) {
  if (state.locked) {
    e.preventDefault(); // a click on the locked pad keeps the focus where it is (the round's button)
    return;
  }
  if (state.pointerId !== null || !e.isPrimary) return;
  if (e.pointerType === "mouse" && e.button !== 0) return;
  e.preventDefault();
  wake();
  els.pad.setPointerCapture(e.pointerId);
  state.pointerId = e.pointerId;
  state.capped = false;
  beginStroke(pointOf(e));
}

function onPointerMove(e) {
  if (e.pointerId !== state.pointerId) return;
  const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
  for (const ev of events.length ? events : [e]) {
    const p = pointOf(ev);
    if (!inside(p)) {
      if (state.current) penUp(); // off the canvas: the pen lifts instead of tracing its edge
      continue;
    }
    if (!state.current) {
      if (state.locked || !beginStroke(p)) return;
      continue;
    }
    if (addPoint(p[0], p[1])) drawSegment(state.current);
  }
  scheduleFlush();
}

function onPointerEnd(e) {
  if (e.pointerId !== state.pointerId) return;
  state.pointerId = null;
  state.capped = false;
  penUp();
}

function scheduleFlush() {
  if (state.frameRequested) return;
  state.frameRequested = true;
  requestAnimationFrame(() => {
    state.frameRequested = false;
    flushPoints();
  });
}

function flushPoints() {
  const u = state.unsent;
  if (!u.x.length || !conn.connected) return; // kept in `current`; replayed on reconnect
  sendPoints(u.x, u.y, u.t);
  state.unsent = { x: [], y: [], t: [] };
}

function sendPoints(xs, ys, ts) {
  const max = conn.limits.max_points_per_message || 2048;
  for (let i = 0; i < xs.length; i += max) {
    send({ type: "points", x: xs.slice(i, i + max), y: ys.slice(i, i + max), t: ts.slice(i, i + max) });
    stats.pointsSent += Math.min(max, xs.length - i);
  }
}

// A whole stroke as few messages as possible (replay, redo): `stroke`, or points + pen_up.
function sendStroke(s, kind) {
  const max = conn.limits.max_points_per_message || 2048;
  if (s.x.length <= max) {
    stats.pointsSent += s.x.length;
    return request({ type: "stroke", x: s.x, y: s.y, t: s.t }, kind);
  }
  sendPoints(s.x, s.y, s.t);
  return request({ type: "pen_up" }, kind);
}

function penUp() {
  const s = state.current;
  if (!s) return;
  flushPoints();
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  if (!s.x.length) return meta();
  state.strokes.push(s);
  request({ type: "pen_up" }, "pen_up");
  meta();
}

// ------------------------------------------------------------------ actions

export function undo() {
  if (state.locked) return;
  if (state.current) {
    state.current = null;
    state.unsent = { x: [], y: [], t: [] };
  } else if (state.strokes.length) {
    state.redo.push(state.strokes.pop());
  } else {
    return;
  }
  redraw();
  request({ type: "undo" }, "undo");
  if (!state.strokes.length) view.showGuesses([], false, false);
  meta();
}

export function redo() {
  if (state.current || !state.redo.length || state.locked) return;
  if (state.strokes.length >= conn.limits.max_strokes) return;
  const s = state.redo.pop();
  state.strokes.push(s);
  redraw();
  sendStroke(s, "redo");
  meta();
}

export function clear() {
  state.strokes = [];
  state.redo = [];
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  state.t0 = null;
  state.drawingKey = null;
  view.forgetAnnounced();
  redraw();
  view.showGuesses([], false, false);
  view.hideSprite();
  meta();
  if (conn.connected) {
    state.awaitingCleared += 1;
    request({ type: "clear" }, "clear");
  }
}

/** Lock (between play-mode rounds: the pen lifts, nothing is drawn) or unlock the pad. */
export function lock(locked) {
  state.locked = locked;
  if (locked && state.current) penUp();
  showHint();
  meta();
}

/** The drawing's strokes, copied. */
export const strokes = () => state.strokes.map((s) => ({ x: s.x.slice(), y: s.y.slice(), t: s.t.slice() }));

/** Play mode: the word being drawn (hello.target) and the rule that recognizes it. */
export function setTarget(word, recognize = "top1") {
  configure(word === null ? { target: null } : { target: word, recognize }, "game");
}

// ------------------------------------------------------------------ the server's side

// The server lost our drawing with the old connection: send it again, stroke by stroke.
function replayDrawing() {
  for (const s of state.strokes) {
    sendStroke(s, "replay");
    stats.replayed += 1;
  }
  if (state.current && state.current.x.length) {
    const c = state.current;
    sendPoints(c.x, c.y, c.t);
  }
  state.unsent = { x: [], y: [], t: [] };
}

onWelcome(() => {
  state.awaitingCleared = 0;
  const resume = conn.features.includes("resume") && state.drawingKey && state.strokes.length;
  request(hello(resume ? { resume: state.drawingKey } : {}), resume ? "resume" : "hello");
  replayDrawing();
});

onMessage((msg, pending) => {
  switch (msg.type) {
    case "hello":
      if (msg.resumed) stats.resumed += 1;
      if (msg.drawing) state.drawingKey = msg.drawing;
      return;
    case "guesses":
      return onGuesses(msg, pending);
    case "cleared":
      state.awaitingCleared = Math.max(0, state.awaitingCleared - 1);
      if (msg.drawing && !state.awaitingCleared) state.drawingKey = msg.drawing;
      return;
    case "error":
      if (REFUSED.has(msg.code)) refused(msg);
      return;
    default:
      return;
  }
});

function onGuesses(msg, pending) {
  if (state.awaitingCleared) return; // for the drawing that was just cleared
  if (msg.drawing) {
    rememberKey(msg.drawing);
    state.drawingKey = msg.drawing;
  }
  if (msg.live) {
    if (!state.current) return; // the stroke ended meanwhile; its pen-up reply follows
    stats.live += 1;
  } else {
    stats.final += 1;
  }
  if (pending && (pending.kind === "pen_up" || pending.kind === "undo")) view.showRtt(pending.sent, msg.ms);
  // a reply for fewer strokes than drawn is superseded by a later one
  if (!msg.live && msg.strokes !== state.strokes.length) return;
  const guesses = msg.guesses || [];
  view.showGuesses(guesses, !!msg.live, state.strokes.length > 0 || state.current !== null);
  meta(!!msg.live);
  if (!msg.live && !state.locked) view.announce(view.guessText(guesses), stats); // a round's verdict stays
}

// The server refused (part of) a stroke: drop it here too, so it is never replayed.
function refused(msg) {
  stats.refused += 1;
  if (state.current) {
    state.current = null;
    state.unsent = { x: [], y: [], t: [] };
    request({ type: "undo" }, "undo");
    redraw();
  }
  view.notice(`The server refused that stroke: ${msg.message}`, true);
  meta();
}

// ------------------------------------------------------------------ wiring

els.pad.addEventListener("pointerdown", onPointerDown);
els.pad.addEventListener("mousedown", (e) => { if (state.locked) e.preventDefault(); });
els.pad.addEventListener("pointermove", onPointerMove);
els.pad.addEventListener("pointerup", onPointerEnd);
els.pad.addEventListener("pointercancel", onPointerEnd);
els.pad.addEventListener("lostpointercapture", onPointerEnd);
els.pad.addEventListener("contextmenu", (e) => e.preventDefault());
new ResizeObserver(resize).observe(els.pad);
resize();
view.showGuesses([], false, false);
meta();
