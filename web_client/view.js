// What the sketchpad shows and says: the connection badge, the guesses panel, the stroke count,
// the round trip, notices, the sprite, and the screen-reader announcements.
//
// Promises:
// - The badge shows every connection state (with the retry countdown), but screen readers hear a
//   change of state once (#conn-say), never each retry of the same state.
// - announce(text) speaks through the page's one polite live region (#announce), only when the
//   text differs from the last announced one (say(text) always speaks: a verdict, the clock).
// - The guesses panel lists at most 5 guesses that would not read "0%".
// - Nothing here talks to the server.

const NOTICE_MS = 3500;
const MIN_SHOWN_SCORE = 0.005; // guesses that would read "0%" are not listed

const $ = (id) => document.getElementById(id);
export const els = {
  pad: $("pad"), hint: $("hint"), conn: $("conn"), connText: $("conn-text"), connSay: $("conn-say"),
  undo: $("undo"), redo: $("redo"), clear: $("clear"), submitForm: $("submit-form"), word: $("word"),
  submit: $("submit"), sprite: $("sprite"), topWord: $("top-word"), list: $("guess-list"),
  metaStrokes: $("meta-strokes"), rtt: $("rtt"), notice: $("notice"), announce: $("announce"),
  spriteBox: $("sprite-box"), spriteImg: $("sprite-img"), spriteLink: $("sprite-link"),
};

const BADGE = {
  connecting: () => "Connecting…",
  reconnecting: () => "Reconnecting…",
  connected: () => "Connected",
  offline: (ms) => `Offline: retrying in ${Math.max(1, Math.round(ms / 1000))} s`,
  idle: () => "Paused: draw to reconnect",
  denied: (why) => (why === "wrong" ? "This link's token is wrong" : "This server needs a token"),
};
// What a screen reader hears when the state changes (the badge's text without its countdown).
const SPOKEN = {
  connecting: "Connecting", reconnecting: "Reconnecting", connected: "Connected", offline: "Offline: retrying",
  idle: "Paused: draw to reconnect",
  denied: (why) => (why === "wrong"
    ? "This link's token is wrong: ask for a new link"
    : "This server needs a token: open the link you were given, with ?token= in it"),
};

let spokenState = null;

export function setConn(state, detail, reconnecting = false) {
  const shown = state === "connecting" && reconnecting ? "reconnecting" : state;
  els.conn.dataset.state = state;
  els.connText.textContent = BADGE[shown](detail);
  const spoken = typeof SPOKEN[shown] === "function" ? SPOKEN[shown](detail) : SPOKEN[shown];
  // connecting <-> offline while retrying is one state to a listener: "offline" until connected
  const quiet = shown === "reconnecting" && spokenState === SPOKEN.offline;
  if (spoken !== spokenState && !quiet) {
    spokenState = spoken;
    els.connSay.textContent = spoken;
  }
  if (state === "denied") { // nothing can be drawn: the canvas says why, in words
    els.hint.textContent = spoken;
    els.hint.dataset.state = "denied";
    els.hint.hidden = false;
  }
}

let lastAnnounced = null;

/** Speak `text` unless it is what was announced last. */
export function announce(text, counter) {
  if (!text || text === lastAnnounced) return false;
  say(text);
  if (counter) counter.announcements += 1;
  return true;
}

/** Speak `text` now. */
export function say(text) {
  lastAnnounced = text;
  els.announce.textContent = text;
}

export function forgetAnnounced() {
  lastAnnounced = null;
}

/** The top guess of a list, as a screen reader should hear it ("" for none). */
export function guessText(guesses) {
  const top = guesses.find((g) => g.score >= MIN_SHOWN_SCORE);
  return top ? `I think it's ${top.word}` : "";
}

export function showGuesses(guesses, live, drawing) {
  const list = els.list;
  list.dataset.live = String(live);
  delete list.dataset.stale;
  list.replaceChildren();
  const shown = guesses.filter((g) => g.score >= MIN_SHOWN_SCORE).slice(0, 5);
  if (!shown.length) {
    els.topWord.textContent = drawing ? "…hmm" : "…draw, and I'll guess";
    els.topWord.classList.remove("has-guess");
    return;
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
}

export function markStale() {
  els.list.dataset.stale = "true";
}

export function showMeta({ strokes, drawing, live = false, redo = 0, locked = false }) {
  let text;
  if (drawing) text = `stroke ${strokes + 1}${live ? " · live" : ""}`;
  else text = strokes ? `${strokes} stroke${strokes === 1 ? "" : "s"}` : "no strokes yet";
  els.metaStrokes.textContent = text;
  els.undo.disabled = locked || (!strokes && !drawing);
  els.redo.disabled = locked || !redo;
  els.clear.disabled = locked;
}

export function showRtt(sent, serverMs) {
  const rtt = performance.now() - sent;
  els.rtt.textContent = `rtt ${Math.round(rtt)} ms`;
  els.rtt.title = `round trip ${rtt.toFixed(1)} ms (server ${Number(serverMs || 0).toFixed(1)} ms)`;
}

let spriteUrl = null;

export function showSprite(png) {
  if (!(png instanceof Uint8Array)) return notice("The server sent no sprite", true);
  hideSprite();
  spriteUrl = URL.createObjectURL(new Blob([png], { type: "image/png" }));
  els.spriteImg.src = spriteUrl;
  els.spriteLink.href = spriteUrl;
  els.spriteBox.hidden = false;
}

export function hideSprite() {
  if (spriteUrl) URL.revokeObjectURL(spriteUrl);
  spriteUrl = null;
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
