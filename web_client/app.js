// doodlestream sketchpad: draws with Pointer Events (mouse, touch, pen) and speaks
// protocol v1 (README) over one WebSocket in msgpack (window.MessagePack, from the npm
// package @msgpack/msgpack served at /vendor/msgpack.min.js).
//
// Promises:
// - Points are streamed while the pen moves, batched once per animation frame; a pen-up
//   is sent on release and its guesses replace the shown ones.
// - Live guesses (hello live_ms) update the list while drawing.
// - The drawing lives here, not on the server: after a disconnect the client reconnects
//   with exponential backoff and replays its strokes, so guesses come back.
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
const UNAVAILABLE = "unknown_type";

const $ = (id) => document.getElementById(id);
const els = {
  pad: $("pad"), hint: $("hint"), conn: $("conn"), connText: $("conn-text"),
  undo: $("undo"), clear: $("clear"), submitForm: $("submit-form"), word: $("word"),
  submit: $("submit"), sprite: $("sprite"), topWord: $("top-word"), list: $("guess-list"),
  metaStrokes: $("meta-strokes"), rtt: $("rtt"), notice: $("notice"),
  spriteBox: $("sprite-box"), spriteImg: $("sprite-img"), spriteLink: $("sprite-link"),
};
const ctx = els.pad.getContext("2d");

const state = {
  strokes: [], // finished strokes: {x: [], y: [], t: []}
  current: null, // stroke in progress
  unsent: { x: [], y: [], t: [] }, // points of `current` not sent yet
  t0: null, // performance.now() of the drawing's first point
  pointerId: null,
  frameRequested: false,
  ws: null,
  connected: false,
  attempt: 0,
  retryTimer: null,
  limits: { max_points_per_message: 2048 },
  seq: 0,
  inflight: new Map(), // seq -> {kind, sent}
  awaitingCleared: 0, // clears sent whose "cleared" has not come back
  spriteUrl: null,
};

// Counters for people (and tests) poking at the page from the console.
const stats = { connects: 0, replayed: 0, live: 0, final: 0, pointsSent: 0, messagesSent: 0 };
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

function styleContext() {
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = LINE_WIDTH * scale;
  ctx.strokeStyle = "#1f2430";
  ctx.fillStyle = "#1f2430";
}

