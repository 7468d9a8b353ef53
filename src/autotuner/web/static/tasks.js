// The tasks list: refreshed every two seconds (a list needs no event stream).
"use strict";

(() => {
  const { api, fmt, fmtTime, el, badge } = AT;
  const tbody = document.querySelector("#tasks tbody");
  const empty = document.getElementById("tasks-empty");

  function progressCell(p) {
    const pct = p.fraction === null ? 0 : Math.round(p.fraction * 100);
    return el("td", { class: "progress-cell" },
      el("div", { class: "progress small" }, el("div", { style: `width:${pct}%` })),
      el("span", { class: "muted", text: `${p.finished} / ${p.budget === null ? "?" : p.budget}` }));
  }

  function row(t) {
    const objective = t.objective ? `${t.objective.direction} ${t.objective.metric}` : "–";
    const best = t.best ? el("a", { href: `/experiments/${t.best.experiment}`, text: fmt(t.best.score) }) : "–";
    return el("tr", { "data-task-id": t.id },
      el("td", {}, String(t.id)),
      el("td", {}, el("a", { href: `/tasks/${t.id}`, text: t.name })),
      el("td", {}, badge(t.status)),
      el("td", { text: t.engine || "–" }),
      el("td", { text: objective }),
      progressCell(t.progress),
      el("td", {}, best),
      el("td", { text: fmtTime(t.created_at) }));
  }

  async function refresh() {
    const r = await api("GET", "/api/tasks?limit=200");
    if (r.ok) {
      tbody.replaceChildren(...r.data.items.map(row));
      empty.hidden = r.data.items.length > 0;
    }
    setTimeout(refresh, 2000);
  }

  refresh();
})();
