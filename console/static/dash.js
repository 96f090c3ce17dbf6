// The overview's charts: every 5 seconds, read /charts/series (the points
// the console derives from the brokers' metrics, see console/sampler.go)
// and draw them with uPlot. Each chart's element carries data-points (how
// many values it shows) and data-max (the largest), for tests and for
// anyone reading the page without the canvas.
(function () {
  "use strict";
  var root = document.getElementById("charts");
  if (!root || !window.uPlot) {
    return;
  }
  var status = document.getElementById("chart-status");
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"];
  var plots = {};
  // The x axis is always the whole window, ending at the newest sample.
  var xRange = [0, 1];

  function human(v, unit, base) {
    if (v == null) {
      return "–";
    }
    var units = base === 1024 ? ["", "Ki", "Mi", "Gi", "Ti"] : ["", "k", "M", "G", "T"];
    var i = 0;
    while (Math.abs(v) >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    return (Math.abs(v) >= 100 || i === 0 ? Math.round(v * 10) / 10 : v.toFixed(1)) + " " + units[i] + unit;
  }
  var formats = {
    bytesPerS: function (v) { return human(v, "B/s", 1024); },
    perS: function (v) { return human(v, "/s", 1000); },
    ms: function (v) { return v == null ? "–" : (v < 1 ? v.toPrecision(2) : v < 10 ? v.toFixed(1) : v.toFixed(0)) + " ms"; },
    bytes: function (v) { return human(v, "B", 1024); }
  };

  function width(el) {
    return Math.max(280, el.clientWidth || 280);
  }

  // powersOfTen keeps a log axis's splits at 1, 10, 100… only.
  function powersOfTen(u, splits) {
    return splits.map(function (v) { return Math.abs(Math.log10(v) % 1) < 1e-9 ? v : null; });
  }

  function yAxis(fmt, log) {
    var a = { size: 80, values: function (u, vals) { return vals.map(fmt); } };
    if (log) {
      a.filter = powersOfTen;
      a.grid = { filter: powersOfTen };
      a.ticks = { filter: powersOfTen };
    }
    return a;
  }

  // draw shows columns cols (one per name) against times t in element id;
  // log puts the y axis on a log scale (latency: a long-polling Fetch's
  // p99 is 1000 times a Produce's p50).
  function draw(id, t, names, cols, fmt, log) {
    var el = document.getElementById(id);
    if (!el) {
      return;
    }
    var points = 0;
    var max = 0;
    cols.forEach(function (c) {
      c.forEach(function (v) {
        if (v != null) {
          points++;
          max = Math.max(max, v);
        }
      });
    });
    el.dataset.points = String(points);
    el.dataset.max = String(max);
    var data = [t].concat(cols);
    var p = plots[id];
    if (p && p.series.length === names.length + 1) {
      p.setData(data);
      return;
    }
    if (p) {
      p.destroy();
    }
    var series = [{}];
    names.forEach(function (n, i) {
      series.push({ label: n, stroke: palette[i % palette.length], width: 1.5, spanGaps: false,
        value: function (u, v) { return fmt(v); } });
    });
    plots[id] = new window.uPlot({
      width: width(el),
      height: 180,
      series: series,
      scales: { x: { time: true, range: function () { return xRange; } }, y: log ? { distr: 3, log: 10 } : { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } },
      axes: [{}, yAxis(fmt, log)],
      legend: { live: true }
    }, data, el);
  }

  function refresh() {
    fetch(root.dataset.series, { cache: "no-store" }).then(function (r) {
      return r.json();
    }).then(function (s) {
      if (s.error) {
        status.textContent = s.error;
        return;
      }
      var names = s.latency_names || [];
      var end = s.t.length ? s.t[s.t.length - 1] : Date.now() / 1000;
      xRange = [end - s.window_s, end];
      draw("chart-bytes", s.t, ["in", "out"], [s.bytes_in, s.bytes_out], formats.bytesPerS);
      draw("chart-records", s.t, ["in"], [s.records_in], formats.perS);
      draw("chart-latency", s.t, names, s.latency || [], formats.ms, true);
      draw("chart-disk", s.t, s.sources || [], s.log_bytes || [], formats.bytes);
      var msg = s.t.length + (s.t.length === 1 ? " sample" : " samples") + ", one every " + s.interval_s + " s";
      if (s.errors && s.errors.length) {
        msg += "; metrics not read from " + s.errors.join("; ");
        status.className = "small bad";
      } else {
        status.className = "small muted";
      }
      status.textContent = msg;
    }).catch(function (e) {
      status.textContent = "Could not read the charts' data from the console: " + e;
      status.className = "small bad";
    });
  }

  window.addEventListener("resize", function () {
    Object.keys(plots).forEach(function (id) {
      var el = document.getElementById(id);
      plots[id].setSize({ width: width(el), height: 180 });
    });
  });
  refresh();
  window.setInterval(refresh, 5000);
})();
