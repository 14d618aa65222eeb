// etiket-sync web page: draws one variable of a stored NetCDF file on a canvas, from
// /api/plot/DATASET/FILE?var=NAME: a line (1-D) or a colour map (2-D). While the file is
// live it asks again every 2 s, so the plot grows with the measurement.
// After each drawing the canvas tells what it drew (read by the browser tests and the
// benchmark): data-points = points (line) or cells (map) drawn, data-draw-ms = ms from the
// start of the data request to the end of drawing.
(function () {
  "use strict";
  var canvas = document.getElementById("plot");
  if (!canvas) return;
  var api = canvas.getAttribute("data-api");
  var select = document.getElementById("variable");
  var note = document.getElementById("plot-note");
  var ctx = canvas.getContext("2d");
  var M = 50; // margin for the axis labels

  function range(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) {
      if (typeof v === "number") { if (v < lo) lo = v; if (v > hi) hi = v; }
    });
    if (lo === Infinity) return [0, 1];
    if (lo === hi) return [lo - 0.5, hi + 0.5];
    return [lo, hi];
  }

  function numeric(values) {
    return values.map(function (v, i) { return typeof v === "number" ? v : i; });
  }

  function frame(xr, yr, xname, yname) {
    var w = canvas.width, h = canvas.height;
    ctx.strokeStyle = "#444"; ctx.fillStyle = "#222"; ctx.font = "12px sans-serif";
    ctx.strokeRect(M, 10, w - M - 10, h - M - 10);
    ctx.fillText(String(+xr[0].toPrecision(4)), M, h - M + 15);
    ctx.fillText(String(+xr[1].toPrecision(4)), w - 60, h - M + 15);
    ctx.fillText(xname, w / 2, h - 10);
    ctx.fillText(String(+yr[1].toPrecision(4)), 2, 20);
    ctx.fillText(String(+yr[0].toPrecision(4)), 2, h - M);
    ctx.save(); ctx.translate(12, h / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(yname, 0, 0); ctx.restore();
  }

  function line(d) {
    var xs = numeric(d.axes[0].values), ys = d.values;
    var xr = range(xs), yr = range(ys);
    var w = canvas.width - M - 10, h = canvas.height - M - 10;
    ctx.strokeStyle = "#1f5fbf"; ctx.lineWidth = 1.5; ctx.beginPath();
    var pen = false, drawn = 0;
    for (var i = 0; i < ys.length; i++) {
      if (typeof ys[i] !== "number") { pen = false; continue; }
      var px = M + (xs[i] - xr[0]) / (xr[1] - xr[0]) * w;
      var py = 10 + h - (ys[i] - yr[0]) / (yr[1] - yr[0]) * h;
      if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true;
      drawn++;
    }
    ctx.stroke();
    frame(xr, yr, d.axes[0].name, d.variable + (d.units ? " (" + d.units + ")" : ""));
    return { points: drawn, note: "" };
  }

  function colour(t) { // dark blue -> teal -> yellow
    var r = Math.round(255 * Math.min(1, Math.max(0, 2 * t - 0.6)));
    var g = Math.round(255 * Math.min(1, 0.15 + 0.85 * t));
    var b = Math.round(255 * Math.max(0, 0.55 - 0.55 * t) + 60 * (1 - t));
    return [r, g, b];
  }

  function map(d) {
    var rows = d.axes[0].values.length, cols = d.axes[1].values.length;
    var vr = range(d.values);
    if (!rows || !cols) { // a live map before its first row: nothing to paint yet
      frame([0, 1], [0, 1], d.axes[1].name, d.axes[0].name);
      return { points: 0, note: d.variable + ": no values yet · " };
    }
    var img = ctx.createImageData(cols, rows);
    for (var i = 0; i < rows; i++) {
      for (var j = 0; j < cols; j++) {
        var v = d.values[i * cols + j], k = ((rows - 1 - i) * cols + j) * 4;
        var c = typeof v === "number" ? colour((v - vr[0]) / (vr[1] - vr[0])) : [255, 255, 255];
        img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
      }
    }
    var off = document.createElement("canvas");
    off.width = cols; off.height = rows;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, M, 10, canvas.width - M - 10, canvas.height - M - 10);
    frame(range(numeric(d.axes[1].values)), range(numeric(d.axes[0].values)),
      d.axes[1].name, d.axes[0].name);
    return {
      points: rows * cols,
      note: d.variable + ": " + +vr[0].toPrecision(4) + " … " + +vr[1].toPrecision(4) + " · "
    };
  }

  function label(v) { return (v.name || v.variable) + " [" + v.shape.join("×") + "]"; }

  var timer = null, asked = 0;
  function draw() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!select.value) return;
    var mine = ++asked; // a newer request (another variable) wins over one still on its way
    var start = performance.now();
    fetch(api + "?var=" + encodeURIComponent(select.value), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (mine !== asked) return;
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        if (d.error) { note.textContent = d.error; return; }
        var got = d.kind === "line" ? line(d) : map(d);
        canvas.setAttribute("data-points", String(got.points));
        canvas.setAttribute("data-draw-ms", String(Math.round(performance.now() - start)));
        note.textContent = got.note + "version " + d.version + (d.live ? " (live)" : "");
        // a live variable grows: its shape in the list follows what was drawn
        select.options[select.selectedIndex].textContent = label(d);
        if (d.live) timer = setTimeout(draw, 2000);
      })
      .catch(function () {
        if (mine !== asked) return;
        note.textContent = "The page server does not answer: trying again every 2 s.";
        timer = setTimeout(draw, 2000);
      });
  }

  fetch(api, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (info) {
      if (info.error) { note.textContent = info.error; return; }
      info.variables.forEach(function (v) {
        if (!v.kind) return;
        var o = document.createElement("option");
        o.value = v.name; o.textContent = label(v);
        select.appendChild(o);
      });
      if (!select.options.length) { note.textContent = "no 1-D or 2-D variable to plot"; return; }
      select.addEventListener("change", draw);
      draw();
    })
    .catch(function () {
      note.textContent = "The page server does not answer: reload the page to try again.";
    });
})();
