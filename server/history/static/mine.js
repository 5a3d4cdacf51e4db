// "My drawings" (server/history/gallery.py, /gallery/mine): the drawings this browser
// saved, from the sketchpad's localStorage list ({id, key, word, at}, newest first), and
// those the server kept without a submit (at a clear or a disconnect): the sketchpad keeps
// every drawing key it drew under, and a `mine` message asks which of them are kept.
// Each is shown from the JSON API; Delete sends {"type": "delete", "key"} over the
// socket (JSON text frames) and, once "deleted" (or "not_found": gone already) comes
// back, forgets it here too. Drawings the server no longer has are forgotten quietly.
// What this browser keeps is read and written through the sketchpad's /storage.js (one list of keys).
import { drawFitted } from "/drawing.js";
import { KEYS, MAX_KEPT, drawingKeys, forgetDrawing as forget, savedDrawings as load, write } from "/storage.js";

const list = document.getElementById("mine");
const empty = document.getElementById("mine-empty");
const status = document.getElementById("mine-status");
if (list) {
  const thumb = Number(list.dataset.thumb) || 160;
  const showEmpty = () => { empty.hidden = list.children.length > 0; };

  // One socket for the page, opened at the first delete.
  let socket = null;
  let seq = 0;
  const waiting = new Map(); // seq -> {resolve}
  function connect() {
    if (socket) return socket;
    socket = new Promise((resolve, reject) => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${location.host}/ws?encoding=json`);
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === "welcome") return resolve(ws);
        const w = waiting.get(msg.seq);
        if (w) { waiting.delete(msg.seq); w(msg); }
      };
      ws.onclose = () => {
        socket = null;
        reject(new Error("the connection closed"));
        for (const w of waiting.values()) w({ type: "error", code: "closed", message: "the connection closed" });
        waiting.clear();
      };
    });
    return socket;
  }
  async function ask(msg) {
    const ws = await connect();
    seq += 1;
    const reply = new Promise((resolve) => waiting.set(seq, resolve));
    ws.send(JSON.stringify({ ...msg, seq }));
    return reply;
  }

  async function remove(d, li, button) {
    if (!window.confirm(`Delete drawing #${d.id} from the server for good?`)) return;
    button.disabled = true;
    let reply;
    try {
      reply = await ask({ type: "delete", key: d.key });
    } catch (err) {
      reply = { type: "error", message: err.message };
    }
    if (reply.type === "deleted" || reply.code === "not_found") {
      forget(d.id);
      li.remove();
      showEmpty();
      status.textContent = `Drawing #${d.id} is deleted.`;
    } else {
      button.disabled = false;
      status.textContent = `Could not delete drawing #${d.id}: ${reply.message}`;
    }
  }

  function card(d, record) {
    const li = document.createElement("li");
    li.className = "mine-item";
    li.dataset.id = String(d.id);
    const a = document.createElement("a");
    a.className = "card";
    a.href = `/doodles/${d.id}`;
    const c = document.createElement("canvas");
    c.className = "thumb";
    c.width = thumb;
    c.height = thumb;
    c.setAttribute("role", "img");
    const label = record.label || "?";
    c.setAttribute("aria-label", `doodle ${d.id}: ${label}`);
    const name = Object.assign(document.createElement("span"), { className: "label", textContent: label });
    const meta = Object.assign(document.createElement("span"), { className: "meta", textContent: `#${d.id}` });
    a.append(c, name, meta);
    const del = Object.assign(document.createElement("button"), {
      type: "button", className: "btn btn-danger", textContent: `Delete #${d.id}`,
    });
    del.addEventListener("click", () => remove(d, li, del));
    li.append(a, del);
    drawFitted(c, record.drawing);
    return li;
  }

  // Drawings this browser made that the server kept without a submit (at a clear, a disconnect):
  // the sketchpad keeps every drawing key it drew under; the server says which it kept (`mine`).
  async function findKept() {
    const known = new Set(load().map((d) => d.key));
    const keys = drawingKeys().filter((k) => !known.has(k)).slice(0, MAX_KEPT);
    if (!keys.length) return;
    let reply;
    try {
      reply = await ask({ type: "mine", keys });
    } catch {
      return; // an older server, or none: the submitted ones are still listed
    }
    if (reply.type !== "mine") return;
    const found = new Set(reply.drawings.map((d) => d.key));
    const mine = [...load(), ...reply.drawings.map((d) => ({ id: d.id, key: d.key, word: null, at: Date.now() }))];
    mine.sort((a, b) => b.id - a.id);
    write(KEYS.drawings, mine);
    // keys the server did not keep are asked about again next time only while they are among the newest
    write(KEYS.drawingKeys, keys.filter((k) => !found.has(k)));
  }

  async function show() {
    await findKept();
    const cards = [];
    for (const d of load()) {
      let res;
      try {
        res = await fetch(`/api/doodles/${d.id}`);
      } catch (err) {
        status.textContent = `Could not load your drawings: ${err.message}`;
        return;
      }
      if (res.status === 404) { forget(d.id); continue; } // deleted, hidden, or evicted
      if (!res.ok) continue;
      cards.push(card(d, await res.json()));
    }
    list.append(...cards); // all at once: one change for screen readers and tests
    list.dataset.loaded = "true";
    showEmpty();
  }
  show();
}
