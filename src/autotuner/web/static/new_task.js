// The new-task page: a form for the common fields and the YAML task file, kept in sync.
// YAML -> form: the server parses the text (POST /api/validate) and the form shows the document.
// Form -> YAML: the document is the last parsed one with the form's fields applied, written as YAML here;
// the search space textarea is YAML already and is placed into the file as typed.
"use strict";

(() => {
  const { api, problems, el, showProblems, debounce } = AT;
  const form = document.getElementById("task-form");
  const editor = document.getElementById("yaml-editor");
  const yamlState = document.getElementById("yaml-state");
  const yamlProblems = document.getElementById("yaml-problems");
  const formProblems = document.getElementById("form-problems");
  const $ = (id) => document.getElementById(id);
  let lastDoc = {};
  let seq = 0;

  // -- document -> form --------------------------------------------------------------------------
  function objectiveOf(doc) {
    const o = doc.objective || (Array.isArray(doc.objectives) ? doc.objectives[0] : null);
    if (!o) return null;
    if (typeof o === "string") { const [direction, metric] = o.split(/\s+/); return { direction, metric }; }
    if (o.metric) return { direction: o.direction, metric: o.metric };
    const [direction, metric] = Object.entries(o)[0] || [];
    return direction ? { direction, metric } : null;
  }

  function set(id, value) {
    const node = $(id);
    if (document.activeElement === node) return; // never overwrite what the user is typing
    node.value = value === undefined || value === null ? "" : String(value);
  }

  function sloField(slo, prefix, metricId, valueId) {
    const entry = Object.entries(slo || {}).find(([k]) => k.startsWith(prefix));
    if (entry) { set(metricId, entry[0]); set(valueId, entry[1]); } else set(valueId, "");
  }

  function fillForm(doc) {
    const model = typeof doc.model === "string" ? { id: doc.model } : doc.model || {};
    const search = doc.search || {};
    const workload = doc.workload || {};
    set("f-name", doc.name);
    set("f-model", model.id);
    set("f-served", model.served_name);
    if (doc.engine) set("f-engine", doc.engine);
    set("f-simulate", doc.simulate ? (doc.simulate.gpu || "h100") : "");
    if (search.strategy) set("f-strategy", search.strategy);
    set("f-budget", search.max_experiments);
    const obj = objectiveOf(doc);
    if (obj) { set("f-direction", obj.direction); set("f-metric", obj.metric); }
    set("f-space", search.space && typeof search.space === "object" ? YamlEmit.dump(search.space).trimEnd() : "");
    sloField(doc.slo, "ttft_", "f-ttft-metric", "f-ttft");
    sloField(doc.slo, "tpot_", "f-tpot-metric", "f-tpot");
    const scen = workload.scenarios;
    set("f-scenarios", Array.isArray(scen) ? scen.join("\n") : scen || "");
    const conc = workload.concurrency;
    set("f-concurrency", Array.isArray(conc) ? conc.join(", ") : conc === undefined ? "" : conc);
    set("f-requests", workload.num_requests);
  }

  // -- form -> document -> YAML ------------------------------------------------------------------
  function number(text) {
    const t = String(text).trim();
    if (t === "") return undefined;
    const n = Number(t);
    return Number.isFinite(n) ? n : t; // not a number: sent as typed, the server names the field
  }

  function formToDoc() {
    const doc = JSON.parse(JSON.stringify(lastDoc || {}));
    doc.name = $("f-name").value.trim();
    const model = typeof doc.model === "object" && doc.model ? doc.model : {};
    model.id = $("f-model").value.trim();
    const served = $("f-served").value.trim();
    if (served) model.served_name = served; else delete model.served_name;
    doc.model = model;
    doc.engine = $("f-engine").value;
    const gpu = $("f-simulate").value;
    if (gpu) doc.simulate = { ...(doc.simulate || {}), gpu }; else delete doc.simulate;
    doc.search = { ...(doc.search || {}), strategy: $("f-strategy").value };
    const budget = number($("f-budget").value);
    if (budget === undefined) delete doc.search.max_experiments; else doc.search.max_experiments = budget;
    doc.search.space = "__SPACE__";
    const objective = { [$("f-direction").value]: $("f-metric").value };
    if (Array.isArray(doc.objectives) && !("objective" in doc)) doc.objectives = [objective, ...doc.objectives.slice(1)];
    else doc.objective = objective; // (assigning an existing key keeps its place in the file)
    const slo = Object.fromEntries(Object.entries(doc.slo || {}).filter(([k]) => !k.startsWith("ttft_") && !k.startsWith("tpot_")));
    for (const [metricId, valueId] of [["f-ttft-metric", "f-ttft"], ["f-tpot-metric", "f-tpot"]]) {
      const v = number($(valueId).value);
      if (v !== undefined) slo[$(metricId).value] = v;
    }
    if (Object.keys(slo).length) doc.slo = slo; else delete doc.slo;
    const workload = { ...(doc.workload || {}) };
    const scenarios = $("f-scenarios").value.split(/\n+/).map((s) => s.trim()).filter(Boolean);
    if (scenarios.length) workload.scenarios = scenarios; else delete workload.scenarios;
    const conc = $("f-concurrency").value.split(/[,\s]+/).filter(Boolean).map(number);
    if (conc.length) workload.concurrency = conc; else delete workload.concurrency;
    const requests = number($("f-requests").value);
    if (requests === undefined) delete workload.num_requests; else workload.num_requests = requests;
    doc.workload = workload;
    return doc;
  }

  function docToYaml(doc) {
    const text = YamlEmit.dump(doc);
    const space = $("f-space").value.replace(/\s+$/, "");
    return text.replace(/^( *)space: __SPACE__$/m, (_, pad) => {
      if (!space.trim()) return `${pad}space: {}`;
      return `${pad}space:\n` + space.split("\n").map((l) => pad + "  " + l).join("\n");
    });
  }

  // -- validation and inline errors --------------------------------------------------------------
  function markFields(lines) {
    for (const field of form.querySelectorAll(".field")) {
      field.classList.remove("invalid");
      field.querySelector(".field-error")?.remove();
    }
    const unplaced = [];
    for (const line of lines) {
      const [loc, ...msg] = line.split(": ");
      const matches = [...form.querySelectorAll(".field")].filter((f) => {
        const d = f.dataset.loc;
        return loc === d || loc.startsWith(d + ".") || loc.startsWith(d + "[") || loc.startsWith(d + "_");
      });
      const field = matches.sort((a, b) => b.dataset.loc.length - a.dataset.loc.length)[0];
      if (!field) { unplaced.push(line); continue; }
      field.classList.add("invalid");
      field.append(el("div", { class: "field-error", text: msg.join(": ") || line }));
    }
    return unplaced;
  }

  async function validate(fillFromYaml) {
    const mine = ++seq;
    const r = await api("POST", "/api/validate", { yaml: editor.value });
    if (mine !== seq) return; // a newer edit is on its way
    if (!r.ok) { showProblems(yamlProblems, problems(r.data)); return; }
    const report = r.data;
    if (report.document) {
      lastDoc = report.document;
      if (fillFromYaml) fillForm(report.document);
    }
    const lines = report.problems.map((p) => `${p.loc}: ${p.msg}`);
    yamlState.textContent = report.valid ? "valid" : `${lines.length} problem${lines.length === 1 ? "" : "s"}`;
    yamlState.className = report.valid ? "ok" : "bad";
    showProblems(yamlProblems, lines);
    markFields(lines);
  }

  const fromYaml = debounce(() => validate(true), 350);
  const fromForm = debounce(() => {
    editor.value = docToYaml(formToDoc());
    validate(false);
  }, 250);

  // The last side edited wins: an edit cancels the other side's pending update.
  editor.addEventListener("input", () => { fromForm.cancel(); fromYaml(); });
  const onForm = () => { fromYaml.cancel(); fromForm(); };
  form.addEventListener("input", onForm);
  form.addEventListener("change", onForm);

  $("import-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    fromForm.cancel();
    editor.value = await file.text();
    ev.target.value = "";
    validate(true);
  });

  async function create(start) {
    showProblems(formProblems, []);
    const r = await api("POST", `/api/tasks?start=${start}`, editor.value, "application/yaml");
    if (r.ok) {
      window.location.href = `/tasks/${r.data.id}`;
      return;
    }
    const lines = problems(r.data);
    const unplaced = markFields(lines);
    showProblems(formProblems, unplaced.length ? unplaced : [`${lines.length} problem(s): see the fields below`]);
    showProblems(yamlProblems, lines);
  }

  $("create-start").addEventListener("click", () => create(true));
  $("save-only").addEventListener("click", () => create(false));
  validate(true);
})();
