// doodlestream sketchpad: draws with Pointer Events (mouse, touch, pen) and speaks
// protocol v1.1 (README) over one WebSocket in msgpack (window.MessagePack, from the npm
// package @msgpack/msgpack served at /vendor/msgpack.min.js). The play mode (game.js,
// `/?mode=play`) drives this same pad.
//
// Promises:
// - Points are streamed while the pen moves, batched once per animation frame; a pen-up
//   is sent on release and its guesses replace the shown ones.
// - Live guesses (hello live_ms) update the list while drawing; the top guess is
//   announced to screen readers at most once per pen-up (#announce), never while drawing.
// - The drawing lives here, not on the server: after a disconnect the client reconnects
//   with exponential backoff, asks to resume its drawing key (hello.resume, so the history
//   keeps one record of it) and replays its strokes, so guesses come back. After the
//   server's idle close it waits for the player to draw again before reconnecting.
// - The server's limits (welcome.limits) are kept here: a stroke ends at
//   max_points_per_stroke, a stroke past max_strokes (or past max_points_per_drawing) is
//   refused with a plain message, and a stroke the server refused anyway is dropped, so it
//   is never replayed.
// - Undo (Ctrl+Z), redo (Ctrl+Shift+Z, Ctrl+Y) and Clear; a new stroke empties redo.
// - Leaving the canvas while drawing lifts the pen; coming back draws a new stroke.
// - Coordinates are sent in a fixed 0..1000 frame of the square canvas, whatever its
//   size on screen; t is ms since the drawing's first point.

const { encode, decode } = window.MessagePack;

const LOGICAL = 1000; // side of the coordinate frame sent to the server
const LIVE_MS = 200; // live-guess interval asked of the server
const MIN_STEP = 1.5; // smallest move kept, in logical units (drops jitter)
const LINE_WIDTH = 9; // drawn line, in logical units
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const NOTICE_MS = 3500;
const MIN_SHOWN_SCORE = 0.005; // guesses that would read "0%" are not listed
const UNAVAILABLE = "unknown_type";
// Errors meaning the server refused (part of) a stroke: that stroke is dropped here.
const REFUSED = new Set(["too_many_points", "stroke_too_long", "too_many_strokes", "drawing_too_large"]);

const $ = (id) => document.getElementById(id);
const els = {
  pad: $("pad"), hint: $("hint"), conn: $("conn"), connText: $("conn-text"),
  undo: $("undo"), redo: $("redo"), clear: $("clear"), submitForm: $("submit-form"), word: $("word"),
  submit: $("submit"), sprite: $("sprite"), topWord: $("top-word"), list: $("guess-list"),
  metaStrokes: $("meta-strokes"), rtt: $("rtt"), notice: $("notice"), announce: $("announce"),
  spriteBox: $("sprite-box"), spriteImg: $("sprite-img"), spriteLink: $("sprite-link"),
};
const ctx = els.pad.getContext("2d");

const state = {
  strokes: [], // finished strokes: {x: [], y: [], t: []}
  redo: [], // undone strokes, last undone last
  current: null, // stroke in progress
  unsent: { x: [], y: [], t: [] }, // points of `current` not sent yet
  t0: null, // performance.now() of the drawing's first point
  pointerId: null, // the pointer held down (kept while it is off the canvas)
  frameRequested: false,
  ws: null,
  connected: false,
  idle: false, // closed by the server for idling: reconnect when the player draws again
  attempt: 0,
  retryTimer: null,
  limits: { max_points_per_message: 2048, max_points_per_stroke: 8192, max_strokes: 256, max_points_per_drawing: 32768 },
  features: [],
  seq: 0,
  inflight: new Map(), // seq -> {kind, sent}
  awaitingCleared: 0, // clears sent whose "cleared" has not come back
  drawingKey: null, // the server's key of the drawing on the canvas (v1.1 `drawing`)
  spriteUrl: null,
  target: null, // play mode: the word being drawn (hello.target)
  capped: false, // a limit ended the stroke: nothing more until the pen lifts
  locked: false, // play mode: no drawing between rounds
  lastAnnounced: null,
};

// Counters for people (and tests) poking at the page from the console.
const stats = {
  connects: 0, replayed: 0, live: 0, final: 0, pointsSent: 0, messagesSent: 0, errors: 0,
  refused: 0, announcements: 0, resumed: 0,
};
// Other modules (game.js) listen to server messages through here.
const listeners = new Set();
window.doodle = { stats, state };

