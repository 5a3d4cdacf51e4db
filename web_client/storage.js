// What this browser keeps in localStorage (and the room page in sessionStorage), declared once: the
// sketchpad, the play mode and the gallery's "my drawings" page (server/history/static/mine.js) read
// and write through here; the room page (room.js) takes its key from here.
//
// Promises:
// - Every key is one constant below; nothing else in the client names a localStorage key.
// - Reads never throw: a missing, unreadable or malformed value reads as the default.
// - Writes never throw: a full or disabled storage loses the value and logs a warning.
// - Lists are capped (MAX_KEPT entries, newest first).

export const KEYS = Object.freeze({
  drawings: "doodlestream.mine", // [{id, key, word, at}]: drawings saved in this browser, newest first
  drawingKeys: "doodlestream.keys", // [key, ...]: every drawing key the sketchpad drew under, newest first
  game: "doodlestream.game", // {seen: [word], best: {word: ms}, streak, bestStreak}: the play mode's record
  room: "doodlestream.room", // sessionStorage (this tab only), room.js: {code, key, name}, to take the seat back
});
//: At most this many drawings and keys are remembered (server/limits.py MAX_MINE_KEYS).
export const MAX_KEPT = 200;

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    if (raw === null) return fallback;
    const value = JSON.parse(raw);
    return value !== null && typeof value === typeof fallback && Array.isArray(value) === Array.isArray(fallback)
      ? value : fallback;
  } catch {
    return fallback;
  }
}

export function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (err) {
    console.warn("cannot keep", key, err);
  }
}

// ------------------------------------------------------------------ my drawings

/** Drawings saved in this browser, newest first: [{id, key, word, at}]. */
export function savedDrawings() {
  return read(KEYS.drawings, []).filter((d) => d && Number.isInteger(d.id) && typeof d.key === "string");
}

export function rememberDrawing(id, key, word = null) {
  if (!id || !key) return;
  const mine = savedDrawings().filter((d) => d.id !== id);
  mine.unshift({ id, key, word: word || null, at: Date.now() });
  write(KEYS.drawings, mine.slice(0, MAX_KEPT));
}

export function forgetDrawing(id) {
  write(KEYS.drawings, savedDrawings().filter((d) => d.id !== id));
}

/** Every drawing key this browser drew under, newest first. */
export function drawingKeys() {
  return read(KEYS.drawingKeys, []).filter((k) => typeof k === "string");
}

let lastKey = null; // the key remembered last (guesses repeat it for every stroke)

export function rememberKey(key) {
  if (!key || key === lastKey) return;
  lastKey = key;
  const keys = drawingKeys().filter((k) => k !== key);
  keys.unshift(key);
  write(KEYS.drawingKeys, keys.slice(0, MAX_KEPT));
}

// ------------------------------------------------------------------ the play mode's record

/** {seen: words asked since the list was last used up, best: {word: ms}, streak, bestStreak}. */
export function gameRecord() {
  const r = read(KEYS.game, {});
  return {
    seen: Array.isArray(r.seen) ? r.seen.filter((w) => typeof w === "string") : [],
    best: r.best && typeof r.best === "object" && !Array.isArray(r.best) ? r.best : {},
    streak: Number.isInteger(r.streak) && r.streak >= 0 ? r.streak : 0,
    bestStreak: Number.isInteger(r.bestStreak) && r.bestStreak >= 0 ? r.bestStreak : 0,
  };
}

export function saveGameRecord(record) {
  write(KEYS.game, record);
}
