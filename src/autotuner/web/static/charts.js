// The task page's charts (Plotly, served locally): the objective per experiment with the running best
// and the failures; TTFT and TPOT against throughput with the SLO lines and the Pareto front; parallel
// coordinates of the parameters coloured by the objective. Experiments are named by their number within
// the task (#n), as in the table; latencies are drawn in ms. Titles are HTML headings above each plot,
// so Plotly's toolbar never covers them.
"use strict";

const Charts = (() => {
  const STATUS_COLORS = {
    succeeded: "#2e7d32", infeasible: "#ef6c00", pruned: "#9e9e9e", failed: "#c62828",
    running: "#1565c0", rejected: "#6d4c41", interrupted: "#8e24aa", pending: "#90a4ae",
  };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const BASE_LAYOUT = {
    margin: { l: 64, r: 20, t: 30, b: 50 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fbfcfd",
    font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#263238" },
    legend: { orientation: "h", y: -0.22 }, hovermode: "closest",
  };
  const { onScreen, metricLabel, shortReason, expNo } = AT;

  const isNum = (v) => typeof v === "number" && isFinite(v);
  const label = (e) => `${expNo(e)}${e.baseline ? " (baseline)" : ""} ${e.status}<br>${AT.paramsText(e.parameters)}` +
    (e.error ? `<br>${shortReason(e.error)}` : "");

  function setTitle(id, text) {
    const node = document.getElementById(`${id}-title`);
    if (node) node.textContent = text;
  }

  function placeholder(id, text) {
    const node = document.getElementById(id);
    if (window.Plotly) Plotly.purge(node);
    node.replaceChildren(AT.el("div", { class: "chart-empty", text }));
    node.dataset.empty = "1";
  }

  function draw(id, traces, layout) {
    const node = document.getElementById(id);
    if (node.dataset.empty) { node.replaceChildren(); delete node.dataset.empty; }
    Plotly.react(node, traces, { ...BASE_LAYOUT, ...layout }, CONFIG);
  }

  function objectiveChart(task, exps) {
    const metric = task.objective.metric;
    const units = task.units;
    const maximize = task.objective.direction === "maximize";
    const value = (e) => onScreen(units, metric, e.metrics[metric]);
    const runs = exps.filter((e) => !e.baseline);
    const measured = runs.filter((e) => value(e) !== null);
    const failed = runs.filter((e) => e.status === "failed");
    setTitle("chart-objective", `${metricLabel(units, metric)} per experiment`);
    if (!measured.length && !failed.length) return placeholder("chart-objective", `${metric} per experiment appears after the first measurement.`);
    const traces = [];
    for (const status of Object.keys(STATUS_COLORS)) {
      const pts = measured.filter((e) => e.status === status);
      if (!pts.length) continue;
      traces.push({ type: "scatter", mode: "markers", name: status, x: pts.map((e) => e.n),
        y: pts.map(value), text: pts.map(label), hoverinfo: "text+y",
        marker: { color: STATUS_COLORS[status], size: 9, line: { width: 1, color: "#fff" } } });
    }
    let best = null;
    const bx = [], by = [];
    for (const e of runs) {
      if (e.status === "succeeded" && isNum(e.score) && (best === null || (maximize ? e.score > best : e.score < best))) best = e.score;
      if (best !== null) { bx.push(e.n); by.push(onScreen(units, metric, best)); }
    }
    if (bx.length) traces.push({ type: "scatter", mode: "lines", name: "best so far", x: bx, y: by,
      line: { shape: "hv", color: "#1565c0", width: 2 }, hoverinfo: "skip" });
    const values = measured.map(value);
    const baseline = exps.find((e) => e.baseline && value(e) !== null);
    const lastN = Math.max(...exps.map((e) => e.n || 0), 1);
    if (baseline) {
      const b = value(baseline);
      values.push(b);
      traces.push({ type: "scatter", mode: "lines", name: `baseline (defaults, ${expNo(baseline)})`, x: [0.5, lastN + 0.5], y: [b, b],
        line: { dash: "dot", color: "#607d8b", width: 1.5 }, hoverinfo: "y" });
    }
    const lo = values.length ? Math.min(0, ...values) : 0, hi = values.length ? Math.max(...values) : 1;
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
    // A failed start has no measurement: a cross under the axis floor, at its number, the reason on hover.
    const floor = lo - pad;
    if (failed.length) traces.push({ type: "scatter", mode: "markers", name: "failed (no measurement)", x: failed.map((e) => e.n),
      y: failed.map(() => floor), text: failed.map(label), hoverinfo: "text",
      marker: { color: STATUS_COLORS.failed, size: 10, symbol: "x" } });
    draw("chart-objective", traces, {
      legend: { orientation: "h", y: -0.28 }, margin: { ...BASE_LAYOUT.margin, b: 64 },
      xaxis: { title: { text: "experiment (# within the task)", standoff: 4 }, range: [0.5, lastN + 0.5], zeroline: false,
        tickmode: "linear", tick0: 1, dtick: Math.max(1, Math.ceil(lastN / 12)), tickprefix: "#", tickangle: 0 },
      yaxis: { title: { text: metricLabel(units, metric), font: { size: 11 } }, range: [floor - pad, hi + pad] },
    });
  }

  // Points not beaten on both axes: more throughput and less latency.
  function pareto(points) {
    const sorted = [...points].sort((a, b) => b.x - a.x || a.y - b.y);
    const front = [];
    let bestY = Infinity;
    for (const p of sorted) if (p.y < bestY) { front.push(p); bestY = p.y; }
    return front.sort((a, b) => a.x - b.x);
  }

  function latencyChart(task, exps) {
    const obj = task.objective;
    const units = task.units;
    const xMetric = obj.direction === "maximize" && /throughput|goodput/.test(obj.metric) ? obj.metric : "output_throughput";
    const sloKey = (prefix, fallback) => Object.keys(task.slo || {}).find((k) => k.startsWith(prefix)) || fallback;
    const panels = [
      { metric: sloKey("ttft_", "ttft_p90"), axis: "" },
      { metric: sloKey("tpot_", "tpot_p90"), axis: "2" },
    ];
    const x = (e) => onScreen(units, xMetric, e.metrics[xMetric]);
    const measured = exps.filter((e) => x(e) !== null);
    setTitle("chart-latency", `latency against ${metricLabel(units, xMetric)}`);
    if (!measured.length) return placeholder("chart-latency", "Latency against throughput appears after the first measurement.");
    const traces = [], shapes = [];
    panels.forEach((panel, i) => {
      const y = (e) => onScreen(units, panel.metric, e.metrics[panel.metric]);
      const pts = measured.filter((e) => y(e) !== null);
      const xa = "x" + panel.axis, ya = "y" + panel.axis;
      traces.push({ type: "scatter", mode: "markers", name: "experiments", legendgroup: "exp", showlegend: i === 0,
        x: pts.map(x), y: pts.map(y), text: pts.map(label), hoverinfo: "text+x+y", xaxis: xa, yaxis: ya,
        marker: { size: 9, color: pts.map((e) => STATUS_COLORS[e.status] || "#555"), line: { width: 1, color: "#fff" } } });
      const front = pareto(pts.map((e) => ({ x: x(e), y: y(e) })));
      if (front.length) traces.push({ type: "scatter", mode: "lines", name: "Pareto front", legendgroup: "pareto",
        showlegend: i === 0, x: front.map((p) => p.x), y: front.map((p) => p.y), xaxis: xa, yaxis: ya,
        line: { shape: "hv", color: "#1565c0", width: 1.5 }, hoverinfo: "skip" });
      const limit = onScreen(units, panel.metric, (task.slo || {})[panel.metric]);
      if (limit !== null) {
        shapes.push({ type: "line", xref: `${xa} domain`, yref: ya, x0: 0, x1: 1, y0: limit, y1: limit,
          line: { color: "#c62828", dash: "dash", width: 1.5 } });
        if (i === 0) traces.push({ type: "scatter", mode: "lines", name: "SLO limit", x: [null], y: [null],
          line: { color: "#c62828", dash: "dash" } });
      }
    });
    draw("chart-latency", traces, {
      grid: { rows: 1, columns: 2, pattern: "independent" }, shapes,
      xaxis: { title: { text: metricLabel(units, xMetric) } }, xaxis2: { title: { text: metricLabel(units, xMetric) } },
      yaxis: { title: { text: metricLabel(units, panels[0].metric) }, rangemode: "tozero" },
      yaxis2: { title: { text: metricLabel(units, panels[1].metric) }, rangemode: "tozero" },
    });
  }

  // A flag tuned over a list is drawn as its categories (tp-size 1, 2: never 1.2, 1.4...); a range as numbers.
  function dimension(name, values, categories) {
    const asText = values.map(String);
    if (!categories && values.every((v) => isNum(v))) return { label: name, values };
    const order = [...(categories || [])];
    for (const v of [...new Set(asText)].sort()) if (!order.includes(v)) order.push(v);
    const index = new Map(order.map((c, i) => [c, i]));
    return { label: name, values: asText.map((v) => index.get(v)), tickvals: order.map((_, i) => i),
      ticktext: order, range: [-0.2, Math.max(order.length - 1, 0) + 0.2] };
  }

  function parallelChart(task, exps) {
    const metric = task.objective.metric;
    const units = task.units;
    const pts = exps.filter((e) => !e.baseline && onScreen(units, metric, e.metrics[metric]) !== null);
    setTitle("chart-parallel", `parameters coloured by ${metricLabel(units, metric)}`);
    if (pts.length < 2) return placeholder("chart-parallel", "Parallel coordinates of the parameters appear after two measurements.");
    const params = task.parameters.length ? task.parameters : Object.keys(pts[0].parameters);
    const categories = task.categories || {};
    const dims = params.map((p) => dimension(p, pts.map((e) => (e.parameters[p] === undefined ? "default" : e.parameters[p])), categories[p]));
    const scores = pts.map((e) => onScreen(units, metric, e.metrics[metric]));
    dims.push({ label: metricLabel(units, metric), values: scores });
    draw("chart-parallel", [{
      type: "parcoords", dimensions: dims,
      // Coloured by the objective; its own axis (the last) is the scale.
      line: { color: scores, colorscale: "Viridis", reversescale: task.objective.direction === "minimize", showscale: false },
      labelfont: { size: 12 }, tickfont: { size: 10 },
    }], { margin: { l: 110, r: 130, t: 50, b: 24 } });
  }

  function render(task, exps) {
    if (!window.Plotly || !task.objective) return;
    objectiveChart(task, exps);
    latencyChart(task, exps);
    parallelChart(task, exps);
  }

  return { render, STATUS_COLORS };
})();