// ------------------------------------------------------------------ canvas

let scale = 1; // device pixels per logical unit

function resize() {
  const rect = els.pad.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const side = Math.max(1, Math.round(rect.width * dpr));
  if (els.pad.width !== side) {
    els.pad.width = side;
    els.pad.height = side;
  }
  scale = side / LOGICAL;
  redraw();
}

export function drawStrokes(c, strokes, k, width = LINE_WIDTH) {
  c.lineCap = "round";
  c.lineJoin = "round";
  c.lineWidth = width * k;
  c.strokeStyle = "#1f2430";
  c.fillStyle = "#1f2430";
  for (const s of strokes) {
    if (!s.x.length) continue;
    c.beginPath();
    if (s.x.length === 1) {
      c.arc(s.x[0] * k, s.y[0] * k, (width * k) / 2, 0, 2 * Math.PI);
      c.fill();
      continue;
    }
    c.moveTo(s.x[0] * k, s.y[0] * k);
    for (let i = 1; i < s.x.length; i++) c.lineTo(s.x[i] * k, s.y[i] * k);
    c.stroke();
  }
}

function drawSegment(s) {
  const n = s.x.length;
  if (n < 2) return drawStrokes(ctx, [s], scale);
  drawStrokes(ctx, [{ x: s.x.slice(n - 2), y: s.y.slice(n - 2) }], scale);
}

function redraw() {
  ctx.clearRect(0, 0, els.pad.width, els.pad.height);
  drawStrokes(ctx, state.current ? [...state.strokes, state.current] : state.strokes, scale);
  els.hint.hidden = state.strokes.length > 0 || state.current !== null;
}

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
  if (s.x.length >= state.limits.max_points_per_stroke) {
    state.capped = true;
    penUp();
    notice("That line got very long, so I ended it there");
    return false;
  }
  if (pointsDrawn() >= state.limits.max_points_per_drawing) {
    state.capped = true;
    penUp();
    notice("This drawing is full: undo or clear to draw more");
    return false;
  }
  return true;
}

function addPoint(x, y) {
  const s = state.current;
  const n = s.x.length;
  if (n && Math.hypot(x - s.x[n - 1], y - s.y[n - 1]) < MIN_STEP) return false;
  if (!roomForPoint()) return false;
  const now = performance.now();
  if (state.t0 === null) state.t0 = now;
  const t = Math.round(now - state.t0);
  x = Math.round(x * 10) / 10;
  y = Math.round(y * 10) / 10;
  s.x.push(x); s.y.push(y); s.t.push(t);
  state.unsent.x.push(x); state.unsent.y.push(y); state.unsent.t.push(t);
  return true;
}

// Start a stroke at `p` if the drawing has room for one; false (with a message) if not.
function beginStroke(p) {
  if (state.capped) return false; // at a limit: the pen must lift first
  if (state.strokes.length >= state.limits.max_strokes) {
    state.capped = true;
    notice(`A drawing can have at most ${state.limits.max_strokes} strokes: undo or clear to draw more`);
    return false;
  }
  if (pointsDrawn() >= state.limits.max_points_per_drawing) {
    state.capped = true;
    notice("This drawing is full: undo or clear to draw more");
    return false;
  }
  state.current = { x: [], y: [], t: [] };
  state.redo = [];
  els.hint.hidden = true;
  hideSprite();
  addPoint(p[0], p[1]);
  drawStrokes(ctx, [state.current], scale);
  updateMeta(true);
  scheduleFlush();
  return true;
}

function onPointerDown(e) {
  if (state.pointerId !== null || !e.isPrimary || state.locked) return;
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
  if (!u.x.length || !state.connected) return; // kept in `current`; replayed on reconnect
  sendPoints(u.x, u.y, u.t);
  state.unsent = { x: [], y: [], t: [] };
}

function sendPoints(xs, ys, ts) {
  const max = state.limits.max_points_per_message || 2048;
  for (let i = 0; i < xs.length; i += max) {
    send({ type: "points", x: xs.slice(i, i + max), y: ys.slice(i, i + max), t: ts.slice(i, i + max) });
    stats.pointsSent += Math.min(max, xs.length - i);
  }
}