function drawStroke(s) {
  if (!s.x.length) return;
  styleContext();
  ctx.beginPath();
  ctx.moveTo(s.x[0] * scale, s.y[0] * scale);
  if (s.x.length === 1) {
    ctx.arc(s.x[0] * scale, s.y[0] * scale, (LINE_WIDTH * scale) / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  for (let i = 1; i < s.x.length; i++) ctx.lineTo(s.x[i] * scale, s.y[i] * scale);
  ctx.stroke();
}

function drawSegment(s) {
  const n = s.x.length;
  if (n < 2) return drawStroke(s);
  styleContext();
  ctx.beginPath();
  ctx.moveTo(s.x[n - 2] * scale, s.y[n - 2] * scale);
  ctx.lineTo(s.x[n - 1] * scale, s.y[n - 1] * scale);
  ctx.stroke();
}

function redraw() {
  ctx.clearRect(0, 0, els.pad.width, els.pad.height);
  for (const s of state.strokes) drawStroke(s);
  if (state.current) drawStroke(state.current);
  els.hint.hidden = state.strokes.length > 0 || state.current !== null;
}

// ------------------------------------------------------------------ pointer input

function toLogical(e) {
  const rect = els.pad.getBoundingClientRect();
  const k = LOGICAL / rect.width;
  const clamp = (v) => Math.min(LOGICAL, Math.max(0, v));
  return [clamp((e.clientX - rect.left) * k), clamp((e.clientY - rect.top) * k)];
}

function addPoint(x, y) {
  const s = state.current;
  const n = s.x.length;
  if (n && Math.hypot(x - s.x[n - 1], y - s.y[n - 1]) < MIN_STEP) return false;
  const now = performance.now();
  if (state.t0 === null) state.t0 = now;
  const t = Math.round(now - state.t0);
  x = Math.round(x * 10) / 10;
  y = Math.round(y * 10) / 10;
  s.x.push(x); s.y.push(y); s.t.push(t);
  state.unsent.x.push(x); state.unsent.y.push(y); state.unsent.t.push(t);
  return true;
}

function onPointerDown(e) {
  if (state.pointerId !== null || !e.isPrimary) return;
  if (e.pointerType === "mouse" && e.button !== 0) return;
  e.preventDefault();
  els.pad.setPointerCapture(e.pointerId);
  state.pointerId = e.pointerId;
  state.current = { x: [], y: [], t: [] };
  els.hint.hidden = true;
  const [x, y] = toLogical(e);
  addPoint(x, y);
  drawStroke(state.current);
  scheduleFlush();
}

function onPointerMove(e) {
  if (e.pointerId !== state.pointerId || !state.current) return;
  const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
  for (const ev of events.length ? events : [e]) {
    const [x, y] = toLogical(ev);
    if (addPoint(x, y)) drawSegment(state.current);
  }
  scheduleFlush();
}

function onPointerEnd(e) {
  if (e.pointerId !== state.pointerId) return;
  state.pointerId = null;
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

function penUp() {
  const s = state.current;
  if (!s) return;
  flushPoints();
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  if (!s.x.length) return;
  state.strokes.push(s);
  request({ type: "pen_up" }, "pen_up");
  updateMeta();
}

// ------------------------------------------------------------------ actions

function undo() {
  if (state.current) {
    state.current = null;
    state.unsent = { x: [], y: [], t: [] };
    state.pointerId = null;
  } else if (state.strokes.length) {
    state.strokes.pop();
  } else {
    return;
  }
  redraw();
  request({ type: "undo" }, "undo");
  if (!state.strokes.length) showGuesses([], false);
  updateMeta();
}

function clearDrawing() {
  state.strokes = [];
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  state.pointerId = null;
  state.t0 = null;
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

function request(msg, kind) {
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
  setConn("connecting", state.attempt ? "reconnecting…" : "connecting…");
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
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.connected = false;
    state.ws = null;
    state.inflight.clear();
    state.awaitingCleared = 0;
    scheduleReconnect();
  };
  ws.onerror = () => {}; // onclose follows and schedules the retry
}

function scheduleReconnect() {
  if (state.retryTimer !== null) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
  state.attempt += 1;
  setConn("offline", `offline · retrying in ${Math.max(1, Math.round(delay / 1000))} s`);
  state.retryTimer = setTimeout(connect, delay);
}

function onWelcome(msg) {
  state.connected = true;
  state.attempt = 0;
  state.limits = msg.limits || state.limits;
  stats.connects += 1;
  setConn("connected", "connected");
  els.conn.title = `model ${msg.model} · ${msg.classes} classes`;
  send({ type: "hello", live_ms: LIVE_MS, client: "web" });
  replayDrawing();
}

// The server lost our drawing with the old connection: send it again, stroke by stroke.
function replayDrawing() {
  for (const s of state.strokes) {
    sendPoints(s.x, s.y, s.t);
    request({ type: "pen_up" }, "replay");
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
  switch (msg.type) {
    case "welcome":
      return onWelcome(msg);
    case "hello":
      return;
    case "guesses":
      if (state.awaitingCleared) return; // for the drawing that was just cleared
      if (msg.live) {
        if (!state.current) return; // the stroke ended meanwhile; its pen-up reply follows
        stats.live += 1;
      } else {
        stats.final += 1;
      }
      if (pending && (pending.kind === "pen_up" || pending.kind === "undo")) showRtt(pending.sent, msg.ms);
      // a reply for fewer strokes than drawn is superseded by a later one
      if (!msg.live && msg.strokes !== state.strokes.length) return;
      return showGuesses(msg.guesses || [], !!msg.live);
    case "cleared":
      state.awaitingCleared = Math.max(0, state.awaitingCleared - 1);
      return;
    case "saved":
      return notice(`Saved as drawing #${msg.id}`);
    case "sprite":
      return showSprite(msg.png);
    case "error":
      return onError(msg, pending);
    default:
      return;
  }
}

function onError(msg, pending) {
  const what = pending ? pending.kind : "";
  if (msg.code === UNAVAILABLE && (what === "submit" || what === "sprite")) {
    return notice(`${what === "submit" ? "Submit" : "Sprite"} is not available on this server`);
  }
  console.warn("server error", msg.code, msg.message);
  notice(what ? `${what}: ${msg.message}` : msg.message, true);
}

// ------------------------------------------------------------------ view

function setConn(kind, text) {
  els.conn.dataset.state = kind;
  els.connText.textContent = text;
}

function showGuesses(guesses, live) {
  const list = els.list;
  list.dataset.live = String(live);
  list.replaceChildren();
  if (!guesses.length) {
    els.topWord.textContent = state.strokes.length || state.current ? "…hmm" : "…draw, and I'll guess";
    els.topWord.classList.remove("has-guess");
    return;
  }
  els.topWord.textContent = guesses[0].word;
  els.topWord.classList.add("has-guess");
  guesses.slice(0, 5).forEach((g, i) => {
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

function updateMeta(live = false) {
  const n = state.strokes.length;
  const strokes = n ? `${n} stroke${n === 1 ? "" : "s"}` : "no strokes yet";
  els.metaStrokes.textContent = live ? `${strokes} · live` : strokes;
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
function notice(text, isError = false) {
  els.notice.textContent = text;
  els.notice.classList.toggle("is-error", isError);
  els.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { els.notice.hidden = true; }, NOTICE_MS);
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

// ------------------------------------------------------------------ wiring

els.pad.addEventListener("pointerdown", onPointerDown);
els.pad.addEventListener("pointermove", onPointerMove);
els.pad.addEventListener("pointerup", onPointerEnd);
els.pad.addEventListener("pointercancel", onPointerEnd);
els.pad.addEventListener("lostpointercapture", onPointerEnd);
els.pad.addEventListener("contextmenu", (e) => e.preventDefault());
els.undo.addEventListener("click", undo);
els.clear.addEventListener("click", clearDrawing);
els.submitForm.addEventListener("submit", submitDrawing);
els.sprite.addEventListener("click", askSprite);
window.addEventListener("keydown", (e) => {
  if (e.target === els.word) return;
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
    e.preventDefault();
    undo();
  }
});
new ResizeObserver(resize).observe(els.pad);
resize();
showGuesses([], false);
connect();
loadWords();
