// doodlestream rooms (room.html, served at /r and /r/CODE): draw together and race the AI,
// over protocol v1.2 (README: "Protocol v1.2: rooms") on one WebSocket in msgpack
// (window.MessagePack from /vendor/msgpack.min.js).
//
// Promises:
// - /r/CODE opens the join form for that room (its code filled in); /r offers to create one.
//   Once in a room, the address is /r/CODE, which is the link to share.
// - The drawer draws with Pointer Events: points are sent once per animation frame, a pen-up
//   on release, in the sketchpad's fixed 0..1000 frame; the other members see the same
//   strokes as the server relays them (`drawn`), on the same frame.
// - Everything another player typed (names, guesses) is put on the page with textContent,
//   never as HTML.
// - Screen readers hear (#announce, assertive) each turn: who draws, or the word to draw, and
//   the word's length; the end of each turn and game with the word and the leader; the feed
//   (role=log, polite) reads each guess and the AI's win as it comes.
// - A dropped connection reconnects with backoff and takes the same seat back with the
//   rejoin key kept in sessionStorage (this tab only); the turn and its drawing are replayed.
// - Everything works by keyboard: forms, buttons, Ctrl+Z to undo while drawing.
// - A server whose welcome does not offer "rooms" (one of several --workers, or built without them):
//   the page says so plainly, and how an operator turns rooms on, instead of its forms; the socket is closed.

import { appendPoint, drawStrokes, fitCanvas } from "./drawing.js";
import { KEYS } from "./storage.js";

const { encode, decode } = window.MessagePack;

const LOGICAL = 1000; // the coordinate frame of the canvas, as in the sketchpad
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
const NOTICE_MS = 4000;
const STORE_KEY = KEYS.room; // sessionStorage: {code, key, name}

const $ = (id) => document.getElementById(id);
const els = {
  conn: $("conn"), connText: $("conn-text"), entry: $("entry"), room: $("room"),
  noRooms: $("no-rooms"), noRoomsTitle: $("no-rooms-title"),
  createForm: $("create-form"), createName: $("create-name"), createRounds: $("create-rounds"),
  createSeconds: $("create-seconds"), joinForm: $("join-form"), joinCode: $("join-code"), joinName: $("join-name"),
  roomCode: $("room-code"), shareLink: $("share-link"), copyLink: $("copy-link"), roomStatus: $("room-status"),
  start: $("start"), leave: $("leave"), turnTitle: $("turn-title"), turnWord: $("turn-word"),
  timerBox: $("timer-box"), timer: $("timer"), result: $("result"), pad: $("pad"), drawTools: $("draw-tools"), undo: $("undo"),
  clear: $("clear"), guessForm: $("guess-form"), guess: $("guess"), players: $("players"),
  aiGuesses: $("ai-guesses"), feed: $("feed"), notice: $("notice"), announce: $("announce"),
};
const ctx = els.pad.getContext("2d");

const state = {
  ws: null, connected: false, attempt: 0, retryTimer: null, leaving: false,
  limits: {}, seq: 0,
  pending: null, // what to send once connected: {type: "room_create"|"room_join", ...}
  room: null, // the latest `room` message
  turn: null, // the current `turn` message (null between games)
  turnOver: true,
  endsAt: 0, timerId: null,
  strokes: [], current: null, // the drawing shown: {x: [], y: [], t: []}
  unsent: { x: [], y: [], t: [] }, t0: null, pointerId: null, frameRequested: false,
};
const stats = { drawn: 0, ai: 0, guessed: 0, turns: 0, rejoins: 0, connects: 0 };
window.room = { state, stats };

// ------------------------------------------------------------------ small helpers

function names() {
  const map = new Map();
  for (const p of (state.room && state.room.players) || []) map.set(p.id, p.name);
  return map;
}
const nameOf = (id) => names().get(id) || "someone";
const me = () => (state.room ? state.room.you : null);
const drawing = () => state.turn !== null && !state.turnOver && state.turn.drawer === me();

