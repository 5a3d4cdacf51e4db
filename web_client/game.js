// doodlestream play mode (`/?mode=play`): "Draw: a bicycle" in 20 seconds, 6 rounds, then a summary.
//
// Promises:
// - Each round clears the pad and sets the game API's target (hello.target); the
//   target's score (every `guesses`' `target`) fills the meter, and `recognized` ends the
//   round at once: "Oh, I know, it's a bicycle!". Time up ends it as a miss, remembering
//   the top guess (what it looked like instead).
// - Words come from words.js (the curated list; scripts/game_words.py says why the others
//   are left out). `?words=a,b,c` picks the rounds' words (a challenge link, and tests),
//   `?seconds=` the round length (5..60).
// - Each drawn round is submitted with its word (when the server has `submit`), so the
//   summary can link to it (share link) and "my drawings" remembers its key.
// - Spoken guesses (speech synthesis) only when the player turns them on.
// - The summary: every drawing, recognized or not, how fast, what a miss looked like,
//   links to other players' drawings of the word, a PNG of one drawing or of the summary.

import { pad, clearDrawing, drawStrokes, notice, request, rememberDrawing } from "./app.js";
import WORDS from "./words.js";

const ROUNDS = 6;
const ROUND_S = 20;
const TICK_MS = 250;
const LOGICAL = 1000; // the pad's coordinate frame

const $ = (id) => document.getElementById(id);
const ui = {
  bar: $("game-bar"), word: $("prompt-word"), roundN: $("round-n"), roundTotal: $("round-total"),
  timer: $("timer"), meter: $("target-meter"), meterLabel: $("meter-label"), card: $("game-card"),
  cardTitle: $("game-card-title"), cardText: $("game-card-text"), go: $("game-go"), main: $("main"),
  summary: $("summary"), summaryList: $("summary-list"), summaryScore: $("summary-score"),
  again: $("again"), summaryPng: $("summary-png"), speak: $("speak"), speakRow: $("speak-row"),
};

const params = new URLSearchParams(location.search);
const seconds = Math.min(60, Math.max(5, Number(params.get("seconds")) || ROUND_S));
const sayOf = new Map(WORDS.words.map((w) => [w.word, w.say]));
const say = (word) => sayOf.get(word) || (/^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`);

const game = {
  words: [],
  round: -1,
  active: false,
  startedAt: 0,
  timer: null,
  results: [], // {word, ok, ms, top, strokes, id}
  top: null, // latest top guess of this round
  lastSpoken: null,
};
window.doodle.game = game;

function pickWords() {
  const asked = (params.get("words") || "").split(",").map((w) => w.trim()).filter(Boolean);
  if (asked.length) return asked.slice(0, ROUNDS);
  const pool = WORDS.words.map((w) => w.word);
  const out = [];
  while (out.length < ROUNDS && pool.length) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
  return out;
}

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
  ui.go.focus();
}

function newGame() {
  game.words = pickWords();
  game.round = -1;
  game.results = [];
  ui.roundTotal.textContent = String(game.words.length);
  ui.summary.hidden = true;
  ui.main.hidden = false;
  window.scrollTo(0, 0); // the summary was scrolled: the new game starts at the top
  nextRound();
}

function nextRound() {
  game.round += 1;
  if (game.round >= game.words.length) return showSummary();
  const word = game.words[game.round];
  clearDrawing();
  pad.lock(true);
  pad.setTarget(word);
  game.top = null;
  ui.word.textContent = say(word);
  ui.roundN.textContent = String(game.round + 1);
  ui.timer.textContent = String(seconds);
  ui.meter.value = 0;
  ui.meterLabel.textContent = `How sure I am it's ${say(word)}`;
  showCard(`Round ${game.round + 1} of ${game.words.length}`, `Draw: ${say(word)}, in under ${seconds} seconds`, "Go!");
}

function startRound() {
  ui.card.hidden = true;
  game.active = true;
  game.startedAt = performance.now();
  pad.lock(false);
  $("pad").focus?.();
  game.timer = setInterval(tick, TICK_MS);
}

function tick() {
  const left = seconds - (performance.now() - game.startedAt) / 1000;
  ui.timer.textContent = String(Math.max(0, Math.ceil(left)));
  if (left <= 0) endRound(false, null);
}

