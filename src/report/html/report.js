// gander report: charts (uPlot), sortable tables and the inline flame graphs.
// Reads only the JSON and base64 blocks in this page; fetches nothing.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("chart-data").textContent);
  // The run's length, or the last whole second it touched (a run shorter than a
  // second), or the SUT monitor's last sample (taken as the run ends).
  const lastSample = data.cpu.concat(data.memory).reduce((m, s) => Math.max(m, s.t.length ? s.t[s.t.length - 1] : 0), 0);
  const END = Math.max(data.end_s, data.t.length ? data.t[data.t.length - 1] + 0.5 : 0, lastSample);
  const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#9a6700", "#bf3989", "#1b7c83", "#57606a"];
  // The phases tint the whole plot; the profile window gets its own lane along
  // the top and dashed edges, so a steady state under a profile still shows.
  const SHADES = { ramp: "rgba(154,103,0,0.10)", steady: "rgba(26,127,55,0.08)" };
  const PROFILE = { lane: "rgba(130,80,223,0.55)", edge: "#8250df", lanePx: 8 };

  // ---- units ----------------------------------------------------------------

  // Every axis is titled with one unit and its ticks are bare numbers in that
  // unit. Data stay in their own unit (ms, bytes, %); `div` turns a data value
  // into the axis's unit.
  const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

  function axisUnit(unit, values) {
    if (unit === "bytes") {
      let max = 0;
      for (const v of values) if (v != null && v > max) max = v;
      let i = 0;
      while (max >= 1024 * 10 && i < BYTE_UNITS.length - 1) { max /= 1024; i++; }
      return { name: BYTE_UNITS[i], div: Math.pow(1024, i) };
    }
    return { name: unit || "", div: 1 };
  }

  // Tick steps that are round numbers in the axis's unit (uPlot's own are
  // round in the data's unit: 100,000,000 bytes is 95.4 MiB).
  function roundSteps(div) {
    const steps = [];
    for (let e = -3; e <= 9; e++) for (const m of [1, 2, 5]) steps.push(m * Math.pow(10, e) * div);
    return steps;
  }

  function titled(title, unitName) {
    return unitName ? title + " (" + unitName + ")" : title;
  }

  // A tick: a plain number, thousands grouped, at most three significant
  // decimals below 100 (uPlot's splits carry float noise such as 0.30000000000000004).
  function tick(v) {
    if (v == null || Number.isNaN(v)) return "";
    const r = Math.abs(v) >= 100 ? Math.round(v) : Number(v.toPrecision(3));
    return r.toLocaleString("en-US", { maximumFractionDigits: 3 });
  }

  // A value in the legend or the cursor read-out, with its unit.
  function fmt(v, unit) {
    if (v == null || Number.isNaN(v)) return "–";
    if (unit === "ms") return v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v >= 100 ? 0 : 1) + " ms";
    if (unit === "bytes") {
      let i = 0;
      while (v >= 1024 && i < BYTE_UNITS.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + " " + BYTE_UNITS[i];
    }
    if (unit === "%") return v.toFixed(1) + " %";
    return (Math.round(v * 100) / 100).toString() + (unit ? " " + unit : "");
  }

  // ---- charts -------------------------------------------------------------

  const timeCharts = [];
  const allCharts = []; // [element, chart]
  // What each chart's axes show, for readers of the page (and its tests):
  // per axis the unit named in its title and the divisor from data to ticks.
  const registry = (window.ganderCharts = []);
  let syncingZoom = false;

  function pixels(u, x) {
    return Math.round(u.valToPos(x, "x", true));
  }

  // The ramp-up and steady-state tints and the profile's lane, behind the series.
  function shadeWindows(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const clip = (w) => [Math.max(pixels(u, w.start), left), Math.min(pixels(u, w.end), left + width)];
    ctx.save();
    for (const w of data.windows) {
      const [x0, x1] = clip(w);
      if (w.kind === "profile" || x1 <= x0) continue;
      ctx.fillStyle = SHADES[w.kind] || "rgba(0,0,0,0.05)";
      ctx.fillRect(x0, top, x1 - x0, height);
    }
    const lane = PROFILE.lanePx * (window.devicePixelRatio || 1);
    for (const w of data.windows) {
      const [x0, x1] = clip(w);
      if (w.kind !== "profile" || x1 <= x0) continue;
      ctx.fillStyle = PROFILE.lane;
      ctx.fillRect(x0, top, x1 - x0, lane);
      ctx.strokeStyle = PROFILE.edge;
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      for (const x of [x0 + 0.5, x1 - 0.5]) {
        ctx.moveTo(x, top + lane);
        ctx.lineTo(x, top + height);
      }
      ctx.stroke();
    }
    ctx.restore();
  }

  // Zooming one time chart zooms them all: they share one time axis.
  function syncZoom(u, key) {
    if (key !== "x" || syncingZoom) return;
    syncingZoom = true;
    for (const other of timeCharts) {
      if (other !== u) other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
    }
    syncingZoom = false;
  }

  function widthOf(el) {
    return Math.max(320, el.clientWidth || 900);
  }

  // series: [{label, values, color, dash, width}], all in `opts.unit`; x: seconds.
  function timeChart(el, title, x, series, opts) {
    opts = opts || {};
    const unit = opts.unit || "";
    const y = axisUnit(unit, series.flatMap((s) => s.values));
    const xAxis = { name: "s", div: 1 };
    const u = new uPlot({
      title: title,
      width: widthOf(el),
      height: opts.height || 220,
      cursor: { sync: { key: "run" } },
      scales: {
        x: { time: false, range: () => [0, END] },
        y: opts.log ? { distr: 3 } : { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        { label: titled("time since start", xAxis.name), values: (u, vals) => vals.map(tick) },
        Object.assign(
          { label: titled(opts.axis || "", y.name), size: 70, values: (u, vals) => vals.map((v) => (v == null ? "" : tick(v / y.div))) },
          y.div > 1 ? { incrs: roundSteps(y.div) } : {}
        ),
      ],
      series: [{ label: "t", value: (u, v) => (v == null ? "–" : v.toFixed(1) + " s") }].concat(
        series.map((s, i) => ({
          label: s.label,
          stroke: s.color || COLORS[i % COLORS.length],
          width: s.width || 1.5,
          dash: s.dash,
          spanGaps: false,
          points: { show: false },
          value: (u, v) => fmt(v, unit),
        }))
      ),
      hooks: { drawClear: [shadeWindows], setScale: [syncZoom] },
    }, [x].concat(series.map((s) => s.values)), el);
    timeCharts.push(u);
    allCharts.push([el, u]);
    registry.push({ chart: el.dataset.chart, u: u, units: [xAxis, y] });
    return u;
  }

  // Series sampled on their own clocks, joined onto one x axis.
  function sampledChart(el, title, sampled, unit, axis) {
    const joined = uPlot.join(sampled.map((s) => [s.t, s.v]));
    const series = sampled.map((s, i) => ({ label: s.label, values: joined[i + 1] }));
    return timeChart(el, title, joined[0], series, { unit: unit, axis: axis });
  }

  function histogramChart(el, h) {
    const mids = h.lower_ms.map((lo, i) => Math.sqrt(lo * (i + 1 < h.lower_ms.length ? h.lower_ms[i + 1] : h.upper_ms)));
    const x = { name: "ms", div: 1 };
    const y = { name: "", div: 1 };
    const u = new uPlot({
      title: "Latency distribution (" + h.phase + ")",
      width: widthOf(el),
      height: 220,
      scales: { x: { time: false, distr: 3 }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { label: titled("latency", x.name), values: (u, vals) => vals.map(tick) },
        { label: "requests", size: 60, values: (u, vals) => vals.map(tick) },
      ],
      series: [
        { label: "latency", value: (u, v) => fmt(v, "ms") },
        { label: "requests", stroke: COLORS[0], fill: "rgba(9,105,218,0.35)", paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } },
      ],
    }, [mids, h.counts], el);
    allCharts.push([el, u]);
    registry.push({ chart: el.dataset.chart, u: u, units: [x, y] });
    return u;
  }

  function drawCharts() {
    const byName = {};
    document.querySelectorAll("[data-chart]").forEach((el) => { byName[el.dataset.chart] = el; });
    const t = data.t;
    if (byName.latency) {
      // Drawn in this order: max (thin, dashed) beneath p99, p95 and p50, so a
      // p99 that meets max stays in sight; the legend reads top to bottom.
      timeChart(byName.latency, "Latency per second (log scale)", t, [
        { label: "max", values: data.max, color: "#6e7781", dash: [5, 4], width: 1 },
        { label: "p99", values: data.p99, color: "#cf222e", width: 2 },
        { label: "p95", values: data.p95, color: "#9a6700", width: 1.5 },
        { label: "p50", values: data.p50, color: "#0969da", width: 1.5 },
      ], { unit: "ms", axis: "latency", log: true, height: 260 });
    }
    if (byName.throughput) {
      timeChart(byName.throughput, "Requests and errors per second", t, [
        { label: "requests/s", values: data.requests },
        { label: "errors/s", values: data.errors, color: "#cf222e" },
      ], { axis: "per second" });
    }
    const planned = data.planned.some((v) => v != null);
    const plannedLine = (label) => ({ label: label, values: data.planned, color: "#8c959f", dash: [6, 4] });
    if (byName.users && data.iterations) {
      // Open model: the arrival rate against its plan, late starts, busy users.
      timeChart(byName.users, "Iterations started per second (by intended start)", t, [
        { label: "started", values: data.iterations },
        plannedLine("planned rate"),
        { label: "late or missed", values: data.late, color: "#cf222e" },
        { label: "busy users", values: data.users, color: "#8250df" },
      ], { axis: "per second", height: 200 });
    } else if (byName.users) {
      const series = [{ label: "users", values: data.users, color: "#8250df" }];
      if (planned) series.push(plannedLine("planned users"));
      timeChart(byName.users, "Active users", t, series, { axis: "users", height: 160 });
      if (byName.late && data.late.some((v) => v > 0)) {
        timeChart(byName.late, "Requests held back by slow responses (closed model)", t, [
          { label: "late sends", values: data.late, color: "#cf222e" },
        ], { axis: "per second", height: 160 });
      }
    }
    if (byName.cpu && data.cpu.length) sampledChart(byName.cpu, "CPU", data.cpu, "%", "CPU of one core");
    if (byName.memory && data.memory.length) sampledChart(byName.memory, "Memory (RSS)", data.memory, "bytes", "RSS");
    data.headers.forEach((group, i) => {
      const el = byName["headers-" + i];
      if (!el) return;
      const title = group.unit === "ms" ? "Server timings (mean per second)" : "Server figures (mean per second)";
      timeChart(el, title, t, group.lines.map((h) => ({ label: h.label, values: h.values })),
        { unit: group.unit, axis: "mean per request" });
    });
    if (byName.histogram && data.histogram) histogramChart(byName.histogram, data.histogram);
    (data.by_name || []).forEach((n, i) => {
      const el = byName["name-" + i];
      if (!el) return;
      timeChart(el, "Latency per second: " + n.name + " (log scale)", t, [
        { label: "p99", values: n.p99, color: "#cf222e", width: 2 },
        { label: "p95", values: n.p95, color: "#9a6700", width: 1.5 },
        { label: "p50", values: n.p50, color: "#0969da", width: 1.5 },
      ], { unit: "ms", axis: "latency", log: true, height: 200 });
    });

    // Double-click resets every time chart to the whole run.
    document.querySelectorAll("#charts .chart").forEach((el) => el.addEventListener("dblclick", () => {
      for (const u of timeCharts) u.setScale("x", { min: 0, max: END });
    }));
    // One handler, replaced when the live page draws the charts again.
    let resizeTimer = null;
    window.onresize = () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        for (const [el, u] of allCharts) u.setSize({ width: widthOf(el), height: u.height });
      }, 150);
    };
  }

  // ---- sortable tables ----------------------------------------------------

  function sortable(table) {
    const heads = table.tHead.rows[0].cells;
    Array.from(heads).forEach((th, col) => {
      th.addEventListener("click", () => {
        const descending = th.getAttribute("aria-sort") !== "descending";
        Array.from(heads).forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const text = th.dataset.type === "text";
        const key = (row) => {
          const cell = row.cells[col];
          if (!cell) return text ? "" : -Infinity;
          if (text) return cell.textContent.trim().toLowerCase();
          const n = parseFloat(cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent);
          return Number.isNaN(n) ? -Infinity : n;
        };
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const ka = key(a), kb = key(b);
          const c = ka < kb ? -1 : ka > kb ? 1 : 0;
          return descending ? -c : c;
        });
        rows.forEach((r) => body.appendChild(r));
      });
    });
  }

  // ---- flame graphs ---------------------------------------------------------

  // The SVGs are gzip + base64 in the page; unpacked here into data: URLs for
  // sandboxed frames, where inferno's own script gives search and zoom. The
  // frame takes the SVG's own size, so the whole graph shows without scrolling.
  async function showFlameGraph(frame) {
    const source = document.getElementById(frame.dataset.svg);
    if (!source) return;
    try {
      const binary = atob(source.textContent.trim());
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      const svg = await new Response(stream).text();
      const size = /<svg[^>]*?\swidth="(\d+)"[^>]*?\sheight="(\d+)"/.exec(svg);
      if (size) {
        frame.style.width = Number(size[1]) + 4 + "px";
        frame.style.height = Math.min(Number(size[2]) + 4, 4000) + "px";
      }
      frame.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
      frame.dataset.loaded = "yes";
    } catch (e) {
      console.error("flame graph:", e);
      const note = document.createElement("p");
      note.className = "empty";
      note.textContent = "This browser cannot unpack the flame graph (" + e.message + "); open the SVG file from the run directory instead.";
      frame.replaceWith(note);
    }
  }

  document.querySelectorAll("table.sortable").forEach(sortable);
  document.querySelectorAll("iframe[data-svg]").forEach(showFlameGraph);
  // Per-name flame graphs: their frames are made, and drawn, when their part
  // of the page is opened (a page may hold dozens).
  document.querySelectorAll("details.cost-flame").forEach((d) => {
    d.addEventListener("toggle", () => {
      if (!d.open) return;
      d.querySelectorAll(".flame-slot[data-svg]").forEach((slot) => {
        const frame = document.createElement("iframe");
        frame.className = "flame";
        frame.title = slot.dataset.title || "flame graph";
        frame.setAttribute("sandbox", "allow-scripts");
        frame.dataset.svg = slot.dataset.svg;
        const box = document.createElement("div");
        box.className = "flame-scroll";
        box.appendChild(frame);
        slot.replaceWith(box);
        showFlameGraph(frame);
      });
    });
  });
  if (typeof uPlot === "function") drawCharts();
})();