function say(text) {
  // Re-set so the same sentence twice is read twice.
  els.announce.textContent = "";
  setTimeout(() => { els.announce.textContent = text; }, 30);
}

let noticeTimer = null;
function notice(text, isError = false) {
  els.notice.textContent = text;
  els.notice.classList.toggle("is-error", isError);
  els.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { els.notice.hidden = true; }, NOTICE_MS);
}

function feed(parts, kind = "") {
  // `parts`: strings and {who: playerName} pieces, each put in as text.
  const li = document.createElement("li");
  if (kind) li.className = kind;
  for (const part of parts) {
    if (typeof part === "string") li.append(document.createTextNode(part));
    else {
      const span = document.createElement("span");
      span.className = "who";
      span.textContent = part.who;
      li.append(span);
    }
  }
  els.feed.append(li);
  while (els.feed.children.length > 200) els.feed.firstElementChild.remove();
  els.feed.scrollTop = els.feed.scrollHeight;
}

function letters(n) { return `${n} letter${n === 1 ? "" : "s"}`; }

function spacedHint(hint) { return hint.split("").join(" "); }

// ------------------------------------------------------------------ storage (this tab only)

function saved() {
  try { return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch { return null; }
}
function save(room, name) {
  try { sessionStorage.setItem(STORE_KEY, JSON.stringify({ code: room.code, key: room.key, name })); } catch { /* private mode */ }
}
function forget() {
  try { sessionStorage.removeItem(STORE_KEY); } catch { /* private mode */ }
}

// ------------------------------------------------------------------ socket

function send(msg) {
  if (!state.connected) return false;
  state.seq += 1;
  state.ws.send(encode({ ...msg, seq: state.seq }));
  return true;
}

// With a room known, the socket names it (?room=CODE): a balancer sends it to the instance holding the room.
function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const seat = saved();
  const code = (state.room && state.room.code) || (seat && seat.code) || codeInPath();
  return `${proto}//${location.host}/ws${code ? `?room=${encodeURIComponent(code.slice(0, 16))}` : ""}`;
}

function setConn(kind, text) {
  els.conn.dataset.state = kind;
  els.connText.textContent = text;
}

function connect() {
  state.retryTimer = null;
  setConn("connecting", state.attempt ? "Reconnecting…" : "Connecting…");
  let ws;
  try { ws = new WebSocket(wsUrl()); } catch { return scheduleReconnect(); }
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onmessage = (ev) => {
    let msg;
    try { msg = decode(new Uint8Array(ev.data)); } catch { return; }
    if (msg && typeof msg === "object") onMessage(msg);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.connected = false;
    state.ws = null;
    endStrokeLocally();
    if (state.leaving) return;
    setConn("offline", "Connection lost, reconnecting…");
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (state.retryTimer) return;
  const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt) * (0.75 + Math.random() / 2);
  state.attempt += 1;
  state.retryTimer = setTimeout(connect, wait);
}

function onWelcome(msg) {
  state.connected = true;
  state.attempt = 0;
  state.limits = msg.limits || {};
  stats.connects += 1;
  setConn("connected", "Connected");
  if (!(msg.features || []).includes("rooms")) return noRooms();
  if (state.limits.max_name_chars) {
    els.createName.maxLength = els.joinName.maxLength = state.limits.max_name_chars;
  }
  if (state.limits.max_guess_chars) els.guess.maxLength = state.limits.max_guess_chars;
  const seat = saved();
  if (state.pending) {
    send(state.pending);
    state.pending = null;
  } else if (seat && seat.key && (!codeInPath() || sameCode(codeInPath(), seat.code))) {
    stats.rejoins += state.room ? 1 : 0;
    send({ type: "room_join", code: seat.code, key: seat.key });
  }
}

function noRooms() {
  state.leaving = true;
  state.pending = null;
  if (state.ws) state.ws.close();
  setConn("offline", "No rooms on this server");
  els.entry.hidden = true;
  els.room.hidden = true;
  els.noRooms.hidden = false;
  els.noRoomsTitle.focus();
  say("This server does not offer rooms.");
}

