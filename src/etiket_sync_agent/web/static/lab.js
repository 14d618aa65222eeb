// The lab overview's agents table, refreshed from /api/agents every 5 s (lab.py renders
// the same rows on the server). Text only: no markup from data reaches the page.
(function () {
  "use strict";
  var table = document.getElementById("agents");
  if (!table) return;
  var COUNTS = ["total", "pending", "live", "synchronized", "failed"];

  function age(s) {
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 129600) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(1) + " days ago";
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function render(agents) {
    var body = document.createElement("tbody");
    agents.forEach(function (a) {
      var t = {}, bad = a.silent;
      COUNTS.forEach(function (k) { t[k] = 0; });
      a.sources.forEach(function (s) {
        COUNTS.forEach(function (k) { t[k] += (s.items && s.items[k]) || 0; });
        if (s.status === "error") bad = true;
      });
      if (t.failed) bad = true;
      var tr = document.createElement("tr");
      if (bad) tr.className = "bad";
      tr.setAttribute("data-agent", a.agent_id);
      cell(tr, a.host + ":" + a.home);
      cell(tr, a.silent ? "silent" : a.state);
      cell(tr, age(a.age_s)).title = a.heartbeat;
      COUNTS.forEach(function (k) { cell(tr, t[k], "num"); });
      cell(tr, a.sources.map(function (s) {
        return s.name + " (" + s.status + ", " + ((s.items && s.items.synchronized) || 0) + " synced)";
      }).join(", "));
      cell(tr, a.version);
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  function poll() {
    fetch(table.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () { /* the server may be restarting: try again next time */ })
      .then(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 5000);
})();
