// Draws the gallery's thumbnails (server/history/gallery.py) from the JSON API's strokes:
// one request for the whole page (the same word/limit/before as the page), then each
// drawing fitted into its card's canvas (/drawing.js, the sketchpad's own drawing code).
// A card whose drawing is missing stays blank.
import { drawFitted } from "/drawing.js";

const canvases = Array.from(document.querySelectorAll("canvas.thumb[data-id]"));
if (canvases.length) {
  fetch(`/api/doodles${window.location.search}`)
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((page) => {
      const byId = new Map(page.doodles.map((d) => [String(d.id), d.drawing]));
      for (const canvas of canvases) {
        const strokes = byId.get(canvas.dataset.id);
        if (strokes) drawFitted(canvas, strokes);
      }
    })
    .catch((err) => console.error("gallery thumbnails:", err.message));
}
