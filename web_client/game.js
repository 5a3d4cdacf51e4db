// doodlestream play mode (`/?mode=play`): "Draw: a bicycle" in 20 seconds, 6 rounds, then a summary.
// It drives the pad (pad.js) and the socket (socket.js); it never imports main.js.
//
// Promises:
// - A round is won only by the server's `recognized` for its word (the game API's rule, asked
//   with hello.recognize "top1": the target leads); the page has no rule of its own. A pen-up
//   sent before time ran out still counts: the round waits for its reply (at most GRACE_MS).
// - The round card, the guesses panel and the summary say the same thing: one verdict per round
//   (verdict()), made from the same guesses the panel shows. When the target led at time-up
//   without being recognized, the card says so, and the round counts as the rule says (a miss).
// - "Skip" ends a round at once; it is shown as skipped.
// - The clock stops while the connection is down and goes on once it is back.
// - Words come from words.json (the curated list and each word's phrase, scripts/game_words.py).
//   No word comes back until the list is used up (this browser's record, storage.js), which also
//   keeps each word's best time and the streak of recognized rounds.
// - `?words=a,b,c` picks the rounds' words, `?seconds=` the round length (5..60), `?rule=score` the
//   strict rule (a server without the choice always uses its own default). A challenge link
//   adds `vs=` the challenger's results (ms, "x" missed, "s" skipped): the summary shows both side
//   by side. The link carries words and times only, never a drawing.
// - Each drawn round is submitted with its word (when the server has `submit`), so the summary can
//   link to it and "my drawings" remembers it.
// - Screen readers hear each round's word, its verdict, and "5 seconds left" once per round.
// - The summary: every drawing and its verdict, best times, the streak, a challenge link, and for a
//   missed word, when the gallery is public, up to three recognized drawings of it by others.

import { drawFitted, drawStrokes } from "./drawing.js";
import * as pad from "./pad.js";
import { conn, onMessage, onState, request, waiting } from "./socket.js";
import { gameRecord, rememberDrawing, saveGameRecord } from "./storage.js";
import * as view from "./view.js";
import WORDS from "./words.json" with { type: "json" };

const ROUNDS = 6;
const ROUND_S = 20;
const TICK_MS = 250;
const WARN_S = 5; // "5 seconds left" is announced once, this long before time is up
const GRACE_MS = 1500; // at time-up, how long a pen-up already sent may still win the round
const OTHERS = 3; // recognized drawings by others shown for a missed word
const OTHERS_ASKED = 48; // drawings of the word asked of the gallery to find them

const $ = (id) => document.getElementById(id);
const ui = {
  bar: $("game-bar"), word: $("prompt-word"), roundN: $("round-n"), roundTotal: $("round-total"),
  timer: $("timer"), timerBox: $("timer-box"), meter: $("target-meter"), meterLabel: $("meter-label"),
  almost: $("almost"), skip: $("skip"), card: $("game-card"), cardTitle: $("game-card-title"),
  cardText: $("game-card-text"), go: $("game-go"), layout: $("layout"), summary: $("summary"),
  summaryList: $("summary-list"), summaryScore: $("summary-score"), summaryRecord: $("summary-record"),
  versus: $("versus"), challenge: $("challenge-link"), copyChallenge: $("copy-challenge"),
  again: $("again"), summaryPng: $("summary-png"), speak: $("speak"), speakRow: $("speak-row"),
};

const params = new URLSearchParams(location.search);
const seconds = Math.min(60, Math.max(5, Number(params.get("seconds")) || ROUND_S));
// The `recognized` rule asked of the server: "top1" (the target is the top guess, as Quick, Draw!),
// or with `?rule=score` the strict one (the target's score reaches the model's threshold).
const rule = params.get("rule") === "score" ? "score" : "top1";
const sayOf = new Map(Object.entries(WORDS.say));
const inGame = new Set(WORDS.words);
/** How the page says a word ("an hourglass"); a word the model does not know (a taught one) as itself. */
const say = (word) => sayOf.get(word) || word;