// ------------------------------------------------------------------ messages

function onMessage(msg) {
  switch (msg.type) {
    case "welcome": return onWelcome(msg);
    case "room": return onRoom(msg);
    case "turn": return onTurn(msg);
    case "drawn": return onDrawn(msg);
    case "ai": return onAi(msg);
    case "guessed": return onGuessed(msg);
    case "turn_end": return onTurnEnd(msg);
    case "game_end": return onGameEnd(msg);
    case "room_left": case "room_ended": return onLeft(msg);
    case "error": return onError(msg);
    default: return undefined; // guesses (the drawer's own copy of the AI's), cleared...
  }
}

function onRoom(msg) {
  const first = state.room === null;
  state.room = msg;
  const seat = saved();
  const myName = (msg.players.find((p) => p.id === msg.you) || {}).name || (seat && seat.name) || "";
  save(msg, myName);
  const path = `/r/${msg.code}`;
  if (location.pathname !== path) history.replaceState(null, "", path);
  els.entry.hidden = true;
  els.room.hidden = false;
  els.roomCode.textContent = msg.shown;
  els.shareLink.value = `${location.origin}/r/${msg.code}`;
  renderPlayers();
  const host = msg.host === msg.you;
  els.start.hidden = !(host && msg.state === "lobby");
  if (msg.state === "lobby") {
    els.roomStatus.textContent = host
      ? "You host this room: start when everyone is here."
      : `Waiting for ${nameOf(msg.host)} to start the game.`;
  } else {
    els.roomStatus.textContent = `Round ${msg.round} of ${msg.rounds}.`;
  }
  if (first) {
    document.title = `Room ${msg.shown} — doodlestream`;
    say(`You are in room ${msg.shown.split("").join(" ")}.`);
  }
}

function renderPlayers() {
  const room = state.room;
  const drawer = state.turn && !state.turnOver ? state.turn.drawer : null;
  els.players.replaceChildren();
  for (const p of room.players) {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.dataset.connected = String(p.connected);
    li.dataset.drawing = String(p.id === drawer);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.name;
    li.append(name);
    const tags = [];
    if (p.id === room.you) tags.push("you");
    if (p.id === room.host) tags.push("host");
    if (p.ai) tags.push("AI");
    if (!p.connected) tags.push("away");
    if (p.id === drawer) tags.push("drawing");
    for (const t of tags) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = t;
      li.append(tag);
    }
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${p.score} points`;
    li.append(score);
    els.players.append(li);
  }
}

function setScore(id, score) {
  const p = state.room && state.room.players.find((q) => q.id === id);
  if (p) p.score = score;
}

function onTurn(msg) {
  const fresh = !state.turn || state.turn.turn !== msg.turn || state.turn.round !== msg.round;
  state.turn = msg;
  state.turnOver = false;
  els.result.hidden = true;
  els.start.hidden = true;
  els.roomStatus.textContent = `Playing: round ${msg.round} of ${msg.rounds}.`;
  stats.turns += fresh ? 1 : 0;
  state.strokes = [];
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  state.t0 = null;
  redraw();
  els.aiGuesses.replaceChildren();
  const mine = msg.drawer === me();
  const length = letters(msg.length);
  els.turnTitle.textContent = mine
    ? `Round ${msg.round} of ${msg.rounds}: your turn to draw`
    : `Round ${msg.round} of ${msg.rounds}: ${nameOf(msg.drawer)} is drawing`;
  if (msg.word) {
    els.turnWord.textContent = mine ? `Draw: ${msg.word}` : `The word: ${msg.word}`;
  } else {
    els.turnWord.textContent = spacedHint(msg.hint);
    els.turnWord.setAttribute("aria-label", `A word of ${length}`);
  }
  if (msg.word) els.turnWord.removeAttribute("aria-label");
  els.drawTools.hidden = !mine;
  els.guessForm.hidden = mine || Boolean(msg.word);
  els.pad.setAttribute("aria-label", mine ? `Drawing canvas: draw ${msg.word} here` : `${nameOf(msg.drawer)}'s drawing`);
  startTimer(msg.left);
  renderPlayers();
  if (fresh) feed([`Turn ${msg.turn}: `, { who: nameOf(msg.drawer) }, " draws."], "event");
  say(mine ? `Your turn to draw: ${msg.word}. ${length}.` : `${nameOf(msg.drawer)} is drawing. The word has ${length}.`);
  if (!mine && !msg.word) els.guess.focus();
}