function endRound(ok, ms) {
  if (!game.active) return;
  game.active = false;
  clearInterval(game.timer);
  pad.lock(true);
  const word = game.words[game.round];
  const strokes = pad.strokes();
  const result = {
    word, ok, strokes, id: null,
    ms: ok ? ms : null,
    top: game.top && game.top !== word ? game.top : null,
  };
  game.results.push(result);
  if (strokes.length && pad.state.features.includes("submit")) {
    const msg = { type: "submit", word };
    if (request(msg, "game-submit")) pendingSubmits.set(msg.seq, result);
  }
  const last = game.round + 1 >= game.words.length;
  const text = ok ? `Oh, I know, it's ${say(word)}!`
    : strokes.length ? `Time's up! ${result.top ? `It looked more like ${say(result.top)} to me.` : "I couldn't guess it."}`
      : "Time's up!";
  speak(text);
  showCard(ok ? "Recognized!" : "Not this time", text, last ? "See how it went" : "Next round");
}

const pendingSubmits = new Map(); // seq -> result waiting for its `saved`

pad.onMessage((msg, pending) => {
  if (msg.type === "saved" && pending && pending.kind === "game-submit") {
    const result = pendingSubmits.get(msg.seq);
    pendingSubmits.delete(msg.seq);
    if (result) {
      result.id = msg.id;
      rememberDrawing(msg.id, msg.drawing || pad.state.drawingKey, result.word);
      if (!ui.summary.hidden) showSummary();
    }
    return;
  }
  if (msg.type === "error" && pending && pending.kind === "game") {
    notice(`The server can't play this word: ${msg.message}`, true);
    return;
  }
  if (!game.active) return;
  if (msg.type === "guesses") {
    if (msg.target && msg.target.word === game.words[game.round]) ui.meter.value = msg.target.score;
    const top = (msg.guesses || [])[0];
    if (top && msg.strokes) game.top = top.word;
    if (!msg.live && top && top.word !== game.lastSpoken) {
      game.lastSpoken = top.word;
      speak(top.word);
    }
  } else if (msg.type === "recognized" && msg.word === game.words[game.round]) {
    ui.meter.value = msg.score;
    endRound(true, msg.ms);
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
  drawStrokes(g, strokes, side / LOGICAL, 12);
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

function verdict(r) {
  if (r.ok) return `Recognized in ${(r.ms / 1000).toFixed(1)} s`;
  if (!r.strokes.length) return "Not drawn";
  return r.top ? `Not recognized: it looked like ${say(r.top)}` : "Not recognized";
}

function showSummary() {
  pad.setTarget(null);
  ui.main.hidden = true;
  ui.summary.hidden = false;
  const hits = game.results.filter((r) => r.ok).length;
  ui.summaryScore.textContent = `I recognized ${hits} of your ${game.results.length} drawings.`;
  ui.summaryList.replaceChildren(...game.results.map((r, i) => {
    const li = document.createElement("li");
    li.className = "summary-item card";
    li.dataset.ok = String(r.ok);
    const c = drawingCanvas(r.strokes, 400);
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", `Your drawing of ${say(r.word)}`);
    const h = Object.assign(document.createElement("h3"), { textContent: `${i + 1}. ${r.word}` });
    const v = Object.assign(document.createElement("p"), { className: "verdict", textContent: verdict(r) });
    v.dataset.ok = String(r.ok);
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
      const copy = Object.assign(document.createElement("button"), {
        type: "button", className: "link-btn", textContent: "Copy link",
      });
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(share.href);
          notice("Link copied");
        } catch {
          notice(`Link: ${share.href}`);
        }
      });
      links.append(share, copy);
    }
    li.append(c, h, v, links);
    return li;
  }));
  ui.summary.focus();
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
    g.fillStyle = r.ok ? "#1d6b61" : "#b23a22";
    g.font = "16px system-ui, sans-serif";
    g.fillText(verdict(r), x + 12, y + cell + 28);
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
ui.go.addEventListener("click", () => (game.active || game.round < 0 ? undefined
  : ui.go.textContent === "Go!" ? startRound() : nextRound()));
ui.again.addEventListener("click", newGame);
ui.summaryPng.addEventListener("click", () => download(summaryPicture(), "doodlestream-summary.png"));
newGame();
