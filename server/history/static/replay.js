// Replays a stored doodle on the detail page (server/history/gallery.py): fetches /api/doodles/ID
// and draws each point when its stored time comes (pauses longer than MAX_PAUSE_MS are
// shortened), highlighting the guesses the player saw after each finished stroke.
"use strict";
(() => {
  const MAX_PAUSE_MS = 800;
  const MARGIN_PX = 24;
  const canvas = document.getElementById("replay");
  const button = document.getElementById("play");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  const rows = Array.from(document.querySelectorAll("#guesses tr[data-strokes]"));
  let drawing = [];
  let frame = 0;

  // Points as [x, y, t] in canvas pixels and replay milliseconds, one list per stroke.
  function layout(strokes) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const s of strokes) {
      for (const x of s[0]) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); }
      for (const y of s[1]) { minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
    }
    if (minX === Infinity) return [];
    const extent = Math.max(maxX - minX, maxY - minY) || 1;
    const side = canvas.width - 2 * MARGIN_PX;
    const scale = side / extent;
    const dx = MARGIN_PX + (side - (maxX - minX) * scale) / 2; // centred both ways
    const dy = MARGIN_PX + (side - (maxY - minY) * scale) / 2;
    let last = 0, shift = 0;
    return strokes.map((s) =>
      s[0].map((x, i) => {
        const raw = s[2] && s[2][i] !== undefined ? s[2][i] : last + 16;
        const t = Math.max(raw - shift, last);
        if (t - last > MAX_PAUSE_MS) shift += t - last - MAX_PAUSE_MS;
        last = Math.max(raw - shift, last);
        return [dx + (x - minX) * scale, dy + (s[1][i] - minY) * scale, last];
      }),
    );
  }

  function highlight(done) {
    let current = null;
    for (const row of rows) if (Number(row.dataset.strokes) <= done) current = row;
    for (const row of rows) row.classList.toggle("now", row === current);
  }

  function paint(elapsed) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 4;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#1c2430";
    let done = 0;
    for (const stroke of drawing) {
      const shown = stroke.filter((p) => p[2] <= elapsed);
      if (!shown.length) break;
      ctx.beginPath();
      ctx.moveTo(shown[0][0], shown[0][1]);
      if (shown.length === 1) ctx.lineTo(shown[0][0] + 0.1, shown[0][1]);
      for (const p of shown.slice(1)) ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      if (shown.length === stroke.length) done += 1;
    }
    highlight(done);
    return done === drawing.length;
  }

  function play() {
    cancelAnimationFrame(frame);
    const start = performance.now();
    const step = (now) => {
      if (!paint(now - start)) frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
  }

  fetch(`/api/doodles/${encodeURIComponent(canvas.dataset.id)}`)
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((doodle) => {
      drawing = layout(doodle.drawing);
      if (button) button.addEventListener("click", play);
      play();
    })
    .catch((err) => {
      ctx.fillText(`could not load the drawing: ${err.message}`, 10, 20);
    });
})();