function startTimer(seconds) {
  clearInterval(state.timerId);
  state.endsAt = performance.now() + seconds * 1000;
  els.timerBox.hidden = false;
  const tick = () => {
    const left = Math.max(0, Math.ceil((state.endsAt - performance.now()) / 1000));
    els.timer.textContent = String(left);
    if (!left) clearInterval(state.timerId);
  };
  tick();
  state.timerId = setInterval(tick, 250);
}

function onDrawn(msg) {
  stats.drawn += 1;
  switch (msg.op) {
    case "points": {
      if (!state.current) state.current = { x: [], y: [], t: [] };
      const s = state.current;
      for (let i = 0; i < msg.x.length; i++) { s.x.push(msg.x[i]); s.y.push(msg.y[i]); s.t.push(msg.t ? msg.t[i] : 0); }
      drawTail(s, msg.x.length);
      return;
    }
    case "pen_up":
      if (state.current) state.strokes.push(state.current);
      state.current = null;
      return;
    case "undo":
      if (state.current) state.current = null; else state.strokes.pop();
      return redraw();
    case "clear":
      state.strokes = [];
      state.current = null;
      return redraw();
    case "replay":
      state.strokes = (msg.strokes || []).map((s) => ({ x: [...s.x], y: [...s.y], t: [...(s.t || [])] }));
      state.current = msg.pending ? { x: [...msg.pending.x], y: [...msg.pending.y], t: [...(msg.pending.t || [])] } : null;
      return redraw();
    default:
      return undefined;
  }
}