const game = {
  words: [],
  challenger: null, // [result code] from a challenge link's `vs`, or null
  round: -1,
  active: false, // drawing (the clock may be paused)
  ending: false, // time is up: waiting for a pen-up's reply
  elapsed: 0, // ms of this round's clock before `since`
  since: null, // performance.now() the clock last started, null while stopped
  warned: false,
  timer: null,
  results: [], // {word, status: "recognized"|"missed"|"skipped", ms, top: {word, score}|null, strokes, id, best}
  guesses: [], // the last guesses the panel shows this round
  almost: false, // the server said "almost" (the target in its top 3) during this round
  lastSpoken: null,
  record: gameRecord(),
};
window.doodle.game = game;

// ------------------------------------------------------------------ words

function challengeOf() {
  const asked = (params.get("words") || "").split(",").map((w) => w.trim()).filter(Boolean).slice(0, ROUNDS);
  const vs = (params.get("vs") || "").split(",").slice(0, asked.length);
  const valid = vs.length === asked.length && vs.every((v) => v === "x" || v === "s" || /^\d{1,6}$/.test(v));
  return { asked, challenger: asked.length && valid ? vs : null };
}

// Words not asked since the list was last used up; when fewer are left than a game needs, the
// rest come from the whole list (not this game's) and the list starts over.
function pickWords() {
  const all = [...WORDS.words];
  const seen = new Set(game.record.seen);
  const take = (pool, n) => {
    const out = [];
    while (out.length < n && pool.length) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
    return out;
  };
  const out = take(all.filter((w) => !seen.has(w)), ROUNDS);
  if (out.length < ROUNDS) {
    game.record.seen = [];
    out.push(...take(all.filter((w) => !out.includes(w)), ROUNDS - out.length));
  }
  return out;
}

function markSeen(word) {
  if (!inGame.has(word) || game.record.seen.includes(word)) return;
  game.record.seen.push(word);
  if (game.record.seen.length >= inGame.size) game.record.seen = [];
  saveGameRecord(game.record);
}

// ------------------------------------------------------------------ rounds

