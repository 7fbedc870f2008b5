// gander live page: fetches this page again every second from the server that
// sent it (127.0.0.1) and swaps in the new figures; the charts are drawn again
// by the report's own script. Stops once the run has ended.
(function () {
  "use strict";
  const EVERY_MS = 1000;
  window.ganderLive = { updates: 0, done: false, failures: 0 };

  function swap(doc) {
    document.getElementById("verdict").replaceWith(doc.getElementById("verdict"));
    document.querySelector("main").replaceWith(doc.querySelector("main"));
    document.title = doc.title;
    document.getElementById("chart-data").textContent = doc.getElementById("chart-data").textContent;
    for (const c of window.ganderCharts || []) c.u.destroy();
    const again = document.createElement("script");
    again.textContent = document.getElementById("report-js").textContent;
    document.body.appendChild(again);
    again.remove();
  }

  async function update() {
    try {
      const response = await fetch("/", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      swap(doc);
      window.ganderLive.updates++;
      window.ganderLive.done = !!document.getElementById("report-link");
    } catch (e) {
      // The run has ended and gander with it, or a hiccup: say so, try again.
      window.ganderLive.failures++;
      const live = document.getElementById("live");
      if (live) live.textContent = "Cannot reach gander (" + e.message + "); the run may have ended: its report is in the run directory.";
    }
    if (!window.ganderLive.done) setTimeout(update, EVERY_MS);
  }

  window.ganderLive.done = !!document.getElementById("report-link");
  if (!window.ganderLive.done) setTimeout(update, EVERY_MS);
})();
