// The task page's charts (Plotly, served locally): the objective per experiment with the running best;
// TTFT and TPOT against throughput with the SLO lines and the Pareto front; parallel coordinates of the
// parameters coloured by the objective.
"use strict";

const Charts = (() => {
  const STATUS_COLORS = {
    succeeded: "#2e7d32", infeasible: "#ef6c00", pruned: "#9e9e9e", failed: "#c62828",
    running: "#1565c0", rejected: "#6d4c41", interrupted: "#8e24aa", pending: "#90a4ae",
  };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const BASE_LAYOUT = {
    margin: { l: 60, r: 20, t: 40, b: 50 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fbfcfd",
    font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#263238" },
    legend: { orientation: "h", y: -0.22 }, hovermode: "closest",
  };

  const isNum = (v) => typeof v === "number" && isFinite(v);
  const label = (e) => `exp ${e.id}${e.baseline ? " (baseline)" : ""}<br>${AT.paramsText(e.parameters)}<br>${e.status}`;

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
    const maximize = task.objective.direction === "maximize";
    const runs = exps.filter((e) => !e.baseline);
    const measured = runs.filter((e) => isNum(e.metrics[metric]));
    if (!measured.length) return placeholder("chart-objective", `${metric} per experiment appears after the first measurement.`);
    const order = new Map(runs.map((e, i) => [e.id, i + 1]));
    const traces = [];
    for (const status of Object.keys(STATUS_COLORS)) {
      const pts = measured.filter((e) => e.status === status);
      if (!pts.length) continue;
      traces.push({ type: "scatter", mode: "markers", name: status, x: pts.map((e) => order.get(e.id)),
        y: pts.map((e) => e.metrics[metric]), text: pts.map(label), hoverinfo: "text+y",
        marker: { color: STATUS_COLORS[status], size: 9, line: { width: 1, color: "#fff" } } });
    }
    let best = null;
    const bx = [], by = [];
    for (const e of runs) {
      if (e.status === "succeeded" && isNum(e.score) && (best === null || (maximize ? e.score > best : e.score < best))) best = e.score;
      if (best !== null) { bx.push(order.get(e.id)); by.push(best); }
    }
    if (bx.length) traces.push({ type: "scatter", mode: "lines", name: "best so far", x: bx, y: by,
      line: { shape: "hv", color: "#1565c0", width: 2 } });
    const values = measured.map((e) => e.metrics[metric]);
    const baseline = exps.find((e) => e.baseline && isNum(e.metrics[metric]));
    if (baseline) {
      const b = baseline.metrics[metric];
      values.push(b);
      traces.push({ type: "scatter", mode: "lines", name: "baseline (defaults)", x: [0, runs.length + 1], y: [b, b],
        line: { dash: "dot", color: "#607d8b", width: 1.5 }, hoverinfo: "y" });
    }
    const lo = Math.min(...values), hi = Math.max(...values);
    const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.05 || 1;
    draw("chart-objective", traces, {
      title: { text: `${metric} per experiment`, font: { size: 14 } },
      xaxis: { title: { text: "experiment" }, dtick: runs.length > 20 ? undefined : 1, range: [0.5, runs.length + 0.5] },
      yaxis: { title: { text: metric }, range: [lo - pad, hi + pad] },
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
    const xMetric = obj.direction === "maximize" && /throughput|goodput/.test(obj.metric) ? obj.metric : "output_throughput";
    const sloKey = (prefix, fallback) => Object.keys(task.slo || {}).find((k) => k.startsWith(prefix)) || fallback;
    const panels = [
      { metric: sloKey("ttft_", "ttft_p90"), axis: "" },
      { metric: sloKey("tpot_", "tpot_p90"), axis: "2" },
    ];
    const measured = exps.filter((e) => isNum(e.metrics[xMetric]));
    if (!measured.length) return placeholder("chart-latency", "Latency against throughput appears after the first measurement.");
    const traces = [], shapes = [];
    panels.forEach((panel, i) => {
      const pts = measured.filter((e) => isNum(e.metrics[panel.metric]));
      const xa = "x" + panel.axis, ya = "y" + panel.axis;
      traces.push({ type: "scatter", mode: "markers", name: "experiments", legendgroup: "exp", showlegend: i === 0,
        x: pts.map((e) => e.metrics[xMetric]), y: pts.map((e) => e.metrics[panel.metric]), text: pts.map(label),
        hoverinfo: "text+x+y", xaxis: xa, yaxis: ya,
        marker: { size: 9, color: pts.map((e) => STATUS_COLORS[e.status] || "#555"), line: { width: 1, color: "#fff" } } });
      const front = pareto(pts.map((e) => ({ x: e.metrics[xMetric], y: e.metrics[panel.metric] })));
      if (front.length) traces.push({ type: "scatter", mode: "lines", name: "Pareto front", legendgroup: "pareto",
        showlegend: i === 0, x: front.map((p) => p.x), y: front.map((p) => p.y), xaxis: xa, yaxis: ya,
        line: { shape: "hv", color: "#1565c0", width: 1.5 }, hoverinfo: "skip" });
      const limit = (task.slo || {})[panel.metric];
      if (isNum(limit)) {
        shapes.push({ type: "line", xref: `${xa} domain`, yref: ya, x0: 0, x1: 1, y0: limit, y1: limit,
          line: { color: "#c62828", dash: "dash", width: 1.5 } });
        if (i === 0) traces.push({ type: "scatter", mode: "lines", name: "SLO limit", x: [null], y: [null],
          line: { color: "#c62828", dash: "dash" } });
      }
    });
    draw("chart-latency", traces, {
      title: { text: `latency vs ${xMetric}`, font: { size: 14 } },
      grid: { rows: 1, columns: 2, pattern: "independent" }, shapes,
      xaxis: { title: { text: xMetric } }, xaxis2: { title: { text: xMetric } },
      yaxis: { title: { text: `${panels[0].metric} (s)` }, rangemode: "tozero" },
      yaxis2: { title: { text: `${panels[1].metric} (s)` }, rangemode: "tozero" },
    });
  }

  function dimension(name, values) {
    if (values.every((v) => isNum(v))) return { label: name, values };
    const categories = [...new Set(values.map((v) => String(v)))].sort();
    const index = new Map(categories.map((c, i) => [c, i]));
    return { label: name, values: values.map((v) => index.get(String(v))), tickvals: categories.map((_, i) => i),
      ticktext: categories, range: [-0.2, Math.max(categories.length - 1, 0) + 0.2] };
  }

  function parallelChart(task, exps) {
    const metric = task.objective.metric;
    const pts = exps.filter((e) => !e.baseline && isNum(e.metrics[metric]));
    if (pts.length < 2) return placeholder("chart-parallel", "Parallel coordinates of the parameters appear after two measurements.");
    const params = task.parameters.length ? task.parameters : Object.keys(pts[0].parameters);
    const dims = params.map((p) => dimension(p, pts.map((e) => (e.parameters[p] === undefined ? "default" : e.parameters[p]))));
    const scores = pts.map((e) => e.metrics[metric]);
    dims.push({ label: metric, values: scores });
    draw("chart-parallel", [{
      type: "parcoords", dimensions: dims,
      line: { color: scores, colorscale: "Viridis", reversescale: task.objective.direction === "minimize", showscale: true,
        colorbar: { title: { text: metric, side: "right" }, thickness: 12 } },
      labelfont: { size: 12 }, tickfont: { size: 10 },
    }], { title: { text: `parameters coloured by ${metric}`, font: { size: 14 }, y: 0.97 }, margin: { l: 110, r: 90, t: 95, b: 30 } });
  }

  function render(task, exps) {
    if (!window.Plotly || !task.objective) return;
    objectiveChart(task, exps);
    latencyChart(task, exps);
    parallelChart(task, exps);
  }

  return { render, STATUS_COLORS };
})();
