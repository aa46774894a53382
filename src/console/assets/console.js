// Swaps the page's live part (#live) for a fresh copy every two seconds, so a page
// shows what changed without a reload; forms live outside it and keep what is typed.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  async function refresh() {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById("live");
        if (fresh) live.replaceChildren(...fresh.childNodes);
      }
    } catch (_) {
      // The console may be restarting: the next tick tries again.
    }
    window.setTimeout(refresh, 2000);
  }
  window.setTimeout(refresh, 2000);
})();