// A whole stroke as few messages as possible (replay, redo): `stroke`, or points + pen_up.
function sendStroke(s, kind) {
  const max = state.limits.max_points_per_message || 2048;
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
  if (!s.x.length) return updateMeta();
  state.strokes.push(s);
  request({ type: "pen_up" }, "pen_up");
  updateMeta();
}

// ------------------------------------------------------------------ actions

function undo() {
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
  if (!state.strokes.length) showGuesses([], false);
  updateMeta();
}

function redo() {
  if (state.current || !state.redo.length || state.locked) return;
  if (state.strokes.length >= state.limits.max_strokes) return;
  const s = state.redo.pop();
  state.strokes.push(s);
  redraw();
  sendStroke(s, "redo");
  updateMeta();
}

export function clearDrawing() {
  state.strokes = [];
  state.redo = [];
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  state.t0 = null;
  state.drawingKey = null;
  state.lastAnnounced = null;
  els.word.value = ""; // the next drawing is not this one: its word goes too
  redraw();
  showGuesses([], false);
  hideSprite();
  updateMeta();
  if (state.connected) {
    state.awaitingCleared += 1;
    request({ type: "clear" }, "clear");
  }
}

function submitDrawing(ev) {
  ev.preventDefault();
  if (!state.strokes.length) return notice("Draw something first");
  const word = els.word.value.trim();
  const msg = { type: "submit" };
  if (word) msg.word = word;
  if (!request(msg, "submit")) notice("Offline: can't submit right now");
}

function askSprite() {
  if (!state.strokes.length) return notice("Draw something first");
  if (!request({ type: "sprite" }, "sprite")) notice("Offline: can't make a sprite right now");
}

// ------------------------------------------------------------------ socket

function send(msg) {
  if (!state.connected) return false;
  state.ws.send(encode(msg));
  stats.messagesSent += 1;
  return true;
}

export function request(msg, kind) {
  if (!state.connected) return false;
  state.seq += 1;
  msg.seq = state.seq;
  state.inflight.set(state.seq, { kind, sent: performance.now() });
  return send(msg);
}

function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws`;
}

function connect() {
  state.retryTimer = null;
  state.idle = false;
  setConn("connecting", state.attempt ? "Reconnecting…" : "Connecting…");
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (err) {
    return scheduleReconnect();
  }
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onmessage = (ev) => {
    if (!(ev.data instanceof ArrayBuffer)) return;
    let msg;
    try {
      msg = decode(new Uint8Array(ev.data));
    } catch (err) {
      console.warn("undecodable frame", err);
      return;
    }
    if (msg && typeof msg === "object") onMessage(msg);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.connected = false;
    state.ws = null;
    state.inflight.clear();
    state.awaitingCleared = 0;
    els.list.dataset.stale = "true";
    if (ev.code === 1001 && String(ev.reason).startsWith("idle")) {
      // Closed for idling: reconnecting now would only idle again. Wait for the player.
      state.idle = true;
      state.attempt = 0;
      return setConn("idle", "Paused: draw to reconnect");
    }
    scheduleReconnect();
  };
  ws.onerror = () => {}; // onclose follows and schedules the retry
}

// After an idle close: the player is back.
function wake() {
  if (state.idle && !state.ws) connect();
}

function scheduleReconnect() {
  if (state.retryTimer !== null) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
  state.attempt += 1;
  setConn("offline", `Offline: retrying in ${Math.max(1, Math.round(delay / 1000))} s`);
  state.retryTimer = setTimeout(connect, delay);
}

// The settings this page asks of every session (sent again after a reconnect).
export function helloMsg(extra = {}) {
  const msg = { type: "hello", live_ms: LIVE_MS, client: "web" };
  if (state.features.includes("target")) msg.target = state.target;
  return Object.assign(msg, extra);
}

function onWelcome(msg) {
  state.connected = true;
  state.attempt = 0;
  state.limits = { ...state.limits, ...(msg.limits || {}) };
  state.features = Array.isArray(msg.features) ? msg.features : [];
  stats.connects += 1;
  setConn("connected", "Connected");
  const resume = state.features.includes("resume") && state.drawingKey && state.strokes.length;
  request(helloMsg(resume ? { resume: state.drawingKey } : {}), resume ? "resume" : "hello");
  replayDrawing();
}

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

function onMessage(msg) {
  const pending = msg.seq !== undefined ? state.inflight.get(msg.seq) : undefined;
  if (pending) state.inflight.delete(msg.seq);
  for (const fn of listeners) fn(msg, pending);
  switch (msg.type) {
    case "welcome":
      return onWelcome(msg);
    case "hello":
      if (msg.resumed) stats.resumed += 1;
      if (msg.drawing) state.drawingKey = msg.drawing;
      return;
    case "guesses":
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
      if (pending && (pending.kind === "pen_up" || pending.kind === "undo")) showRtt(pending.sent, msg.ms);
      // a reply for fewer strokes than drawn is superseded by a later one
      if (!msg.live && msg.strokes !== state.strokes.length) return;
      showGuesses(msg.guesses || [], !!msg.live);
      if (!msg.live) announce(msg.guesses || []);
      return;
    case "cleared":
      state.awaitingCleared = Math.max(0, state.awaitingCleared - 1);
      if (msg.drawing && !state.awaitingCleared) state.drawingKey = msg.drawing;
      return;
    case "saved":
      return pending && pending.kind === "submit" ? saved(msg.id, msg.drawing || state.drawingKey) : undefined;
    case "sprite":
      return showSprite(msg.png);
    case "error":
      return onError(msg, pending);
    default:
      return;
  }
}

function saved(id, key) {
  const link = document.createElement("a");
  link.href = `/doodles/${id}`;
  link.textContent = `drawing #${id}`;
  notice(["Saved as ", link]);
  rememberDrawing(id, key);
}

