// console.js - the Weft web console (docs/console.md). Plain JavaScript, no
// libraries: signs on through /console/api/session (HTTP Basic, once), then
// polls /console/api/state every POLL_MS and draws the tables and the chart.
// Actions are POSTs carrying the session's CSRF token in X-Weft-CSRF.
"use strict";

const POLL_MS = 2000;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
  "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
let csrf = null;
let timer = null;

const $ = (id) => document.getElementById(id);

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, v] = part.trim().split("=");
    if (k === name) return v;
  }
  return null;
}

function say(text, error) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function api(method, path) {
  const headers = {};
  if (method !== "GET") headers["X-Weft-CSRF"] = csrf || "";
  const r = await fetch("/console/api/" + path, { method, headers, credentials: "same-origin" });
  let body = null;
  try { body = await r.json(); } catch (e) { body = { message: r.statusText }; }
  if (r.status === 401) { showSignon(); throw new Error(body.message); }
  if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
  return body;
}

// ---- Sign-on ---------------------------------------------------------------------------

function showSignon() {
  clearInterval(timer);
  timer = null;
  $("console").hidden = true;
  $("signoff").hidden = true;
  $("who").textContent = "";
  $("signon-panel").hidden = false;
}

function showConsole() {
  $("signon-panel").hidden = true;
  $("console").hidden = false;
  $("signoff").hidden = false;
  refresh();
  if (!timer) timer = setInterval(refresh, POLL_MS);
}