function speak(text) {
  if (!ui.speak.checked || !("speechSynthesis" in window)) return;
  window.speechSynthesis.cancel();
  window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

function showCard(title, text, button) {
  ui.cardTitle.textContent = title;
  ui.cardText.textContent = text;
  ui.go.textContent = button;
  ui.card.hidden = false;
  ui.skip.disabled = true;
  ui.go.focus();
}

function newGame(first = false) {
  const { asked, challenger } = challengeOf();
  game.words = first && asked.length ? asked : pickWords();
  game.challenger = first ? challenger : null;
  game.round = -1;
  game.results = [];
  ui.roundTotal.textContent = String(game.words.length);
  ui.summary.hidden = true;
  ui.layout.hidden = false;
  window.scrollTo(0, 0); // the summary was scrolled: the new game starts at the top
  nextRound();
}

function nextRound() {
  game.round += 1;
  if (game.round >= game.words.length) return showSummary();
  const word = game.words[game.round];
  pad.clear();
  pad.lock(true);
  pad.setTarget(word, rule);
  markSeen(word);
  game.guesses = [];
  game.almost = false;
  game.elapsed = 0;
  game.since = null;
  game.warned = false;
  game.ending = false;
  ui.word.textContent = say(word);
  ui.roundN.textContent = String(game.round + 1);
  ui.timer.textContent = String(seconds);
  ui.meter.value = 0;
  ui.almost.hidden = true;
  ui.meterLabel.textContent = `How sure I am it's ${say(word)}`;
  const title = `Round ${game.round + 1} of ${game.words.length}`;
  const text = `Draw: ${say(word)}, in under ${seconds} seconds`;
  showCard(title, text, "Go!");
  view.say(`${title}. ${text}.`);
}

function startRound() {
  ui.card.hidden = true;
  game.active = true;
  ui.skip.disabled = false;
  pad.lock(false);
  if (conn.connected) game.since = performance.now();
  else ui.timerBox.dataset.paused = "true";
  game.timer = setInterval(tick, TICK_MS);
}

const clock = () => game.elapsed + (game.since === null ? 0 : performance.now() - game.since);

function tick() {
  if (!game.active || game.ending) return;
  const left = seconds - clock() / 1000;
  ui.timer.textContent = String(Math.max(0, Math.ceil(left)));
  if (!game.warned && left <= WARN_S && left > 0) {
    game.warned = true;
    view.say(`${WARN_S} seconds left`);
  }
  if (left <= 0) timeUp();
}

// The connection dropped: the clock stops (the player cannot be recognized meanwhile).
onState((state) => {
  if (state === "denied") ui.card.hidden = true; // no round can be played: the canvas says why
  if (!game.active || game.ending) return;
  if (state === "connected" && game.since === null) {
    game.since = performance.now();
    delete ui.timerBox.dataset.paused;
  } else if (state !== "connected" && game.since !== null) {
    game.elapsed += performance.now() - game.since;
    game.since = null;
    ui.timerBox.dataset.paused = "true";
  }
});

// Time is up: the pen lifts; a pen-up already on its way may still be recognized.
function timeUp() {
  game.ending = true;
  pad.lock(true);
  const deadline = performance.now() + GRACE_MS;
  const settle = () => {
    if (!game.active) return; // recognized meanwhile
    if (conn.connected && waiting("pen_up") && performance.now() < deadline) return void setTimeout(settle, 50);
    endRound("missed", null);
  };
  settle();
}

function endRound(status, ms) {
  if (!game.active) return;
  game.active = false;
  game.ending = false;
  clearInterval(game.timer);
  game.since = null;
  delete ui.timerBox.dataset.paused;
  ui.skip.disabled = true;
  ui.almost.hidden = true;
  pad.lock(true);
  const word = game.words[game.round];
  const strokes = pad.strokes();
  const top = game.guesses[0] ? { word: game.guesses[0].word, score: game.guesses[0].score } : null;
  const before = game.record.best[word];
  const result = {
    word, status, ms: status === "recognized" ? ms : null, top, strokes, id: null, best: before ?? null,
    almost: game.almost, // "Almost!" was shown during the round
  };
  game.results.push(result);
  keepRecord(result);
  if (strokes.length && conn.features.includes("submit")) {
    const msg = { type: "submit", word };
    if (request(msg, "game-submit")) pendingSubmits.set(msg.seq, result);
  }
  const last = game.round + 1 >= game.words.length;
  const text = verdict(result, "card");
  speak(text);
  showCard(TITLES[status], text, last ? "See how it went" : "Next round");
  view.say(`${TITLES[status]}${/[.!?]$/.test(TITLES[status]) ? "" : "."} ${text}`);
}

function keepRecord(r) {
  const rec = game.record;
  if (r.status === "recognized") {
    rec.streak += 1;
    rec.bestStreak = Math.max(rec.bestStreak, rec.streak);
    if (Number.isFinite(r.ms) && !(rec.best[r.word] <= r.ms)) rec.best[r.word] = Math.round(r.ms);
  } else {
    rec.streak = 0;
  }
  saveGameRecord(rec);
}

const TITLES = { recognized: "Recognized!", missed: "Not this time", skipped: "Skipped" };
const pct = (score) => `${Math.round(score * 100)}%`;
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** The one verdict of a round: on its card ("card") and in the summary ("summary"). */
function verdict(r, where) {
  if (r.status === "recognized") {
    return where === "card" ? `Oh, I know, it's ${say(r.word)}!` : `Recognized in ${secs(r.ms)}`;
  }
  const lead = r.top && r.top.word === r.word;
  if (r.status === "skipped") {
    const guess = r.strokes.length && r.top ? `my top guess was ${say(r.top.word)} (${pct(r.top.score)})` : "";
    if (where === "card") return guess ? `You skipped it; ${guess}.` : "You skipped this one.";
    return guess ? `Skipped: ${guess}` : "Skipped";
  }
  if (!r.strokes.length) return where === "card" ? "Time's up!" : "Not drawn";
  if (!r.top) return where === "card" ? "Time's up! I couldn't guess it." : "Not recognized";
  if (lead) {
    return where === "card"
      ? `Time's up! My top guess was ${say(r.word)} (${pct(r.top.score)}), but I wasn't sure enough to call it.`
      : `Not recognized: my top guess, at ${pct(r.top.score)}, but not sure enough`;
  }
  return where === "card"
    ? `Time's up! It looked more like ${say(r.top.word)} to me (${pct(r.top.score)}).`
    : `Not recognized: it looked like ${say(r.top.word)} (${pct(r.top.score)})`;
}

const pendingSubmits = new Map(); // seq -> result waiting for its `saved`

onMessage((msg, pending) => {
  if (msg.type === "saved" && pending && pending.kind === "game-submit") {
    const result = pendingSubmits.get(msg.seq);
    pendingSubmits.delete(msg.seq);
    if (result) {
      result.id = msg.id;
      rememberDrawing(msg.id, msg.drawing || pad.state.drawingKey, result.word);
      if (!ui.summary.hidden) showSummary(false);
    }
    return;
  }
  if (msg.type === "error" && pending && pending.kind === "game") {
    view.notice(`The server can't play this word: ${msg.message}`, true);
    return;
  }
  if (!game.active) return;
  const word = game.words[game.round];
  if (msg.type === "guesses") {
    if (msg.target && msg.target.word === word) {
      ui.meter.value = msg.target.score;
      ui.almost.hidden = !msg.target.almost;
      if (msg.target.almost) game.almost = true;
    }
    // what the panel shows (pad.js drops replies for older strokes the same way)
    if (msg.live ? pad.state.current !== null : msg.strokes === pad.state.strokes.length) {
      game.guesses = (msg.guesses || []).filter((g) => g.score >= 0.005);
    }
    const top = game.guesses[0];
    if (!msg.live && top && top.word !== game.lastSpoken) {
      game.lastSpoken = top.word;
      speak(top.word);
    }
  } else if (msg.type === "recognized" && msg.word === word) {
    ui.meter.value = msg.score;
    endRound("recognized", msg.ms);
  }
});

// ------------------------------------------------------------------ summary

function drawingCanvas(strokes, side) {
  const c = document.createElement("canvas");
  c.width = side;
  c.height = side;
  const g = c.getContext("2d");
  g.fillStyle = "#fffefb";
  g.fillRect(0, 0, side, side);
  drawStrokes(g, strokes, side / pad.LOGICAL, 12);
  return c;
}

function download(canvas, name) {
  canvas.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, "image/png");
}

