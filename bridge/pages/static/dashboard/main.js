// The admin dashboard: polls /admin/stats once per monitor interval and redraws; admins can
// disconnect a connection (DELETE /admin/connections/{id}).

import { TimeChart } from "./charts.js";

const API = new URL("./", location.href).href; // "/dashboard" -> "/", "/md/dashboard" -> "/md/"
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("mdbridge.adminToken") || "";
tokenInput.addEventListener("change", () => sessionStorage.setItem("mdbridge.adminToken", tokenInput.value.trim()));

let polls = 0;
let previousTop = new Map();
let previousAt = 0;
const published = new Map(); // source -> {count, ms}: adapter rate from heartbeat counters
const adapterRates = new Map(); // at_ms -> msgs/s, for the chart

const charts = {
  mps: new TimeChart(document.getElementById("chart-mps"), [
    { label: "adapters publish", stroke: "#8e6cd8" },
    { label: "bridge reads from NATS", stroke: "#f5a524" },
    { label: "bridge sends to clients", stroke: "#3e8ed0" },
  ], "msgs/s"),
  latency: new TimeChart(document.getElementById("chart-latency"), [
    { label: "p50", stroke: "#30a46c" },
    { label: "p95", stroke: "#f5a524" },
    { label: "p99", stroke: "#e5484d" },
  ], "ms"),
  connections: new TimeChart(document.getElementById("chart-connections"), [
    { label: "connections", stroke: "#3e8ed0" },
    { label: "subscriptions", stroke: "#8e6cd8" },
  ], "count"),
};

function headers(extra = {}) {
  const token = (sessionStorage.getItem("mdbridge.adminToken") || "").trim();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : extra;
}

const fmt = (v, digits = 0) => (typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–");
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString("en-GB") : "–");

function ago(seconds) {
  if (seconds < 1) return "just now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function setTile(id, value) {
  document.querySelector(`#${id} .value`).textContent = value;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, render, emptyText) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
    body.appendChild(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    render(tr, row);
    body.appendChild(tr);
  }
}

function facts(pairs) {
  const dl = document.createElement("dl");
  dl.className = "facts";
  for (const [label, value, className] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    if (className) dd.className = className;
    dl.append(dt, dd);
  }
  return dl;
}

/** Adapters' publish rate: the growth of `published` in each source's heartbeats. */
function adapterRate(sources) {
  let total = null;
  for (const s of sources) {
    const status = s.status || {};
    if (typeof status.published !== "number" || !status.timestamp) continue;
    const ms = Date.parse(status.timestamp);
    const before = published.get(s.source);
    if (before && ms > before.ms) {
      const rate = ((status.published - before.count) * 1000) / (ms - before.ms);
      published.set(s.source, { count: status.published, ms, rate });
    } else if (!before) {
      published.set(s.source, { count: status.published, ms, rate: null });
    }
    const rate = published.get(s.source).rate;
    if (typeof rate === "number" && s.up) total = (total || 0) + rate;
  }
  return total;
}

function renderSources(sources) {
  const box = document.getElementById("sources");
  box.replaceChildren();
  if (!sources.length) {
    box.textContent = "No data source has reported on md.status yet.";
    box.className = "empty";
    return;
  }
  box.className = "";
  for (const s of sources) {
    const status = s.status || {};
    const div = document.createElement("div");
    div.className = "source";
    div.dataset.source = s.source;
    const h = document.createElement("h3");
    h.textContent = s.source;
    const rate = published.get(s.source)?.rate;
    div.append(
      h,
      facts([
        ["state", s.up ? "up — heartbeats arriving" : `down — ${status.reason || (s.event === "down" ? "the adapter said so" : "silent")}`, s.up ? "ok-text" : "error"],
        ["last heard", ago(s.age_s)],
        ["market phase", status.phase ? status.phase.replace(/_/g, " ") : "not reported"],
        ["symbols", typeof status.symbols === "number" ? fmt(status.symbols) : "not reported"],
        ["publishing", typeof rate === "number" ? `${fmt(rate, 0)} msgs/s (${fmt(status.published)} since it started)` : typeof status.published === "number" ? `${fmt(status.published)} since it started` : "not reported"],
        ["duplicates dropped", typeof status.duplicates === "number" ? fmt(status.duplicates) : "not reported"],
      ]),
    );
    box.appendChild(div);
  }
}

