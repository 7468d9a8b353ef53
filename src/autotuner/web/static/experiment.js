// The experiment page: parameters, metrics per load level, and the engine log following live.
"use strict";

(() => {
  const { api, problems, fmt, fmtTime, el, setBadge, showProblems, onScreen, metricLabel, expNo } = AT;
  const expId = document.getElementById("exp-root").dataset.expId;
  const $ = (id) => document.getElementById(id);
  const LEVEL_METRICS = ["output_throughput", "request_throughput", "ttft_p50", "ttft_p90", "ttft_p99",
    "tpot_p50", "tpot_p90", "itl_p90", "e2e_p90", "success_rate", "num_requests", "num_errors", "duration"];
  const LIVE = ["pending", "running"];

  function kv(node, entries) {
    node.replaceChildren(...entries.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", {}, v instanceof Node ? v : fmt(v)))));
  }

  function render(exp) {
    const name = exp.task_name ? ` of ${exp.task_name}` : "";
    document.title = `Experiment ${expNo(exp)}${name} · autotuner`;
    $("exp-title").textContent = `Experiment ${expNo(exp)}${name}`;
    $("exp-dbid").textContent = `database id ${exp.id}`;
    setBadge($("exp-status"), exp.status);
    $("task-link").href = `/tasks/${exp.task_id}`;
    const units = exp.units || {};
    const params = Object.entries(exp.parameters);
    kv($("exp-params"), params.length ? params : [["(baseline)", "the engine's defaults"]]);
    const timings = exp.timings || {};
    const objective = exp.objective;
    kv($("exp-summary"), [
      // The phase only while it means something (a finished experiment has none).
      ...(exp.phase ? [["phase", exp.phase]] : []),
      [objective ? `score (${metricLabel(units, objective)})` : "score", objective ? fmt(onScreen(units, objective, exp.score)) : exp.score],
      ["GPU ids", (exp.gpus || []).join(", ") || "–"],
      ["started", fmtTime(exp.started_at)], ["finished", fmtTime(exp.finished_at)],
      ["startup (s)", timings.startup], ["benchmark (s)", timings.benchmark],
    ]);
    showProblems($("exp-error"), exp.error ? [exp.error] : []);
    const levels = exp.levels || [];
    $("levels").tHead.replaceChildren(el("tr", {}, el("th", { text: "scenario" }), el("th", { text: "load" }),
      LEVEL_METRICS.map((m) => el("th", { class: "num", text: metricLabel(units, m) }))));
    $("levels").tBodies[0].replaceChildren(...(levels.length ? levels.map((lv) => el("tr", {},
      el("td", { text: lv.scenario }), el("td", { text: lv.concurrency !== null ? `c=${lv.concurrency}` : `${lv.rate}/s` }),
      LEVEL_METRICS.map((m) => el("td", { class: "num", text: fmt(onScreen(units, m, (lv.metrics || {})[m])) }))))
      : [el("tr", {}, el("td", { colspan: LEVEL_METRICS.length + 2, class: "muted", text: LIVE.includes(exp.status) ? "Measuring…" : "No load level was measured." }))]));
    const log = $("log-tail");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.textContent = exp.log_tail || (LIVE.includes(exp.status) ? "(no log yet)" : "(no engine log: this experiment did not start an engine, or its log was removed)");
    if (atBottom) log.scrollTop = log.scrollHeight;
    $("log-state").textContent = exp.log ? exp.log + (LIVE.includes(exp.status) ? " · following" : "") : "";
  }

  async function poll() {
    const r = await api("GET", `/api/experiments/${expId}?log_lines=300`);
    if (!r.ok) {
      showProblems($("exp-error"), r.status === 404 ? [`Experiment ${expId} does not exist.`] : problems(r.data));
      return;
    }
    render(r.data);
    if (LIVE.includes(r.data.status)) setTimeout(poll, 1500);
  }

  poll();
})();