function onAi(msg) {
  stats.ai += 1;
  els.aiGuesses.replaceChildren();
  for (const g of msg.guesses || []) {
    const li = document.createElement("li");
    const word = document.createElement("span");
    word.textContent = g.word !== undefined ? g.word : `${spacedHint(g.hint)} (the word!)`;
    if (g.word === undefined) word.setAttribute("aria-label", "the hidden word");
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${Math.round(g.score * 100)}%`;
    li.dataset.correct = String(Boolean(g.correct));
    li.append(word, pct);
    els.aiGuesses.append(li);
  }
}

function onGuessed(msg) {
  stats.guessed += 1;
  const who = msg.player === me() ? "You" : nameOf(msg.player);
  if (msg.correct) {
    setScore(msg.player, msg.score);
    if (msg.drawer_score !== undefined && state.turn) setScore(state.turn.drawer, msg.drawer_score);
    renderPlayers();
    if (msg.player === "ai") feed([{ who: "The AI" }, ` guessed the word! +${msg.points}`], "right");
    else feed([{ who }, ` guessed the word! +${msg.points}`], "right");
    if (msg.word) {
      els.turnWord.textContent = `The word: ${msg.word}`;
      els.turnWord.removeAttribute("aria-label");
      els.guessForm.hidden = true;
      say(`Right! The word is ${msg.word}. You score ${msg.points}.`);
    }
    return;
  }
  if (msg.close) {
    if (msg.text !== undefined) feed([{ who }, ": ", msg.text, " — close!"], "close");
    else feed([{ who }, " is close!"], "close");
    return;
  }
  feed([{ who }, ": ", msg.text || ""]);
}

function scoreLine(scores) {
  const best = [...scores].sort((a, b) => b.score - a.score);
  return best.map((s) => `${s.name} ${s.score}`).join(", ");
}

function onTurnEnd(msg) {
  state.turnOver = true;
  endStrokeLocally();
  clearInterval(state.timerId);
  els.timerBox.hidden = true;
  els.drawTools.hidden = true;
  els.guessForm.hidden = true;
  for (const s of msg.scores) setScore(s.id, s.score);
  renderPlayers();
  const why = { time: "Time is up", guessed: "Everyone guessed it", drawer_left: "The drawer left" }[msg.reason] || "Turn over";
  els.turnTitle.textContent = `${why}: the word was “${msg.word}”`;
  els.turnWord.textContent = "";
  els.turnWord.removeAttribute("aria-label");
  feed([`${why}. The word was ${msg.word}.`], "event");
  say(`${why}. The word was ${msg.word}. Scores: ${scoreLine(msg.scores)}.`);
}

function onGameEnd(msg) {
  state.turn = null;
  state.turnOver = true;
  els.turnTitle.textContent = "Game over";
  els.turnWord.textContent = "";
  const best = [...msg.scores].sort((a, b) => b.score - a.score);
  const title = document.createElement("h4");
  title.textContent = "Final scores";
  const ol = document.createElement("ol");
  ol.className = "scores";
  for (const s of best) {
    const li = document.createElement("li");
    li.textContent = `${s.name}: ${s.score}`;
    ol.append(li);
  }
  els.result.replaceChildren(title, ol);
  els.result.hidden = false;
  feed([`Game over. ${best[0].name} wins with ${best[0].score} points.`], "event");
  say(`Game over. ${best[0].name} wins with ${best[0].score} points. Scores: ${scoreLine(msg.scores)}.`);
}

function onLeft(msg) {
  forget();
  state.room = null;
  state.turn = null;
  clearInterval(state.timerId);
  els.room.hidden = true;
  els.entry.hidden = false;
  history.replaceState(null, "", "/r");
  if (msg.type === "room_ended") notice("The room has ended.");
  else if (msg.reason === "rejoined") notice("This room is open in another tab or window.");
}

function onError(msg) {
  const text = msg.message || msg.code;
  if ((msg.code === "unknown_seat" || msg.code === "unknown_room") && saved()) {
    forget();
    if (state.room) {
      state.room = null;
      els.room.hidden = true;
      els.entry.hidden = false;
    }
    notice(msg.code === "unknown_room" ? "That room has ended." : "Your seat was given up: join again.", true);
    return;
  }
  notice(text, true);
}

// ------------------------------------------------------------------ canvas

let scale = 1;

function resize() {
  scale = fitCanvas(els.pad, LOGICAL);
  redraw();
}

const paint = (strokes) => drawStrokes(ctx, strokes, scale); // the sketchpad's line (drawing.js)

function drawTail(s, added) {
  const from = Math.max(0, s.x.length - added - 1);
  paint([{ x: s.x.slice(from), y: s.y.slice(from) }]);
}

function redraw() {
  ctx.clearRect(0, 0, els.pad.width, els.pad.height);
  paint(state.current ? [...state.strokes, state.current] : state.strokes);
}

// ------------------------------------------------------------------ drawing (the drawer)

function pointOf(e) {
  const rect = els.pad.getBoundingClientRect();
  const k = LOGICAL / rect.width;
  return [(e.clientX - rect.left) * k, (e.clientY - rect.top) * k];
}
const inside = ([x, y]) => x >= 0 && y >= 0 && x <= LOGICAL && y <= LOGICAL;

const addPoint = (x, y) =>
  appendPoint(state, x, y, () => state.current.x.length < (state.limits.max_points_per_stroke || 8192));

function flush() {
  const u = state.unsent;
  if (!u.x.length) return;
  const max = state.limits.max_points_per_message || 2048;
  for (let i = 0; i < u.x.length; i += max) {
    send({ type: "points", x: u.x.slice(i, i + max), y: u.y.slice(i, i + max), t: u.t.slice(i, i + max) });
  }
  state.unsent = { x: [], y: [], t: [] };
}

function scheduleFlush() {
  if (state.frameRequested) return;
  state.frameRequested = true;
  requestAnimationFrame(() => { state.frameRequested = false; flush(); });
}

function beginStroke(p) {
  if (state.strokes.length >= (state.limits.max_strokes || 256)) {
    notice("That is as many strokes as a drawing holds: undo or clear to draw more", true);
    return false;
  }
  state.current = { x: [], y: [], t: [] };
  addPoint(p[0], p[1]);
  paint([state.current]);
  scheduleFlush();
  return true;
}

function penUp() {
  if (!state.current) return;
  flush();
  state.strokes.push(state.current);
  state.current = null;
  send({ type: "pen_up" });
}

function endStrokeLocally() {
  state.pointerId = null;
  if (state.current && drawing()) penUp();
}

els.pad.addEventListener("pointerdown", (e) => {
  if (!drawing() || state.pointerId !== null || !e.isPrimary) return;
  if (e.pointerType === "mouse" && e.button !== 0) return;
  e.preventDefault();
  els.pad.setPointerCapture(e.pointerId);
  state.pointerId = e.pointerId;
  beginStroke(pointOf(e));
});
els.pad.addEventListener("pointermove", (e) => {
  if (e.pointerId !== state.pointerId || !drawing()) return;
  const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
  for (const ev of events.length ? events : [e]) {
    const p = pointOf(ev);
    if (!inside(p)) { penUp(); continue; }
    if (!state.current) { beginStroke(p); continue; }
    const before = state.current.x.length;
    if (addPoint(p[0], p[1])) drawTail(state.current, state.current.x.length - before);
  }
  scheduleFlush();
});
for (const kind of ["pointerup", "pointercancel"]) {
  els.pad.addEventListener(kind, (e) => {
    if (e.pointerId !== state.pointerId) return;
    state.pointerId = null;
    penUp();
  });
}

function undo() {
  if (!drawing()) return;
  if (state.current) penUp();
  if (!state.strokes.length) return;
  state.strokes.pop();
  redraw();
  send({ type: "undo" });
}

function clearDrawing() {
  if (!drawing()) return;
  state.strokes = [];
  state.current = null;
  state.unsent = { x: [], y: [], t: [] };
  redraw();
  send({ type: "clear" });
}

// ------------------------------------------------------------------ forms and buttons

function codeInPath() {
  const m = location.pathname.match(/^\/r\/([^/]+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}
const sameCode = (a, b) => a.replace(/[-\s]/g, "").toUpperCase() === b.replace(/[-\s]/g, "").toUpperCase();

function enter(msg) {
  if (!send(msg)) state.pending = msg;
}

els.createForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = els.createName.value.trim();
  if (!name) return els.createName.focus();
  enter({ type: "room_create", name, rounds: Number(els.createRounds.value), seconds: Number(els.createSeconds.value) });
});

els.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const code = els.joinCode.value.trim();
  const name = els.joinName.value.trim();
  if (!code) return els.joinCode.focus();
  if (!name) return els.joinName.focus();
  enter({ type: "room_join", code, name });
});

els.guessForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = els.guess.value.trim();
  if (!text) return;
  if (send({ type: "guess", text })) els.guess.value = "";
});

els.start.addEventListener("click", () => send({ type: "room_start" }));
els.leave.addEventListener("click", () => {
  send({ type: "room_leave" });
  forget();
});
els.copyLink.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(els.shareLink.value);
    notice("Link copied");
  } catch {
    els.shareLink.select();
    notice("Select the link and copy it");
  }
});
els.undo.addEventListener("click", undo);
els.clear.addEventListener("click", clearDrawing);
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z" && drawing()) {
    e.preventDefault();
    undo();
  }
});

new ResizeObserver(resize).observe(els.pad); // shown, hidden, or the window resized
const code = codeInPath();
if (code) {
  els.joinCode.value = code;
  els.joinName.focus();
}
const seat = saved();
if (seat && seat.name) els.createName.value = els.joinName.value = seat.name;
resize();
connect();