const code = (r) => (r.status === "recognized" ? String(Math.round(r.ms)) : r.status === "skipped" ? "s" : "x");
const codeText = (c) => (c === "s" ? "skipped" : c === "x" ? "not recognized" : secs(Number(c)));

/** This game as a challenge: the same words, with this player's results to beat. */
function challengeUrl() {
  const q = new URLSearchParams({ mode: "play", words: game.words.join(","), vs: game.results.map(code).join(",") });
  if (seconds !== ROUND_S) q.set("seconds", String(seconds));
  if (rule !== "top1") q.set("rule", rule);
  return `${location.origin}/?${q.toString().replaceAll("%2C", ",")}`;
}

function bestText(r) {
  if (r.status !== "recognized") return r.best === null ? "" : `Your best: ${secs(r.best)}`;
  if (r.best === null) return "Your first time recognized";
  return r.ms < r.best ? `New best! (was ${secs(r.best)})` : `Your best: ${secs(r.best)}`;
}

function summaryItem(r, i) {
  const li = document.createElement("li");
  li.className = "summary-item card";
  li.dataset.status = r.status;
  const c = drawingCanvas(r.strokes, 400);
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", `Your drawing of ${say(r.word)}`);
  const h = Object.assign(document.createElement("h3"), { textContent: `${i + 1}. ${r.word}` });
  const v = Object.assign(document.createElement("p"), { className: "verdict", textContent: verdict(r, "summary") });
  v.dataset.status = r.status;
  const best = Object.assign(document.createElement("p"), { className: "best", textContent: bestText(r) });
  const links = document.createElement("p");
  links.className = "summary-links";
  const others = Object.assign(document.createElement("a"), {
    href: `/gallery?word=${encodeURIComponent(r.word)}`, textContent: `Other players' ${r.word} drawings`,
  });
  const png = Object.assign(document.createElement("button"), {
    type: "button", className: "link-btn", textContent: "Download PNG",
  });
  png.addEventListener("click", () => download(c, `doodle-${r.word.replace(/\W+/g, "-")}.png`));
  links.append(others, png);
  if (r.id) {
    const share = Object.assign(document.createElement("a"), {
      href: `/doodles/${r.id}`, textContent: `Share: drawing #${r.id}`, className: "share",
    });
    links.append(share);
  }
  li.append(c, h, v);
  if (best.textContent) li.append(best);
  li.append(links);
  if (r.status !== "recognized") li.append(othersBox(r));
  return li;
}

