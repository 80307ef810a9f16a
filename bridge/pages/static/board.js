// The live quote board: a browser client of /ws (PROTOCOL.md), reconnecting on its own.
"use strict";

const rows = new Map(); // symbol -> {tr, cells, last}
const subscribed = new Set();
let wanted = new Set(); // what the board shows; late quotes for anything else are ignored
let socket = null;
let requestId = 0;
let messages = 0;
let retryMs = 500;

const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("mdbridge.token") || "";
const symbolsInput = document.getElementById("symbols");
const params = new URLSearchParams(location.search);
symbolsInput.value = params.get("symbols") || localStorage.getItem("mdbridge.board") || "600000.SH, 000001.SZ, 600519.SH";

function say(text, isError) {
  const el = document.getElementById("message");
  el.textContent = text;
  el.className = "status-line" + (isError ? " error" : "");
}

function setConn(text, ok) {
  const el = document.getElementById("conn");
  el.textContent = text;
  el.className = "pill " + (ok ? "ok" : "bad");
}

function wantedSymbols() {
  return symbolsInput.value.split(/[\s,;]+/).map((s) => s.trim().toUpperCase()).filter(Boolean).slice(0, 100);
}

function rowFor(symbol) {
  let row = rows.get(symbol);
  if (row) return row;
  const tr = document.createElement("tr");
  tr.dataset.symbol = symbol;
  const cells = {};
  for (const key of ["symbol", "last", "change", "pct", "bid", "ask", "volume", "amount", "phase", "time", "seq", "note"]) {
    const td = document.createElement("td");
    td.dataset.field = key;
    if (key === "phase" || key === "note") td.className = "left";
    tr.appendChild(td);
    cells[key] = td;
  }
  cells.symbol.textContent = symbol;
  document.querySelector("#quotes tbody").appendChild(tr);
  row = { tr, cells, last: null };
  rows.set(symbol, row);
  return row;
}

function compact(value) {
  if (value >= 1e8) return (value / 1e8).toFixed(2) + "e8";
  if (value >= 1e6) return (value / 1e6).toFixed(2) + "M";
  if (value >= 1e3) return (value / 1e3).toFixed(1) + "k";
  return value.toFixed(0);
}

function fixed(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

function showQuote(quote, metadata) {
  const row = rowFor(quote.symbol);
  const c = row.cells;
  const direction = quote.change > 0 ? "up" : quote.change < 0 ? "down" : "";
  c.last.textContent = fixed(quote.last_price, 2);
  c.change.textContent = fixed(quote.change, 2);
  c.pct.textContent = fixed(quote.change_percent, 2);
  for (const key of ["last", "change", "pct"]) c[key].className = direction;
  c.bid.textContent = fixed(quote.bid_price, 2);
  c.ask.textContent = fixed(quote.ask_price, 2);
  c.volume.textContent = typeof quote.volume === "number" ? quote.volume.toLocaleString("en-US") : "–";
  c.amount.textContent = typeof quote.amount === "number" ? compact(quote.amount) : "–";
  c.phase.textContent = quote.phase || "";
  c.time.textContent = (quote.timestamp || "").slice(11, 23);
  c.seq.textContent = metadata ? metadata.seq : "";
  c.note.textContent = "";
  if (row.last !== null && row.last !== quote.last_price) {
    const cls = quote.last_price > row.last ? "flash-up" : "flash-down";
    row.tr.classList.remove("flash-up", "flash-down");
    void row.tr.offsetWidth; // restart the animation
    row.tr.classList.add(cls);
  }
  row.last = quote.last_price;
}

function send(type, data) {
  requestId += 1;
  socket.send(JSON.stringify({ type, id: "b" + requestId, data }));
}

function subscribe() {
  const symbols = wantedSymbols();
  if (!symbols.length || !socket || socket.readyState !== WebSocket.OPEN) return;
  localStorage.setItem("mdbridge.board", symbols.join(", "));
  wanted = new Set(symbols);
  const frequency = document.getElementById("frequency").value;
  const stale = [...subscribed].filter((id) => !id.startsWith("quote:") || !symbols.includes(id.split(":")[1]) || !id.endsWith(":" + frequency));
  if (stale.length) send("unsubscribe", { subscription_ids: stale });
  for (const symbol of [...rows.keys()]) {
    if (!symbols.includes(symbol)) {
      rows.get(symbol).tr.remove();
      rows.delete(symbol);
    }
  }
  for (const symbol of symbols) rowFor(symbol);
  send("subscribe", { symbols, data_type: "quote", frequency });
}

function handle(frame) {
  if (frame.type === "market_data") {
    messages += 1;
    if (wanted.has(frame.data.symbol)) showQuote(frame.data, frame.metadata);
  } else if (frame.type === "subscribe") {
    const problems = [];
    for (const r of frame.data.subscriptions) {
      if (r.status === "error") {
        const hint = r.suggestions && r.suggestions.length ? " (did you mean " + r.suggestions.join(", ") + "?)" : "";
        rowFor(r.symbol).cells.note.textContent = r.code + hint;
        problems.push(r.symbol + ": " + r.code + hint);
      } else if (r.subscription_id) {
        subscribed.add(r.subscription_id);
      }
    }
    say(problems.length ? problems.join("; ") : "subscribed to " + subscribed.size + " symbol(s)", problems.length > 0);
  } else if (frame.type === "unsubscribe") {
    for (const id of frame.data.removed) subscribed.delete(id);
  } else if (frame.type === "status") {
    const event = frame.data.event;
    if (event === "connected") {
      setConn("connected · " + frame.data.connection_id, true);
      subscribe();
    } else if (event === "source_down" || event === "source_up" || event === "slow_consumer" || event === "shutdown") {
      say("server: " + event, event !== "source_up");
    }
  } else if (frame.type === "error") {
    say(frame.data.code + ": " + frame.data.message, true);
  }
}

function connect() {
  const token = tokenInput.value.trim();
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  socket = token ? new WebSocket(url, ["bearer." + token]) : new WebSocket(url);
  setConn("connecting…", false);
  socket.onopen = () => { retryMs = 500; };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    const frames = frame.type === "batch" ? frame.data : [frame];
    for (const f of frames) handle(f);
    const counter = document.getElementById("counter");
    counter.dataset.messages = String(messages);
    counter.textContent = messages + " messages";
  };
  socket.onclose = (event) => {
    subscribed.clear();
    setConn("disconnected (" + event.code + "), retrying", false);
    const wait = Math.min(10000, retryMs) * (0.5 + Math.random() / 2);
    retryMs *= 2;
    setTimeout(connect, wait);
  };
}

document.getElementById("pick").addEventListener("submit", (event) => {
  event.preventDefault();
  subscribe();
});
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("mdbridge.token", tokenInput.value.trim());
  if (socket) socket.close();
});

connect();