function onError(msg, pending) {
  stats.errors += 1;
  const what = pending ? pending.kind : "";
  if (msg.code === UNAVAILABLE && (what === "submit" || what === "sprite")) {
    return notice(`${what === "submit" ? "Submit" : "Sprite"} is not available on this server`);
  }
  if (what === "resume") return; // unknown_drawing: the server goes on with a new drawing
  if (REFUSED.has(msg.code)) return refused(msg);
  console.warn("server error", msg.code, msg.message);
  if (what === "game") return; // game.js reports its own
  notice(what ? `${what}: ${msg.message}` : msg.message, true);
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
  notice(`The server refused that stroke: ${msg.message}`, true);
  updateMeta();
}

// ------------------------------------------------------------------ my drawings

const MY_DRAWINGS = "doodlestream.mine"; // localStorage: [{id, key, word, at}]
const MY_DRAWINGS_MAX = 200;

// Every drawing key this browser drew under, newest first: "my drawings" asks the server which of
// them it kept (`mine`), so drawings kept at a clear or a disconnect are listed too, not only
// submitted ones.
const MY_KEYS = "doodlestream.keys"; // localStorage: [key, ...]

let lastKey = null; // the key remembered last (guesses repeat it for every stroke)

function rememberKey(key) {
  if (key === lastKey) return;
  lastKey = key;
  try {
    const keys = JSON.parse(localStorage.getItem(MY_KEYS) || "[]").filter((k) => k !== key);
    keys.unshift(key);
    localStorage.setItem(MY_KEYS, JSON.stringify(keys.slice(0, MY_DRAWINGS_MAX)));
  } catch (err) {
    console.warn("cannot remember the drawing key", err);
  }
}

export function rememberDrawing(id, key, word = null) {
  if (!id || !key) return;
  try {
    const mine = JSON.parse(localStorage.getItem(MY_DRAWINGS) || "[]").filter((d) => d.id !== id);
    mine.unshift({ id, key, word: word || els.word.value.trim() || null, at: Date.now() });
    localStorage.setItem(MY_DRAWINGS, JSON.stringify(mine.slice(0, MY_DRAWINGS_MAX)));
  } catch (err) {
    console.warn("cannot remember the drawing", err);
  }
}

// ------------------------------------------------------------------ view

function setConn(kind, text) {
  els.conn.dataset.state = kind;
  els.connText.textContent = text;
}

function showGuesses(guesses, live) {
  const list = els.list;
  list.dataset.live = String(live);
  delete list.dataset.stale;
  list.replaceChildren();
  const shown = guesses.filter((g) => g.score >= MIN_SHOWN_SCORE).slice(0, 5);
  if (!shown.length) {
    els.topWord.textContent = state.strokes.length || state.current ? "…hmm" : "…draw, and I'll guess";
    els.topWord.classList.remove("has-guess");
    return updateMeta(live);
  }
  els.topWord.textContent = shown[0].word;
  els.topWord.classList.add("has-guess");
  shown.forEach((g, i) => {
    const li = document.createElement("li");
    li.className = "guess";
    li.dataset.word = g.word;
    const word = document.createElement("span");
    word.className = "guess-word";
    word.textContent = g.word;
    const pct = document.createElement("span");
    pct.className = "guess-pct";
    pct.textContent = `${Math.round(g.score * 100)}%`;
    const bar = document.createElement("span");
    bar.className = "guess-bar";
    bar.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "guess-fill";
    fill.style.setProperty("--score", Math.max(0, Math.min(1, g.score)).toFixed(4));
    fill.style.setProperty("--rank", i);
    bar.append(fill);
    li.append(word, pct, bar);
    list.append(li);
  });
  updateMeta(live);
}