function renderQuality(q) {
  const box = document.getElementById("quality");
  box.replaceChildren();
  const latest = q.reports.find((r) => r.report && r.report.kind === "quality_report") || q.reports[0];
  if (!latest) {
    box.appendChild(facts([["monitor", q.note || "no report yet (is the quality monitor running?)"]]));
    return;
  }
  const r = latest.report;
  const active = Array.isArray(r.active) ? r.active : [];
  const counts = Object.entries(r.counts || {}).filter(([, n]) => n > 0);
  const pairs = [
    ["report", `${clock(r.generated_at || latest.stored_at)} from ${r.source || "the quality monitor"}`],
    ["market", r.phase ? `${r.phase.replace(/_/g, " ")}${r.trading === false ? " (not trading: staleness not checked)" : ""}` : "–"],
  ];
  if (typeof r.symbols === "number") pairs.push(["symbols seen", fmt(r.symbols)]);
  if (typeof r.symbols_checked === "number") pairs.push(["symbols checked", fmt(r.symbols_checked)]);
  if (typeof r.quotes === "number") pairs.push(["quotes checked", `${fmt(r.quotes)} since the monitor started`]);
  pairs.push(["problems now", counts.length ? counts.map(([k, n]) => `${n} ${k.replace(/_/g, " ")}`).join(", ") : "none", counts.length ? "error" : "ok-text"]);
  for (const [name, health] of Object.entries(r.sources || {})) {
    const words = [health.state || "unknown", `last seen ${clock(health.last_seen)}`];
    if (typeof health.received === "number" && health.received > 0) words.push(`${fmt(health.received)} received`);
    if (health.detail) words.push(health.detail);
    pairs.push([`source ${name}`, words.join(" · "), health.state === "up" ? "ok-text" : "error"]);
  }
  box.appendChild(facts(pairs));
  for (const finding of active.slice(0, 6).concat(q.findings.slice(-4).reverse())) {
    const line = document.createElement("div");
    line.className = "report";
    line.textContent = [clock(finding.timestamp), finding.symbol || "", (finding.kind || finding.check || "").replace(/_/g, " "), finding.message || ""].filter(Boolean).join(" · ");
    box.appendChild(line);
  }
}

async function disconnect(id, button) {
  if (!button.classList.contains("armed")) {
    button.classList.add("armed"); // a second click within 4 s confirms
    button.textContent = "confirm";
    setTimeout(() => {
      button.classList.remove("armed");
      button.textContent = "disconnect";
    }, 4000);
    return;
  }
  const say = document.getElementById("action-message");
  // a non-simple request (custom header, JSON type): the admin API refuses cross-site forms
  const response = await fetch(`${API}admin/connections/${encodeURIComponent(id)}?reason=${encodeURIComponent("closed from the dashboard")}`, {
    method: "DELETE",
    headers: headers({ "X-Requested-With": "mdbridge", "Content-Type": "application/json" }),
  });
  const body = await response.json().catch(() => ({}));
  say.textContent = response.ok ? `closed ${id} (code ${body.code})` : `could not close ${id}: ${body.detail || body.message || response.status}`;
  say.className = "status-line" + (response.ok ? "" : " error");
  say.dataset.closed = response.ok ? id : "";
  poll(false);
}

