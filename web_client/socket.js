// The page's one WebSocket to the server: protocol v1.1 (README) in msgpack (window.MessagePack,
// from the npm package @msgpack/msgpack served at /vendor/msgpack.min.js).
//
// Promises:
// - connect() opens /ws; after a drop it reconnects with exponential backoff (BACKOFF_MIN_MS..
//   BACKOFF_MAX_MS, jittered). After the server's idle close it waits for wake() (the player is
//   back) instead.
// - A socket the server refuses before its welcome (a token server without this browser's token)
//   is checked once against /api/access: when the page is not authorized the socket stops retrying
//   and says so (state "denied"), naming a wrong token apart from a missing one.
// - Every state change reaches onState listeners as (state, detail): "connecting", "connected",
//   "offline" (detail: ms to the next try), "idle", "denied" (detail: "missing" | "wrong").
// - After each welcome, the welcome listeners run in order (the pad sends its hello and replays
//   its drawing there); hello() builds the hello this page sends: its live interval plus the
//   settings given to configure() (the play mode's target and rule).
// - request() numbers a message (seq) and remembers what it was for: message listeners get
//   (msg, pending) where pending is {kind, sent} for the reply to a request, else undefined.
// - Nothing here touches the page: the view and the pad listen.

const { encode, decode } = window.MessagePack;

const LIVE_MS = 200; // live-guess interval asked of the server
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const IDLE_CLOSE = 1001; // the server's close code for an idle session (reason "idle ...")
//: Where the page asks whether it may open the socket (server/web.py).
const ACCESS_URL = "/api/access";

// Counters for people (and tests) poking at the page from the console (window.doodle.stats).
export const stats = {
  connects: 0, replayed: 0, live: 0, final: 0, pointsSent: 0, messagesSent: 0, errors: 0,
  refused: 0, announcements: 0, resumed: 0,
};

export const conn = {
  ws: null,
  connected: false,
  state: "connecting",
  idle: false, // closed by the server for idling: reconnect when the player draws again
  attempt: 0,
  retryTimer: null,
  limits: { max_points_per_message: 2048, max_points_per_stroke: 8192, max_strokes: 256, max_points_per_drawing: 32768 },
  features: [],
  seq: 0,
  inflight: new Map(), // seq -> {kind, sent}
  settings: {}, // extra hello fields (configure)
  tokenGiven: false, // this page was opened with ?token= (a refusal then means the token is wrong)
};

const messageListeners = new Set();
const stateListeners = new Set();
const welcomeListeners = [];

export const onMessage = (fn) => messageListeners.add(fn);
export const onState = (fn) => stateListeners.add(fn);
export const onWelcome = (fn) => welcomeListeners.push(fn);

function setState(state, detail) {
  conn.state = state;
  for (const fn of stateListeners) fn(state, detail);
}

export function send(msg) {
  if (!conn.connected) return false;
  conn.ws.send(encode(msg));
  stats.messagesSent += 1;
  return true;
}

export function request(msg, kind) {
  if (!conn.connected) return false;
  conn.seq += 1;
  msg.seq = conn.seq;
  conn.inflight.set(conn.seq, { kind, sent: performance.now() });
  return send(msg);
}

/** Whether a request of one of `kinds` still waits for its reply. */
export const waiting = (...kinds) => [...conn.inflight.values()].some((p) => kinds.includes(p.kind));

/** The hello this page sends: live guesses, the configured settings, and `extra`. */
export function hello(extra = {}) {
  const msg = { type: "hello", live_ms: LIVE_MS, client: "web" };
  for (const [name, value] of Object.entries(conn.settings)) {
    if (conn.features.includes(name)) msg[name] = value;
  }
  return Object.assign(msg, extra);
}

/** Change hello settings (only those the server's features name are sent); sends a hello now if connected. */
export function configure(settings, kind = "hello") {
  Object.assign(conn.settings, settings);
  if (conn.connected) request(hello(), kind);
}

function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws`;
}

export function connect() {
  conn.retryTimer = null;
  conn.idle = false;
  setState("connecting", conn.attempt);
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    return scheduleReconnect();
  }
  ws.binaryType = "arraybuffer";
  conn.ws = ws;
  let welcomed = false;
  ws.onmessage = (ev) => {
    if (!(ev.data instanceof ArrayBuffer)) return;
    let msg;
    try {
      msg = decode(new Uint8Array(ev.data));
    } catch (err) {
      console.warn("undecodable frame", err);
      return;
    }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "welcome") welcomed = true;
    dispatch(msg);
  };
  ws.onclose = (ev) => {
    if (conn.ws !== ws) return;
    const wasConnected = conn.connected;
    conn.connected = false;
    conn.ws = null;
    conn.inflight.clear();
    if (ev.code === IDLE_CLOSE && String(ev.reason).startsWith("idle")) {
      // Closed for idling: reconnecting now would only idle again. Wait for the player.
      conn.idle = true;
      conn.attempt = 0;
      return setState("idle");
    }
    if (!welcomed && !wasConnected) return checkAccess();
    scheduleReconnect();
  };
  ws.onerror = () => {}; // onclose follows and schedules the retry
}

// Refused before any welcome: a token server without our token, or a server that is down.
async function checkAccess() {
  let authorized = true;
  try {
    const res = await fetch(ACCESS_URL, { cache: "no-store" });
    if (res.ok) authorized = (await res.json()).authorized !== false;
  } catch {
    authorized = true; // the server is unreachable: that is "offline", retried
  }
  if (authorized) return scheduleReconnect();
  setState("denied", conn.tokenGiven ? "wrong" : "missing");
}

/** After an idle close: the player is back. */
export function wake() {
  if (conn.idle && !conn.ws) connect();
}

function scheduleReconnect() {
  if (conn.retryTimer !== null) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** conn.attempt);
  const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
  conn.attempt += 1;
  setState("offline", delay);
  conn.retryTimer = setTimeout(connect, delay);
}

function dispatch(msg) {
  const pending = msg.seq !== undefined ? conn.inflight.get(msg.seq) : undefined;
  if (pending) conn.inflight.delete(msg.seq);
  if (msg.type === "welcome") {
    conn.connected = true;
    conn.attempt = 0;
    conn.limits = { ...conn.limits, ...(msg.limits || {}) };
    conn.features = Array.isArray(msg.features) ? msg.features : [];
    stats.connects += 1;
    setState("connected");
    for (const fn of welcomeListeners) fn(msg);
  }
  if (msg.type === "error") stats.errors += 1;
  for (const fn of messageListeners) fn(msg, pending);
}
