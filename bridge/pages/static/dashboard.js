// The admin dashboard: polls /admin/stats once per monitor interval and redraws.
"use strict";

const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("mdbridge.adminToken") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("mdbridge.adminToken", tokenInput.value.trim());
});

let previousTop = new Map();
let previousAt = 0;
let polls = 0;

function setTile(id, value) {
  document.querySelector("#" + id + " .value").textContent = value;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, render, emptyText) {
  const body = document.querySelector("#" + id + " tbody");
  while (body.firstChild) body.removeChild(body.firstChild);
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = document.querySelectorAll("#" + id + " thead th").length;
    body.appendChild(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    render(tr, row);
    body.appendChild(tr);
  }
}

function timeOf(iso) {
  return iso ? iso.slice(11, 19) : "";
}

function render(stats) {
  const history = stats.history || [];
  const latest = history.length ? history[history.length - 1] : null;
  if (latest) {
    setTile("tile-connections", latest.connections);
    setTile("tile-subscriptions", latest.subscriptions);
    setTile("tile-mps", formatNumber(latest.messages_per_second));
    setTile("tile-nats", formatNumber(latest.nats_messages_per_second));
    setTile("tile-p50", latest.latency_p50_ms.toFixed(1));
    setTile("tile-p95", latest.latency_p95_ms.toFixed(1));
    setTile("tile-p99", latest.latency_p99_ms.toFixed(1));
    setTile("tile-cpu", latest.cpu_usage_percent.toFixed(1));
    setTile("tile-memory", latest.memory_usage_mb.toFixed(0));
    setTile("tile-errors", latest.error_rate_percent.toFixed(1));
  }
  const span = "last " + Math.round(history.length * stats.interval_s) + " s";
  const col = (key) => history.map((h) => h[key]);
  drawLines(document.getElementById("chart-mps"), document.getElementById("legend-mps"), [
    { name: "sent", color: "#3e8ed0", values: col("messages_per_second") },
    { name: "from NATS", color: "#f5a524", values: col("nats_messages_per_second") },
  ], { spanLabel: span });
  drawLines(document.getElementById("chart-latency"), document.getElementById("legend-latency"), [
    { name: "p50", color: "#30a46c", values: col("latency_p50_ms") },
    { name: "p95", color: "#f5a524", values: col("latency_p95_ms") },
    { name: "p99", color: "#e5484d", values: col("latency_p99_ms") },
  ], { spanLabel: span });
  drawLines(document.getElementById("chart-connections"), document.getElementById("legend-connections"), [
    { name: "connections", color: "#3e8ed0", values: col("connections") },
    { name: "subscriptions", color: "#8e6cd8", values: col("subscriptions") },
  ], { spanLabel: span });

  const elapsed = previousAt ? (stats.now_ms - previousAt) / 1000 : 0;
  const top = new Map();
  fillTable("top-symbols", stats.top_symbols, (tr, row) => {
    top.set(row.symbol, row.messages);
    const before = previousTop.get(row.symbol);
    const rate = elapsed > 0 && before !== undefined ? (row.messages - before) / elapsed : null;
    cell(tr, row.symbol);
    cell(tr, row.subscribers);
    cell(tr, row.messages);
    cell(tr, rate === null ? null : rate.toFixed(1));
  }, "no subscriptions yet");
  previousTop = top;
  previousAt = stats.now_ms;

  fillTable("sources", stats.sources, (tr, row) => {
    cell(tr, row.source);
    cell(tr, row.up ? "up" : "down (" + (row.event || "silent") + ")", row.up ? "left" : "left error");
    cell(tr, (row.status && row.status.phase) || "", "left");
    cell(tr, row.status && row.status.symbols);
    cell(tr, row.age_s.toFixed(1));
  }, "no source has reported on md.status yet");

  const quality = document.getElementById("quality");
  while (quality.firstChild) quality.removeChild(quality.firstChild);
  const q = stats.quality;
  const summary = document.createElement("div");
  summary.className = "status-line";
  summary.textContent = q.note || (q.reports.length + " report(s), " + q.findings.length + " recent finding(s) from " + q.source);
  quality.appendChild(summary);
  for (const entry of q.reports.slice(0, 4)) {
    const block = document.createElement("div");
    block.className = "report";
    const title = document.createElement("b");
    title.textContent = entry.subject + " · " + timeOf(entry.stored_at);
    block.appendChild(title);
    for (const [key, value] of Object.entries(entry.report).slice(0, 8)) {
      const line = document.createElement("div");
      line.textContent = key + ": " + (typeof value === "object" ? JSON.stringify(value) : String(value));
      block.appendChild(line);
    }
    quality.appendChild(block);
  }
  for (const finding of q.findings.slice(-8).reverse()) {
    const line = document.createElement("div");
    line.textContent = [timeOf(finding.timestamp), finding.symbol || "", finding.check || finding.type || "", finding.message || ""].join("  ");
    quality.appendChild(line);
  }

  const alertRows = stats.alerts.active.concat(stats.alerts.recent.filter((a) => a.state === "resolved").slice(0, 8));
  fillTable("alerts", alertRows, (tr, alert) => {
    cell(tr, alert.type);
    cell(tr, alert.severity, "left sev-" + alert.severity);
    cell(tr, alert.state, "left");
    cell(tr, alert.message, "left wrap");
    cell(tr, timeOf(alert.timestamp));
  }, "no alerts");

  fillTable("connections", stats.connections, (tr, c) => {
    cell(tr, c.connection_id);
    cell(tr, c.remote_address, "left");
    cell(tr, c.subscriptions);
    cell(tr, c.queue_messages);
    cell(tr, c.messages_out);
    cell(tr, c.errors);
    cell(tr, c.last_ping_rtt_ms);
  }, "no connections");
}

async function poll() {
  const badge = document.getElementById("updated");
  const token = (sessionStorage.getItem("mdbridge.adminToken") || "").trim();
  const headers = token ? { Authorization: "Bearer " + token } : {};
  let interval = 1000;
  try {
    const response = await fetch("/admin/stats", { headers, cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const stats = await response.json();
    interval = Math.max(250, stats.interval_s * 1000);
    render(stats);
    polls += 1;
    badge.dataset.polls = String(polls);
    badge.textContent = "updated " + new Date(stats.now_ms).toLocaleTimeString();
    badge.className = "pill ok";
    const status = await fetch("/admin/status", { headers, cache: "no-store" }).then((r) => r.json());
    const nats = document.getElementById("nats");
    nats.textContent = status.nats.connected ? "NATS connected" : "NATS disconnected";
    nats.className = "pill " + (status.nats.connected ? "ok" : "bad");
  } catch (err) {
    badge.textContent = "cannot load /admin/stats: " + err.message;
    badge.className = "pill bad";
  }
  setTimeout(poll, interval);
}

poll();
