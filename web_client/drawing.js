// Strokes onto a canvas, shared by the sketchpad, the play mode, the room page and the gallery's
// pages (server/history/static/gallery.js and mine.js import it from /drawing.js).
//
// Promises:
// - drawStrokes(ctx, strokes, k, width) draws strokes of {x: [], y: []} in a coordinate frame
//   scaled by k (device pixels per unit); a one-point stroke is a dot. fitCanvas(canvas, logical)
//   sizes a square canvas to its width on screen (device pixels) and gives that k.
// - drawFitted(canvas, strokes, options) draws stored strokes ([[x...], [y...], [t...]?], the
//   Quick Draw raw format the JSON API serves) centred into the canvas with a margin, on a white
//   ground, and marks the canvas data-drawn; an empty drawing leaves the canvas untouched.
// - appendPoint(drawing, x, y, hasRoom) adds a pen point to drawing.current (the stroke being
//   drawn) and drawing.unsent (the points not yet sent), timed in ms from the drawing's first
//   point (drawing.t0, set by the first) and rounded to 0.1 unit; it drops a point closer than
//   MIN_STEP to the last one, and one hasRoom() refuses (asked only for points that would count).

const INK = "#1f2430";
const MIN_STEP = 1.5; // smallest move kept, in logical units (drops jitter)
const LINE_WIDTH = 9; // the sketchpad's line, in its logical units

export function drawStrokes(c, strokes, k, width = LINE_WIDTH) {
  c.lineCap = "round";
  c.lineJoin = "round";
  c.lineWidth = width * k;
  c.strokeStyle = INK;
  c.fillStyle = INK;
  for (const s of strokes) {
    if (!s.x.length) continue;
    c.beginPath();
    if (s.x.length === 1) {
      c.arc(s.x[0] * k, s.y[0] * k, (width * k) / 2, 0, 2 * Math.PI);
      c.fill();
      continue;
    }
    c.moveTo(s.x[0] * k, s.y[0] * k);
    for (let i = 1; i < s.x.length; i++) c.lineTo(s.x[i] * k, s.y[i] * k);
    c.stroke();
  }
}

/** Size a square canvas to its width on screen, in device pixels; the device pixels per logical unit. */
export function fitCanvas(canvas, logical) {
  const rect = canvas.getBoundingClientRect();
  const side = Math.max(1, Math.round(rect.width * (window.devicePixelRatio || 1)));
  if (canvas.width !== side) {
    canvas.width = side;
    canvas.height = side;
  }
  return side / logical;
}

export function drawFitted(canvas, strokes, { margin = 8, line = 2.5, ground = "#fff" } = {}) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const s of strokes) {
    for (const x of s[0]) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); }
    for (const y of s[1]) { minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
  }
  if (minX === Infinity) return;
  const side = canvas.width - 2 * margin;
  const scale = side / (Math.max(maxX - minX, maxY - minY) || 1);
  const dx = margin + (side - (maxX - minX) * scale) / 2;
  const dy = margin + (side - (maxY - minY) * scale) / 2;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = ground;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const fitted = strokes.map((s) => ({
    x: s[0].map((x) => (dx + (x - minX) * scale) / scale),
    y: s[1].map((y) => (dy + (y - minY) * scale) / scale),
  }));
  drawStrokes(ctx, fitted, scale, line / scale);
  canvas.dataset.drawn = "1";
}

export function appendPoint(drawing, x, y, hasRoom) {
  const s = drawing.current;
  const n = s.x.length;
  if (n && Math.hypot(x - s.x[n - 1], y - s.y[n - 1]) < MIN_STEP) return false;
  if (!hasRoom()) return false;
  const now = performance.now();
  if (drawing.t0 === null) drawing.t0 = now;
  const t = Math.round(now - drawing.t0);
  x = Math.round(x * 10) / 10;
  y = Math.round(y * 10) / 10;
  s.x.push(x); s.y.push(y); s.t.push(t);
  drawing.unsent.x.push(x); drawing.unsent.y.push(y); drawing.unsent.t.push(t);
  return true;
}
