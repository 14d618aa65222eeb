// etiket-sync web page: the Overview refreshes its table from /api/status every 2 s.
// Text is set with textContent only (never as HTML), so data cannot inject markup.
(function () {
  "use strict";
  var table = document.getElementById("sources");
  if (!table) return;
  var COUNTS = ["total", "pending", "live", "synchronized", "failed", "waiting"];

  function bad(s) { return s.status === "error" || s.items.failed > 0; }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  // the line at a glance: the same words as pages.summary
  function summary(rows, store) {
    var t = {}, inError = 0, forStore = 0;
    COUNTS.forEach(function (k) { t[k] = 0; });
    rows.forEach(function (s) {
      COUNTS.forEach(function (k) { t[k] += s.items[k]; });
      if (s.status === "error") inError++;
      forStore += s.waiting_for_store || 0;
    });
    if (inError || t.failed) {
      var parts = [];
      if (t.failed) parts.push(t.failed + " failed item(s)");
      if (inError) parts.push(inError + " source(s) in error");
      return ["error", parts.join(" and ") + "."];
    }
    if (store && !store.reachable) {
      return ["warn", "The store is unreachable: " + store.waiting_items +
        " item(s) wait for it and resume by themselves."];
    }
    if (t.pending || t.live) {
      return ["busy", "Synchronizing: " + t.pending + " pending, " + t.live + " live."];
    }
    if (t.waiting > forStore) {
      return ["warn", (t.waiting - forStore) + " item(s) waiting for a scope mapping."];
    }
    if (!rows.length) return ["dim", "No source yet: add one with etiket-sync add-source."];
    if (!t.total) return ["dim", "No item found yet."];
    return ["ok", "Everything is synchronized (" + t.synchronized + " item(s))."];
  }

  function render(data) {
    var loop = data.loop;
    var line = summary(data.sources, data.store);
    var store = data.store || {reachable: true};
    document.getElementById("store").hidden = store.reachable;
    document.getElementById("store-since").textContent = store.unreachable_since || "";
    document.getElementById("store-error").textContent = store.error || "";
    document.getElementById("summary").className = line[0];
    document.getElementById("summary-text").textContent = line[1];
    document.getElementById("summary-link").hidden = line[0] !== "error";
    document.getElementById("loop").setAttribute("data-state", loop.state);
    document.getElementById("loop-state").textContent = loop.state_text;
    document.getElementById("loop-heartbeat").textContent = loop.last_heartbeat || "none";
    document.getElementById("loop-iteration").textContent = String(loop.iteration);
    document.getElementById("loop-message").textContent = loop.message || "";
    var rows = data.sources.slice().sort(function (a, b) {
      if (bad(a) !== bad(b)) return bad(a) ? -1 : 1;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
    var body = document.createElement("tbody");
    rows.forEach(function (s) {
      var tr = document.createElement("tr");
      if (bad(s)) tr.className = "bad";
      cell(tr, s.name); cell(tr, s.backend);
      cell(tr, s.status, s.status === "error" ? "alarm" : ""); cell(tr, s.scope);
      COUNTS.forEach(function (k) {
        cell(tr, s.items[k], k === "failed" && s.items[k] > 0 ? "num alarm" : "num");
      });
      cell(tr, s.last_error);
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  // what the page shows must not silently go stale: say when the server stops answering
  var updated = document.getElementById("updated");
  var lastGood = new Date();
  function stale(why) {
    table.classList.add("stale");
    updated.className = "error";
    updated.textContent = why + ": the counts are as of " + lastGood.toLocaleTimeString() +
      ". Trying again every 2 s.";
  }

  function poll() {
    fetch(table.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { stale("The page server answered HTTP " + r.status); return; }
        return r.json().then(function (data) {
          render(data);
          lastGood = new Date();
          table.classList.remove("stale");
          updated.className = "";
          updated.textContent = "Updated every 2 s (last " + lastGood.toLocaleTimeString() + ").";
        });
      })
      .catch(function () { stale("The page server does not answer"); })
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
