// The task page: live progress through Server-Sent Events, the best configuration, charts and the
// experiments table (sorted and paged by the server).
"use strict";

(() => {
  const { api, problems, fmt, fmtTime, el, badge, setBadge, showProblems, paramsText, throttle,
    onScreen, metricLabel, shortReason, expNo } = AT;
  const root = document.getElementById("task-root");
  const taskId = root.dataset.taskId;
  const $ = (id) => document.getElementById(id);
  const PAGE = 25;
  const ACTIVE = ["queued", "running"];
  const table = { offset: 0, sort: "id", order: "desc", total: 0 };
  let task = null;
  let source = null;
  const numbers = new Map();  // database id -> number within the task, for the event log

  function remember(items) {
    let learned = false;
    for (const e of items) if (e.n && !numbers.has(e.id)) { numbers.set(e.id, e.n); learned = true; }
    if (learned) renderEvents();  // an event may have named an experiment before its number was known
  }

  // A metric as shown: in its on-screen unit (latencies in ms).
  const shown = (metric, value) => fmt(onScreen(task.units, metric, value));

  // -- task summary --------------------------------------------------------------------------------
  async function loadTask() {
    const r = await api("GET", `/api/tasks/${taskId}`);
    if (!r.ok) {
      showProblems($("task-error"), r.status === 404 ? [`Task ${taskId} does not exist.`] : problems(r.data));
      return null;
    }
    task = r.data;
    renderTask();
    return task;
  }

  function renderTask() {
    document.title = `${task.name} · autotuner`;
    $("task-name").textContent = task.name;
    setBadge($("task-status"), task.cancel_requested && task.status === "running" ? "cancelling" : task.status);
    const p = task.progress;
    $("progress-bar").style.width = `${Math.round((p.fraction || 0) * 100)}%`;
    $("progress-text").textContent = `${p.finished} of ${p.budget} experiments finished`;
    const cur = task.current;
    remember(cur);
    $("current").replaceChildren(...(cur.length ? cur.map((c) => el("div", {},
      el("a", { href: `/experiments/${c.id}`, text: `Experiment ${expNo(c)}` }), " ",
      el("span", { class: "phase", text: c.phase || "starting" }), " ",
      el("span", { class: "muted", text: c.baseline ? "baseline (engine defaults)" : paramsText(c.parameters) })))
      : [task.status === "running" ? "Choosing the next configuration…" : "No experiment running."]));
    const sim = task.spec.simulate ? task.spec.simulate.gpu : task.options.simulate_gpu;
    const slo = Object.entries(task.slo).map(([k, v]) => `${k} ≤ ${shown(k, v)}${task.units[k] ? " " + task.units[k] : ""}`).join(", ") || "none";
    $("task-meta").textContent = `${task.engine} · ${task.model} · ${task.strategy} search · ` +
      `${task.objective.direction} ${task.objective.metric} · SLO ${slo}` + (sim ? ` · simulated ${sim.toUpperCase()}` : "") +
      (task.worker && ACTIVE.includes(task.status) ? ` · worker ${task.worker}` : "");
    showProblems($("task-error"), task.error ? [task.error] : []);
    renderBest();
    const s = task.status;
    $("btn-start").hidden = s !== "pending";
    $("btn-resume").hidden = !["cancelled", "failed"].includes(s);
    $("btn-cancel").hidden = !ACTIVE.includes(s) || task.cancel_requested;
    $("btn-delete").hidden = s === "running";
  }

  function renderBest() {
    const best = task.best_detail;
    $("best-empty").hidden = !!best;
    $("best").hidden = !best;
    if (!best) return;
    const metric = task.objective.metric;
    $("best-score").textContent = shown(metric, best.score);
    $("best-metric").textContent = metricLabel(task.units, metric) + (best.baseline ? " (the engine's defaults)" : "");
    const link = $("best-link");
    link.href = `/experiments/${best.id}`;
    link.textContent = `experiment ${expNo(best)}`;
    const gain = best.gain;
    $("best-gain-row").hidden = !gain;
    if (gain) {
      $("best-gain").textContent = `${gain.change >= 0 ? "+" : ""}${(100 * gain.change).toFixed(1)}%`;
      $("best-gain").className = gain.change > 0 ? "up" : "down";
      // The spread: the range over repeated runs when measured, else what the single runs say.
      const detail = (gain.text || "").replace(/^[+-]?[\d.]+% ?\(?/, "").replace(/\)$/, "");
      const pct = (v) => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}%`;
      const ends = isNum(gain.low) && isNum(gain.high) && !detail.includes("range") ? `range ${pct(gain.low)} to ${pct(gain.high)} ` : "";
      $("best-gain-spread").textContent = `(${ends}${detail})`.replace("( ", "(").replace(" )", ")");
      $("best-gain-spread").title = gain.text || "";
    }
    const rows = Object.entries(best.parameters).map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: fmt(v) })));
    const keys = [...new Set([metric, "output_throughput", "ttft_p90", "tpot_p90", "request_throughput"])];
    for (const k of keys) if (best.metrics[k] !== undefined) rows.push(el("tr", { class: "metric" }, el("th", { text: metricLabel(task.units, k) }), el("td", { text: shown(k, best.metrics[k]) })));
    $("best-params").replaceChildren(...rows);
    $("best-command").textContent = best.command;
  }

  $("copy-command").addEventListener("click", async () => {
    const text = $("best-command").textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("best-command"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand("copy");
    }
    $("copy-command").textContent = "Copied";
    setTimeout(() => ($("copy-command").textContent = "Copy"), 1500);
  });

  // -- experiments table --------------------------------------------------------------------------
  function columns() {
    const metric = task.objective.metric;
    const metrics = [metric, "output_throughput", "ttft_p90", "tpot_p90", "request_throughput"].filter((m, i, a) => a.indexOf(m) === i);
    return [
      { key: "id", label: "#", cell: (e) => el("a", { class: "exp-no", href: `/experiments/${e.id}`, title: `database id ${e.id}`, text: expNo(e) }) },
      { key: "status", label: "status", cell: (e) => [badge(e.status), e.phase ? el("span", { class: "phase", text: ` ${e.phase}` }) : null] },
      ...task.parameters.map((p) => ({ key: `params.${p}`, label: p, cell: (e) => (e.baseline ? el("span", { class: "muted", text: "default" }) : fmt(e.parameters[p])) })),
      ...metrics.map((m) => ({ key: m, label: metricLabel(task.units, m), num: true, cell: (e) => shown(m, e.metrics[m]) })),
      { key: null, label: "note", cell: (e) => el("span", { class: "note", title: e.error || "", text: e.baseline ? "baseline" + (e.error ? ": " + shortReason(e.error) : "") : shortReason(e.error) }) },
    ];
  }

  async function loadTable() {
    if (!task) return;
    const q = `offset=${table.offset}&limit=${PAGE}&sort=${encodeURIComponent(table.sort)}&order=${table.order}`;
    const r = await api("GET", `/api/tasks/${taskId}/experiments?${q}`);
    if (!r.ok) return;
    table.total = r.data.total;
    remember(r.data.items);
    const cols = columns();
    const head = el("tr", {}, cols.map((c) => el("th", {
      class: [c.key ? "sortable" : "", c.num ? "num" : "", table.sort === c.key ? `sorted ${table.order}` : ""].join(" ").trim(),
      "data-sort": c.key, onclick: c.key ? () => sortBy(c.key) : null,
    }, c.label)));
    $("experiments").tHead.replaceChildren(head);
    $("experiments").tBodies[0].replaceChildren(...r.data.items.map((e) => el("tr", { "data-exp-id": e.id, class: e.baseline ? "baseline" : "" },
      cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.cell(e))))));
    $("exp-total").textContent = `(${table.total})`;
    const last = Math.min(table.offset + PAGE, table.total);
    $("page-label").textContent = table.total ? `${table.offset + 1}–${last} of ${table.total}` : "none yet";
    $("page-prev").disabled = table.offset === 0;
    $("page-next").disabled = last >= table.total;
  }

  function sortBy(key) {
    if (table.sort === key) table.order = table.order === "asc" ? "desc" : "asc";
    else { table.sort = key; table.order = key === "id" || key.startsWith("params.") || key === "status" ? "asc" : "desc"; }
    table.offset = 0;
    loadTable();
  }

  $("page-prev").addEventListener("click", () => { table.offset = Math.max(0, table.offset - PAGE); loadTable(); });
  $("page-next").addEventListener("click", () => { table.offset += PAGE; loadTable(); });

  async function loadCharts() {
    if (!task || typeof Charts === "undefined") return;
    const r = await api("GET", `/api/tasks/${taskId}/experiments?limit=10000&sort=id&order=asc`);
    if (!r.ok) return;
    remember(r.data.items);
    Charts.render(task, r.data.items);
  }

  const refresh = throttle(async () => {
    if (await loadTask()) await Promise.all([loadTable(), loadCharts()]);
  }, 1000);

  // -- live events ---------------------------------------------------------------------------------
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const scoreText = (score) => {
    const metric = task ? task.objective.metric : "";
    const u = task ? task.units[metric] : "";
    return task ? `${shown(metric, score)}${u ? " " + u : ""}` : fmt(score);
  };

  function describe(ev) {
    const exp = ev.experiment ? `experiment ${numbers.has(ev.experiment) ? "#" + numbers.get(ev.experiment) : "id " + ev.experiment}` : "";
    const m = ev.metrics || {};
    switch (ev.kind) {
      case "experiment_started": return `${exp} started: ${ev.baseline ? "baseline (engine defaults)" : paramsText(ev.params)}`;
      case "experiment_phase": return `${exp}: ${ev.phase}`;
      case "level_finished": return `${exp} ${ev.level}: ${fmt(m.output_throughput)} tok/s, TTFT p90 ${fmt(isNum(m.ttft_p90) ? m.ttft_p90 * 1000 : null)} ms`;
      case "experiment_finished": return `${exp} ${ev.status}` + (isNum(ev.score) ? `, score ${scoreText(ev.score)}` : "") + (ev.error ? ` (${shortReason(ev.error)})` : "");
      case "best_changed": return `new best: ${exp}, score ${scoreText(ev.score)}`;
      case "task_finished": return `task ${ev.status}` + (ev.error ? `: ${ev.error}` : "");
      default: return `${ev.kind.replace(/_/g, " ")}` + (exp ? ` (${exp})` : "");
    }
  }

  const events = [];  // the newest first, at most 100

  function eventItem(ev) {
    return el("li", { class: `ev ev-${ev.kind}` }, el("time", { text: new Date(ev.ts).toLocaleTimeString() }), " ", describe(ev));
  }

  function renderEvents() {
    $("event-log").replaceChildren(...events.map(eventItem));
  }

  function logEvent(ev) {
    events.unshift(ev);
    if (events.length > 100) events.pop();
    const log = $("event-log");
    log.prepend(eventItem(ev));
    while (log.children.length > events.length) log.lastChild.remove();
  }

  function connect() {
    if (source && source.readyState !== EventSource.CLOSED) return;
    source = new EventSource(`/api/tasks/${taskId}/events`);
    source.onopen = () => { $("live-state").textContent = "● live"; $("live-state").className = "live"; };
    source.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      logEvent(ev);
      refresh();
    };
    source.onerror = () => {
      // The server ends the stream when the task finishes: no need to reconnect then.
      const finished = task && !ACTIVE.includes(task.status) && task.status !== "pending";
      if (finished) source.close();
      const closed = source.readyState === EventSource.CLOSED;
      $("live-state").textContent = closed ? "" : "reconnecting…";
      $("live-state").className = "muted";
      if (closed) refresh();
    };
  }

  async function act(path, method = "POST") {
    const r = await api(method, path);
    if (!r.ok) { showProblems($("task-error"), problems(r.data)); return false; }
    return true;
  }

  $("btn-start").addEventListener("click", async () => { if (await act(`/api/tasks/${taskId}/start`)) { connect(); refresh(); } });
  $("btn-resume").addEventListener("click", async () => { if (await act(`/api/tasks/${taskId}/resume`)) { connect(); refresh(); } });
  $("btn-cancel").addEventListener("click", async () => { if (await act(`/api/tasks/${taskId}/cancel`)) refresh(); });
  $("btn-delete").addEventListener("click", async () => {
    if (!confirm(`Delete task ${task ? task.name : taskId} with all its experiments?`)) return;
    if (await act(`/api/tasks/${taskId}`, "DELETE")) window.location.href = "/";
  });

  loadTask().then((t) => {
    if (!t) return;
    loadTable();
    loadCharts();
    connect();
  });
})();
