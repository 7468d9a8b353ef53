// Shared helpers of the UI pages: API calls (with the optional bearer token), formatting, DOM building.
"use strict";

const AT = (() => {
  const TOKEN_KEY = "autotuner-token";

  function token() {
    return localStorage.getItem(TOKEN_KEY) || "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = document.getElementById("api-token");
    if (!input) return;
    input.value = token();
    input.addEventListener("change", () => localStorage.setItem(TOKEN_KEY, input.value.trim()));
  });

  // fetch wrapper: returns {ok, status, data}; data is parsed JSON when the reply is JSON.
  async function api(method, path, body, contentType) {
    const headers = {};
    const t = token();
    if (t && method !== "GET") headers["Authorization"] = "Bearer " + t;
    let payload;
    if (body !== undefined) {
      headers["Content-Type"] = contentType || "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: payload });
    } catch (e) {
      return { ok: false, status: 0, data: { detail: "the server is not reachable: " + e.message } };
    }
    const type = resp.headers.get("content-type") || "";
    const data = type.includes("json") ? await resp.json() : await resp.text();
    return { ok: resp.ok, status: resp.status, data };
  }

  // The problems of an error reply as "loc: msg" lines.
  function problems(data) {
    const detail = data && data.detail !== undefined ? data.detail : data;
    if (Array.isArray(detail)) return detail.map((p) => (p.loc ? `${p.loc}: ${p.msg}` : String(p.msg || p)));
    return [String(detail)];
  }

  function fmt(v, digits = 4) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const a = Math.abs(v);
      if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
      return String(Number(v.toPrecision(digits)));
    }
    if (typeof v === "boolean") return v ? "true" : "false";
    return String(v);
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    // A time without a zone is UTC (SQLite keeps no zone).
    const d = new Date(/([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z");
    return d.toLocaleString();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function badge(status) {
    return el("span", { class: `badge status-${status}`, text: status });
  }

  function setBadge(node, status) {
    node.className = `badge status-${status}`;
    node.textContent = status;
  }

  function showProblems(node, lines) {
    node.replaceChildren(...lines.map((l) => el("div", { text: l })));
    node.hidden = lines.length === 0;
  }

  function paramsText(params) {
    const entries = Object.entries(params || {});
    return entries.length ? entries.map(([k, v]) => `${k}=${fmt(v)}`).join(" ") : "engine defaults";
  }

  // Run fn at most once per `ms`; calls in between are folded into one trailing call.
  function throttle(fn, ms) {
    let timer = null, pending = false, last = 0;
    return function run() {
      const wait = last + ms - Date.now();
      if (wait <= 0 && !timer) {
        last = Date.now();
        fn();
      } else {
        pending = true;
        if (!timer) timer = setTimeout(() => { timer = null; if (pending) { pending = false; run(); } }, Math.max(wait, 0));
      }
    };
  }

  // fn after `ms` of quiet; .cancel() drops a pending call.
  function debounce(fn, ms) {
    let timer = null;
    const run = (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
    run.cancel = () => clearTimeout(timer);
    return run;
  }

  // Units: the API keeps seconds; the pages show latencies in ms (``units`` maps a metric to its
  // on-screen unit, from the server, the same table the CLI and the report use).
  function onScreen(units, metric, value) {
    if (typeof value !== "number" || !isFinite(value)) return null;
    return (units || {})[metric] === "ms" ? value * 1000 : value;
  }

  function metricLabel(units, metric) {
    const u = (units || {})[metric];
    return u ? `${metric} (${u})` : metric;
  }

  // The line of an error that says what happened (an out-of-memory line first), cut to `width`.
  function shortReason(error, width = 120) {
    const lines = (error || "").split("\n").map((l) => l.trim()).filter(Boolean);
    if (!lines.length) return "";
    const memory = lines.find((l) => /out of memory/i.test(l));
    let head = lines[0];
    if (memory && memory !== head) head = `${head.split(":")[0]}: ${memory}`;
    return head.length <= width ? head : head.slice(0, width - 1) + "…";
  }

  // An experiment by its number within the task ("#3"); database ids run across tasks.
  const expNo = (e) => (e && e.n ? `#${e.n}` : `id ${e ? e.id : "?"}`);

  return { api, problems, fmt, fmtTime, el, badge, setBadge, showProblems, paramsText, throttle, debounce,
    onScreen, metricLabel, shortReason, expNo };
})();
