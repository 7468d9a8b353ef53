// A small YAML writer for JSON data (the new-task form writes the task file with it).
// Mappings are written in block style, lists of scalars in flow style ([a, b]).
"use strict";

const YamlEmit = (() => {
  const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;

  function scalar(v) {
    if (v === null || v === undefined) return "null";
    if (typeof v === "number") return isFinite(v) ? String(v) : JSON.stringify(String(v));
    if (typeof v === "boolean") return String(v);
    const s = String(v);
    const plain = /^[A-Za-z_./(][A-Za-z0-9_./()+\-]*$/.test(s) && !RESERVED.test(s);
    return plain ? s : JSON.stringify(s);
  }

  function key(k) {
    return /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
  }

  function isScalar(v) {
    return v === null || typeof v !== "object";
  }

  function flow(v) {
    if (isScalar(v)) return scalar(v);
    if (Array.isArray(v)) return "[" + v.map(flow).join(", ") + "]";
    return "{" + Object.entries(v).map(([k, x]) => `${key(k)}: ${flow(x)}`).join(", ") + "}";
  }

  function lines(value, indent) {
    const pad = " ".repeat(indent);
    const out = [];
    if (Array.isArray(value)) {
      for (const item of value) {
        if (isScalar(item) || Object.keys(item).length === 0) out.push(`${pad}- ${flow(item)}`);
        else if (Array.isArray(item)) out.push(`${pad}- ${flow(item)}`);
        else {
          const inner = lines(item, indent + 2);
          inner[0] = `${pad}- ` + inner[0].trimStart();
          out.push(...inner);
        }
      }
      return out;
    }
    for (const [k, v] of Object.entries(value)) {
      if (isScalar(v)) out.push(`${pad}${key(k)}: ${scalar(v)}`);
      else if (Array.isArray(v) && v.every((x) => isScalar(x) || Array.isArray(x))) out.push(`${pad}${key(k)}: ${flow(v)}`);
      else if (Object.keys(v).length === 0) out.push(`${pad}${key(k)}: ${Array.isArray(v) ? "[]" : "{}"}`);
      else {
        out.push(`${pad}${key(k)}:`);
        out.push(...lines(v, indent + 2));
      }
    }
    return out;
  }

  function dump(value) {
    if (isScalar(value)) return scalar(value) + "\n";
    return lines(value, 0).join("\n") + "\n";
  }

  return { dump, scalar };
})();
