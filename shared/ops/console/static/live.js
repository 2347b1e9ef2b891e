// The live view: refresh the figures from /live.json every two seconds. Text only (textContent),
// never markup, so stream and consumer names cannot inject anything.
"use strict";
(function () {
  function cell(row, value) {
    const td = document.createElement("td");
    td.textContent = value;
    row.appendChild(td);
  }
  function show(data) {
    document.getElementById("live-at").textContent = data.at;
    for (const [outcome, rate] of Object.entries(data.events_per_s)) {
      const el = document.getElementById("rate-" + outcome);
      if (el) el.textContent = String(rate);
    }
    document.getElementById("cost").textContent = "$" + data.cost_per_min_usd.toFixed(4);
    const body = document.querySelector("#streams tbody");
    const rows = [];
    for (const s of data.streams) {
      for (const g of s.groups.length ? s.groups : [null]) {
        const row = document.createElement("tr");
        cell(row, s.name);
        cell(row, String(s.length));
        if (g) {
          cell(row, g.name);
          cell(row, g.lag === null ? "?" : String(g.lag));
          cell(row, String(g.pending));
          cell(row, g.oldest_pending_idle_ms === null ? "-" : (g.oldest_pending_idle_ms / 1000).toFixed(1) + "s");
          cell(row, g.consumers_alive === null ? "-" : String(g.consumers_alive));
          cell(row, g.consumers_dead === null ? "-" : String(g.consumers_dead));
        } else {
          for (let i = 0; i < 6; i++) cell(row, "-");
        }
        rows.push(row);
      }
    }
    body.replaceChildren(...rows);
  }
  async function tick() {
    try {
      const reply = await fetch("/live.json", { credentials: "same-origin" });
      if (reply.ok) show(await reply.json());
    } catch (e) {
      // the next tick tries again
    }
  }
  setInterval(tick, 2000);
})();