// "How others drew it": up to OTHERS recognized drawings of the word by other players, drawn from
// the gallery's JSON (never an image that could fail to load); nothing when the gallery is private.
function othersBox(r) {
  const box = document.createElement("div");
  box.className = "others";
  box.hidden = true;
  othersOf(r.word, r.id).then((found) => {
    if (!found.length) return;
    const h = Object.assign(document.createElement("h4"), { textContent: "How others drew it" });
    const row = document.createElement("div");
    row.className = "others-row";
    for (const d of found) {
      const a = Object.assign(document.createElement("a"), { href: `/doodles/${d.id}`, className: "other" });
      const c = Object.assign(document.createElement("canvas"), { width: 120, height: 120 });
      c.setAttribute("role", "img");
      c.setAttribute("aria-label", `Drawing #${d.id} of ${say(r.word)} by another player, recognized`);
      drawFitted(c, d.drawing, { margin: 10 });
      a.append(c);
      row.append(a);
    }
    box.append(h, row);
    box.hidden = false;
    box.dataset.loaded = String(found.length);
  });
  return box;
}

let galleryPublic = null; // Promise<boolean>

async function othersOf(word, ownId) {
  galleryPublic ??= fetch("/api/privacy")
    .then((res) => (res.ok ? res.json() : {}))
    .then((p) => p.public_gallery === true)
    .catch(() => false);
  if (!(await galleryPublic)) return [];
  try {
    const res = await fetch(`/api/doodles?word=${encodeURIComponent(word)}&limit=${OTHERS_ASKED}`);
    if (!res.ok) return [];
    const { doodles } = await res.json();
    return doodles
      .filter((d) => d.recognized && d.word === word && d.id !== ownId && !game.results.some((r) => r.id === d.id))
      .filter((d) => Array.isArray(d.drawing) && d.drawing.length)
      .slice(0, OTHERS);
  } catch {
    return [];
  }
}

