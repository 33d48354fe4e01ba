// bosun's pages: times in the viewer's time zone, and a run's log followed live over
// Server-Sent Events. Everything works without it except the live log.
"use strict";
function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
  }
}
function followLog() {
  const log = document.getElementById("log");
  if (!log || !log.dataset.src || !window.EventSource) return;
  const status = document.getElementById("log-status");
  const source = new EventSource(log.dataset.src);
  log.textContent = "";
  source.addEventListener("log", (e) => {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(e.data.endsWith("\n") ? e.data : e.data + "\n");
    if (atEnd) log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("end", (e) => {
    if (status) status.textContent = "Finished: " + e.data;
    const outcome = document.getElementById("run-outcome");
    try {
      const end = JSON.parse(e.data);
      if (outcome && typeof end.status === "string") {
        const badge = document.createElement("span");
        const ok = end.status === "succeeded";
        badge.className = "badge " + (ok ? "ok" : "bad");
        badge.textContent = end.status;
        outcome.replaceChildren(badge);
      }
    } catch (_) { /* the status line says it */ }
    source.close();
  });
  source.onerror = () => { if (status && source.readyState === EventSource.CLOSED) status.textContent = "Disconnected."; };
  if (status) status.textContent = "Live…";
}
document.addEventListener("DOMContentLoaded", () => { localTimes(document); followLog(); });