// Screen readers hear the top guess once per pen-up, and only when it changed.
function announce(guesses) {
  const top = guesses.find((g) => g.score >= MIN_SHOWN_SCORE);
  const text = top ? `I think it's ${top.word}` : "";
  if (!text || text === state.lastAnnounced) return;
  state.lastAnnounced = text;
  stats.announcements += 1;
  els.announce.textContent = text;
}

function updateMeta(live = false) {
  const n = state.strokes.length;
  let text;
  if (state.current) text = `stroke ${n + 1}${live ? " · live" : ""}`;
  else text = n ? `${n} stroke${n === 1 ? "" : "s"}` : "no strokes yet";
  els.metaStrokes.textContent = text;
  els.undo.disabled = !n && !state.current;
  els.redo.disabled = !state.redo.length;
}

function showRtt(sent, serverMs) {
  const rtt = performance.now() - sent;
  els.rtt.textContent = `rtt ${Math.round(rtt)} ms`;
  els.rtt.title = `round trip ${rtt.toFixed(1)} ms (server ${Number(serverMs || 0).toFixed(1)} ms)`;
}

function showSprite(png) {
  if (!(png instanceof Uint8Array)) return notice("The server sent no sprite", true);
  hideSprite();
  state.spriteUrl = URL.createObjectURL(new Blob([png], { type: "image/png" }));
  els.spriteImg.src = state.spriteUrl;
  els.spriteLink.href = state.spriteUrl;
  els.spriteBox.hidden = false;
}

function hideSprite() {
  if (state.spriteUrl) URL.revokeObjectURL(state.spriteUrl);
  state.spriteUrl = null;
  els.spriteBox.hidden = true;
}

let noticeTimer = null;
// `content`: text, or an array of text and nodes (e.g. a link).
export function notice(content, isError = false) {
  els.notice.replaceChildren(...(Array.isArray(content) ? content : [content]));
  els.notice.classList.toggle("is-error", isError);
  els.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { els.notice.hidden = true; }, NOTICE_MS * (Array.isArray(content) ? 2 : 1));
}

// The model's words as suggestions for "What is it?" (optional: an older server has no /classes).
async function loadWords() {
  try {
    const res = await fetch("/classes");
    if (!res.ok) return;
    const { classes } = await res.json();
    const list = $("words");
    list.replaceChildren(...classes.map((w) => Object.assign(document.createElement("option"), { value: w })));
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

// ------------------------------------------------------------------ play mode hooks

export const pad = {
  state, stats, els,
  onMessage: (fn) => listeners.add(fn),
  setTarget(word) {
    state.target = word;
    if (state.connected) request(helloMsg(), "game");
  },
  lock(locked) {
    state.locked = locked;
    if (locked && state.current) penUp();
  },
  strokes: () => state.strokes.map((s) => ({ x: s.x.slice(), y: s.y.slice(), t: s.t.slice() })),
};

// ------------------------------------------------------------------ wiring

els.pad.addEventListener("pointerdown", onPointerDown);
els.pad.addEventListener("pointermove", onPointerMove);
els.pad.addEventListener("pointerup", onPointerEnd);
els.pad.addEventListener("pointercancel", onPointerEnd);
els.pad.addEventListener("lostpointercapture", onPointerEnd);
els.pad.addEventListener("contextmenu", (e) => e.preventDefault());
els.undo.addEventListener("click", undo);
els.redo.addEventListener("click", redo);
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
    redo();
  } else if (key === "z") {
    e.preventDefault();
    undo();
  }
});
new ResizeObserver(resize).observe(els.pad);
resize();
showGuesses([], false);
connect();
loadWords();
loadPrivacy();
if (new URLSearchParams(location.search).get("mode") === "play") import("./game.js");
else $("nav-sandbox").setAttribute("aria-current", "page");