function showVersus() {
  ui.versus.hidden = !game.challenger;
  if (!game.challenger) return;
  const body = ui.versus.querySelector("tbody");
  let mine = 0, theirs = 0;
  body.replaceChildren(...game.results.map((r, i) => {
    const c = game.challenger[i];
    const tr = document.createElement("tr");
    const you = r.status === "recognized" ? secs(r.ms) : codeText(code(r));
    const youWin = r.status === "recognized" && (c === "x" || c === "s" || r.ms < Number(c));
    const theyWin = /^\d+$/.test(c) && !youWin;
    mine += youWin; theirs += theyWin;
    const cells = [r.word, you, codeText(c)];
    tr.append(...cells.map((t, k) => Object.assign(document.createElement(k ? "td" : "th"), { textContent: t })));
    tr.firstChild.scope = "row";
    tr.dataset.winner = youWin ? "you" : theyWin ? "challenger" : "none";
    return tr;
  }));
  ui.versus.querySelector(".versus-score").textContent =
    mine > theirs ? `You won, ${mine} to ${theirs}!` : mine < theirs ? `The challenger won, ${theirs} to ${mine}.`
      : `A draw, ${mine} to ${theirs}.`;
}

function showSummary(focus = true) {
  if (focus) pad.setTarget(null);
  ui.layout.hidden = true;
  ui.summary.hidden = false;
  const hits = game.results.filter((r) => r.status === "recognized").length;
  const skipped = game.results.filter((r) => r.status === "skipped").length;
  ui.summaryScore.textContent = `I recognized ${hits} of your ${game.results.length} drawings`
    + `${skipped ? ` (${skipped} skipped)` : ""}.`;
  const rec = game.record;
  ui.summaryRecord.textContent = `Streak: ${rec.streak} recognized in a row (your best: ${rec.bestStreak}).`;
  ui.summaryList.replaceChildren(...game.results.map(summaryItem));
  showVersus();
  ui.challenge.value = challengeUrl();
  if (focus) ui.summary.focus();
}

function summaryPicture() {
  const cols = 3;
  const cell = 300;
  const rows = Math.ceil(game.results.length / cols);
  const c = document.createElement("canvas");
  c.width = cols * cell;
  c.height = rows * (cell + 56) + 60;
  const g = c.getContext("2d");
  g.fillStyle = "#f6f1e7";
  g.fillRect(0, 0, c.width, c.height);
  g.fillStyle = "#1f2430";
  g.font = "bold 26px system-ui, sans-serif";
  g.fillText(ui.summaryScore.textContent, 16, 40);
  game.results.forEach((r, i) => {
    const x = (i % cols) * cell;
    const y = 60 + Math.floor(i / cols) * (cell + 56);
    g.drawImage(drawingCanvas(r.strokes, cell - 20), x + 10, y);
    g.fillStyle = "#1f2430";
    g.font = "bold 20px system-ui, sans-serif";
    g.fillText(r.word, x + 12, y + cell + 4);
    g.fillStyle = r.status === "recognized" ? "#1d6b61" : "#b23a22";
    g.font = "14px system-ui, sans-serif";
    g.fillText(verdict(r, "summary"), x + 12, y + cell + 28, cell - 20);
  });
  return c;
}

// ------------------------------------------------------------------ wiring

document.body.dataset.mode = "play";
document.title = "doodlestream — play";
$("nav-play").setAttribute("aria-current", "page");
$("nav-sandbox").removeAttribute("aria-current");
ui.bar.hidden = false;
ui.speakRow.hidden = false;
ui.go.addEventListener("click", () => {
  if (game.active || game.round < 0) return;
  if (ui.go.textContent === "Go!") startRound();
  else nextRound();
});
ui.skip.addEventListener("click", () => endRound("skipped", null));
// A click on the card (or the locked canvas under it) keeps the focus on its button, so Enter still goes on.
ui.card.addEventListener("mousedown", (e) => { if (e.target !== ui.go) e.preventDefault(); });
// Enter on a shown card goes on, wherever the focus went (a click on the page moves it).
window.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || ui.card.hidden || e.target !== document.body) return;
  e.preventDefault();
  ui.go.click();
});
ui.again.addEventListener("click", () => newGame());
ui.summaryPng.addEventListener("click", () => download(summaryPicture(), "doodlestream-summary.png"));
ui.copyChallenge.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.challenge.value);
    view.notice("Challenge link copied");
  } catch {
    ui.challenge.select();
    view.notice("Select the link and copy it");
  }
});
newGame(true);