function render(stats) {
  const history = stats.history || [];
  const latest = history[history.length - 1];
  const adapters = adapterRate(stats.sources || []);
  if (latest) {
    adapterRates.set(latest.at_ms, adapters);
    setTile("tile-connections", fmt(latest.connections));
    setTile("tile-subscriptions", fmt(latest.subscriptions));
    setTile("tile-adapters", adapters === null ? "–" : fmt(adapters));
    setTile("tile-nats", fmt(latest.nats_messages_per_second));
    setTile("tile-mps", fmt(latest.messages_per_second));
    setTile("tile-p50", latest.latency_samples ? fmt(latest.latency_p50_ms, 1) : "no samples");
    setTile("tile-p99", latest.latency_samples ? fmt(latest.latency_p99_ms, 1) : "no samples");
    setTile("tile-cpu", fmt(latest.cpu_usage_percent, 1));
    setTile("tile-memory", fmt(latest.memory_usage_mb));
    setTile("tile-errors", fmt(latest.error_rate_percent, 1));
  }
  for (const at of adapterRates.keys()) if (!history.some((h) => h.at_ms === at)) adapterRates.delete(at);
  const x = history.map((h) => h.at_ms / 1000);
  const col = (key) => history.map((h) => h[key]);
  charts.mps.setData(x, [history.map((h) => adapterRates.get(h.at_ms) ?? null), col("nats_messages_per_second"), col("messages_per_second")]);
  charts.latency.setData(x, [col("latency_p50_ms"), col("latency_p95_ms"), col("latency_p99_ms")]);
  charts.connections.setData(x, [col("connections"), col("subscriptions")]);

  const elapsed = previousAt ? (stats.now_ms - previousAt) / 1000 : 0;
  const top = new Map();
  fillTable("top-symbols", stats.top_symbols, (tr, row) => {
    top.set(row.symbol, row.messages);
    const before = previousTop.get(row.symbol);
    cell(tr, row.symbol);
    cell(tr, row.subscribers);
    cell(tr, fmt(row.messages));
    cell(tr, elapsed > 0 && before !== undefined ? fmt((row.messages - before) / elapsed, 1) : null);
  }, "no client follows a symbol yet");
  previousTop = top;
  previousAt = stats.now_ms;

  renderSources(stats.sources || []);
  renderQuality(stats.quality);

  const alertRows = stats.alerts.active.concat(stats.alerts.recent.filter((a) => a.state === "resolved").slice(0, 8));
  fillTable("alerts", alertRows, (tr, alert) => {
    cell(tr, alert.type);
    cell(tr, alert.severity, `left sev-${alert.severity}`);
    cell(tr, alert.state, "left");
    cell(tr, alert.message, "left wrap");
    cell(tr, clock(alert.timestamp));
  }, "no alerts");

  // an armed disconnect button must survive the redraw: hold the table meanwhile
  if (document.querySelector("#connections button.armed")) return;
  fillTable("connections", stats.connections, (tr, c) => {
    tr.dataset.connection = c.connection_id;
    cell(tr, c.connection_id);
    cell(tr, c.remote_address, "left");
    cell(tr, c.user_agent ? c.user_agent.replace(/^Mozilla\/5\.0 \([^)]*\)\s*/, "").slice(0, 40) : c.subject, "left");
    cell(tr, clock(c.opened_at));
    cell(tr, c.subscriptions);
    cell(tr, c.queue_messages);
    cell(tr, fmt(c.messages_out));
    cell(tr, c.errors);
    cell(tr, typeof c.last_ping_rtt_ms === "number" ? fmt(c.last_ping_rtt_ms, 1) : null);
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.className = "danger";
    button.dataset.action = "disconnect";
    button.textContent = "disconnect";
    button.addEventListener("click", () => disconnect(c.connection_id, button));
    td.appendChild(button);
    tr.appendChild(td);
  }, "no connections");
}

let timer = null;
async function poll(schedule = true) {
  const badge = document.getElementById("updated");
  let interval = 1000;
  try {
    const response = await fetch(`${API}admin/stats`, { headers: headers(), cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const stats = await response.json();
    interval = Math.max(250, stats.interval_s * 1000);
    render(stats);
    polls += 1;
    badge.dataset.polls = String(polls);
    badge.textContent = `updated ${new Date(stats.now_ms).toLocaleTimeString("en-GB")}`;
    badge.className = "pill ok";
    const status = await fetch(`${API}admin/status`, { headers: headers(), cache: "no-store" }).then((r) => r.json());
    const nats = document.getElementById("nats");
    nats.textContent = status.nats.connected ? "NATS connected" : "NATS disconnected";
    nats.className = `pill ${status.nats.connected ? "ok" : "bad"}`;
  } catch (err) {
    badge.textContent = `cannot load admin/stats: ${err.message}`;
    badge.className = "pill bad";
  }
  if (schedule) {
    clearTimeout(timer);
    timer = setTimeout(poll, interval);
  }
}

poll();
