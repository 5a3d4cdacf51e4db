// Draws the gallery's thumbnails (server/history/gallery.py) from the JSON API's strokes:
// one request for the whole page (the same word/limit/before as the page), then each
// drawing fitted into its card's canvas. A card whose drawing is missing stays blank.
// window.doodleGallery.draw(canvas, strokes) draws one (mine.js uses it).
"use strict";
(() => {
  const MARGIN_PX = 8;
  const LINE_PX = 2.5;

  function draw(canvas, strokes) {
    const ctx = canvas.getContext("2d");
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const s of strokes) {
      for (const x of s[0]) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); }
      for (const y of s[1]) { minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
    }
    if (minX === Infinity) return;
    const side = canvas.width - 2 * MARGIN_PX;
    const extent = Math.max(maxX - minX, maxY - minY) || 1;
    const scale = side / extent;
    const dx = MARGIN_PX + (side - (maxX - minX) * scale) / 2;
    const dy = MARGIN_PX + (side - (maxY - minY) * scale) / 2;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = LINE_PX;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#1c2430";
    for (const s of strokes) {
      ctx.beginPath();
      s[0].forEach((x, i) => {
        const px = dx + (x - minX) * scale, py = dy + (s[1][i] - minY) * scale;
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      if (s[0].length === 1) ctx.lineTo(dx + (s[0][0] - minX) * scale + 0.1, dy + (s[1][0] - minY) * scale);
      ctx.stroke();
    }
    canvas.dataset.drawn = "1";
  }

  window.doodleGallery = { draw };
  const canvases = Array.from(document.querySelectorAll("canvas.thumb[data-id]"));
  if (!canvases.length || document.getElementById("mine")) return;

  fetch(`/api/doodles${window.location.search}`)
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((page) => {
      const byId = new Map(page.doodles.map((d) => [String(d.id), d.drawing]));
      for (const canvas of canvases) {
        const strokes = byId.get(canvas.dataset.id);
        if (strokes) draw(canvas, strokes);
      }
    })
    .catch((err) => console.error("gallery thumbnails:", err.message));
})();