async function signon(ev) {
  ev.preventDefault();
  const user = $("user").value, pw = $("password").value;
  const auth = "Basic " + btoa(unescape(encodeURIComponent(user + ":" + pw)));
  const r = await fetch("/console/api/session",
    { method: "POST", headers: { Authorization: auth }, credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  $("password").value = "";
  if (!r.ok) {
    $("signon-panel").querySelector("p").textContent = body.message || ("HTTP " + r.status);
    return;
  }
  csrf = body.csrf;
  showConsole();
}

async function signoff() {
  try { await api("DELETE", "session"); } catch (e) { /* signed off anyway */ }
  csrf = null;
  showSignon();
}

// ---- Tables ----------------------------------------------------------------------------

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(td, label, data, onclick) {
  const b = document.createElement("button");
  b.textContent = label;
  for (const k in data) b.dataset[k] = data[k];
  b.addEventListener("click", onclick);
  td.appendChild(b);
  return b;
}

function fill(id, rows, row) {
  const tbody = $(id).tBodies[0];
  const out = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    row(tr, r);
    out.appendChild(tr);
  }
  tbody.replaceChildren(out);
}

const ms = (v) => v.toFixed(2);

async function act(path, what) {
  try {
    const r = await api("POST", path);
    say(r.action + ": done");
  } catch (e) {
    say(what + ": " + e.message, true);
  }
  refresh();
}

function render(s) {
  $("region").textContent = s.region + (s.stopping ? " (shutting down)" : "");
  $("who").textContent = "operator " + s.user;
  fill("enclaves", s.enclaves, (tr, e) => {
    tr.dataset.enclave = e.name;
    cell(tr, e.name, "text");
    cell(tr, e.importance);
    cell(tr, e.goal, "text");
    cell(tr, e.pi.toFixed(2), e.pi > 1 ? "bad" : "");
    cell(tr, e.band);
    cell(tr, e.active);
    cell(tr, e.completed);
    cell(tr, e.abended);
    cell(tr, ms(e.p50_ms));
    cell(tr, ms(e.p90_ms));
    cell(tr, ms(e.p99_ms));
    cell(tr, e.tps.toFixed(1));
  });
  fill("transactions", s.transactions, (tr, t) => {
    tr.dataset.tranid = t.tranid;
    cell(tr, t.tranid, "text");
    cell(tr, t.program, "text");
    cell(tr, t.enclave, "text");
    cell(tr, t.class || "-", "text");
    cell(tr, t.status, t.status);
    cell(tr, t.completed);
    cell(tr, t.abended);
    cell(tr, ms(t.p90_ms));
    const en = t.status === "enabled";
    button(cell(tr, ""), en ? "Disable" : "Enable", { tran: t.tranid, op: en ? "disable" : "enable" },
      () => act("tran/" + encodeURIComponent(t.tranid) + "/" + (en ? "disable" : "enable"),
        t.tranid));
  });
  fill("programs", s.programs, (tr, p) => {
    cell(tr, p.name, "text");
    cell(tr, p.module, "text");
    cell(tr, p.symbol, "text");
    cell(tr, p.status, p.status);
    const en = p.status === "enabled";
    button(cell(tr, ""), en ? "Disable" : "Enable", { prog: p.name, op: en ? "disable" : "enable" },
      () => act("prog/" + encodeURIComponent(p.name) + "/" + (en ? "disable" : "enable"), p.name));
  });
  fill("classes", s.classes, (tr, c) => {
    cell(tr, c.name, "text");
    cell(tr, c.max_active);
    cell(tr, c.active);
    cell(tr, c.queued);
    cell(tr, c.purge_threshold || "-");
    cell(tr, c.rejected);
    const td = cell(tr, "");
    const input = document.createElement("input");
    input.className = "max";
    input.type = "number";
    input.min = "0";
    input.value = c.max_active;
    td.appendChild(input);
    button(td, "Set", { klass: c.name }, () =>
      act("class/" + encodeURIComponent(c.name) + "/maxactive/" + encodeURIComponent(input.value),
        c.name));
  });
  $("task-count").textContent = "(" + s.tasks_total + ")";
  fill("tasks", s.tasks, (tr, t) => {
    cell(tr, t.task, "text");
    cell(tr, t.tranid, "text");
    cell(tr, t.enclave, "text");
    cell(tr, t.terminal || "-", "text");
    cell(tr, t.user || "-", "text");
    cell(tr, t.state, "text");
    cell(tr, t.wait || "-", "text");
    cell(tr, t.priority);
    cell(tr, t.age_ms);
    button(cell(tr, ""), "Purge", { task: t.task }, () => {
      if (confirm("Purge task " + t.task + " (" + t.tranid + ")? It abends AEXY."))
        act("task/" + t.task + "/purge", "task " + t.task);
    });
  });
  const ul = $("terminals");
  ul.replaceChildren(...s.terminals.map((line) => {
    const li = document.createElement("li");
    li.textContent = line;
    return li;
  }));
  if (!s.terminals.length) ul.textContent = "no terminal sessions";
  chart(s.chart);
}

// ---- The chart: p90 per enclave over the samples (canvas) ------------------------------

function chart(c) {
  const cv = $("chart"), g = cv.getContext("2d");
  const W = cv.width, H = cv.height, L = 56, R = 10, T = 10, B = 24;
  g.clearRect(0, 0, W, H);
  const span = 300; // seconds shown
  let max = 1;
  const used = c.enclaves.map((_, i) => c.samples.some((s) => s.tps[i] > 0 || s.p90[i] > 0));
  for (const s of c.samples) s.p90.forEach((v, i) => { if (used[i] && v > max) max = v; });
  max = niceMax(max);
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#dde1e6";
  g.fillStyle = "#555";
  for (let k = 0; k <= 4; k++) {
    const y = T + (H - T - B) * (1 - k / 4);
    g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke();
    g.fillText((max * k / 4).toFixed(max < 4 ? 1 : 0) + " ms", 4, y + 4);
  }
  for (let a = 0; a <= span; a += 60) {
    const x = W - R - (W - L - R) * a / span;
    g.fillText(a === 0 ? "now" : "-" + a / 60 + " min", x - 14, H - 6);
  }
  const legend = $("legend");
  legend.replaceChildren();
  c.enclaves.forEach((name, i) => {
    if (!used[i]) return;
    const color = COLORS[i % COLORS.length];
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    for (const s of c.samples) {
      if (s.age_s > span) continue;
      const x = W - R - (W - L - R) * s.age_s / span;
      const y = T + (H - T - B) * (1 - Math.min(s.p90[i], max) / max);
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    }
    g.stroke();
    g.lineWidth = 1;
    const span_ = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = color;
    span_.append(sw, name);
    legend.appendChild(span_);
  });
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- Polling -----------------------------------------------------------------------------

async function refresh() {
  try {
    render(await api("GET", "state"));
  } catch (e) {
    if (!$("console").hidden) say("cannot read the region's state: " + e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signon").addEventListener("submit", signon);
  $("signoff").addEventListener("click", signoff);
  csrf = cookie("weft_csrf");
  if (csrf) showConsole(); else showSignon();
});
