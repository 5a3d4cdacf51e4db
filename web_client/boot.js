// Loaded first, as a plain script: when the page's other scripts fail to load (a missing file, a
// server without the npm package, an old browser), the connection badge says so instead of
// "Connecting…" forever. main.js sets window.doodle.ready once everything it imports has run, which
// is before the window's load event (module scripts run before it).
"use strict";
(() => {
  const failed = () => {
    if (window.doodle && window.doodle.ready) return;
    const badge = document.getElementById("conn");
    const text = document.getElementById("conn-text");
    const say = document.getElementById("conn-say");
    if (!badge || !text || badge.dataset.state === "failed") return;
    badge.dataset.state = "failed";
    text.textContent = "The page did not load: reload to try again";
    if (say) say.textContent = "The page did not load: reload to try again";
  };
  // A script or stylesheet that failed to load (error events do not bubble: listen while capturing).
  window.addEventListener("error", (e) => {
    if (e.target instanceof HTMLScriptElement) failed();
  }, true);
  window.addEventListener("load", failed);
})();
