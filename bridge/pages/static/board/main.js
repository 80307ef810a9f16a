// The quote board: search, watchlist, whole-market views, detail pane. It talks to /ws through
// the mdclient library (reconnect with jitter, resume from seq+epoch) and to the REST API.

import { MdClient } from "../lib/mdclient.js";
import { DetailPane } from "./detail.js";
import { VirtualGrid } from "./grid.js";
import { SymbolSearch } from "./search.js";
import {
  direction, getLang, money, percent, phaseName, price, setLang, signed, size, t, volume,
} from "./format.js";

const API = new URL("./", location.href).href; // "/board" -> "/", "/md/board" -> "/md/"
const WATCH_KEY = "mdbridge.watchlist";
const DEFAULT_WATCH = ["600000.SH", "000001.SZ", "600519.SH", "300750.SZ", "510300.SH", "000300.SH"];
const VIEWS = { SH: ["*.SH"], SZ: ["*.SZ"], all: ["*.SH", "*.SZ", "*.BJ"] };

const params = new URLSearchParams(location.search);
const records = new Map(); // symbol -> {symbol, info, quote}
let watchlist = loadWatchlist();
let view = params.get("view") || "watch";
let viewSubscriptions = [];
let watchSubscriptions = [];
let messages = 0;
let unit = localStorage.getItem("mdbridge.unit") || "lots";
let sortKey = null;
let sortDescending = true;
let orderDirty = true;
setLang(params.get("lang") || localStorage.getItem("mdbridge.lang") || "zh");

function loadWatchlist() {
  const fromUrl = params.get("symbols");
  if (fromUrl) return fromUrl.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
  try {
    const stored = JSON.parse(localStorage.getItem(WATCH_KEY) || "null");
    if (Array.isArray(stored)) return stored;
  } catch {
    /* a corrupt entry: start from the default */
  }
  return DEFAULT_WATCH;
}

function saveWatchlist() {
  localStorage.setItem(WATCH_KEY, JSON.stringify(watchlist));
}

function record(symbol) {
  let r = records.get(symbol);
  if (!r) {
    r = { symbol, info: null, quote: null };
    records.set(symbol, r);
  }
  return r;
}

function headers() {
  const token = sessionStorage.getItem("mdbridge.token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// -- the grid ---------------------------------------------------------------------------

const q = (r) => r.quote || {};
// index and fund rows (a directory `board` of index / etf / fund) carry a tag after the name
const KINDS = { index: ["指数", "index"], etf: ["ETF", "ETF"], fund: ["基金", "fund"] };
const nameOf = (r) => {
  if (!r.info) return "";
  const kind = KINDS[r.info.board];
  return kind ? `${r.info.name} · ${kind[getLang() === "zh" ? 0 : 1]}` : r.info.name;
};
const num = (v) => (typeof v === "number" ? v : -Infinity);
const COLUMNS = [
  { key: "code", label: () => t("code"), width: "96px", align: "left", cell: (r) => [r.symbol, "mono"], sortValue: (r) => r.symbol },
  { key: "name", label: () => t("name"), width: "110px", align: "left", cell: (r) => [nameOf(r), "name"], sortValue: (r) => (r.info ? r.info.name : "") },
  { key: "last", label: () => t("last"), cell: (r) => [price(q(r).last_price), direction(q(r).change)], sortValue: (r) => num(q(r).last_price),
    flash: (r, before, after) => Math.sign(Number(after) - Number(before)) || 0 },
  { key: "change", label: () => t("change"), cell: (r) => [signed(q(r).change), direction(q(r).change)], sortValue: (r) => num(q(r).change) },
  { key: "pct", label: () => t("pct"), cell: (r) => [percent(q(r).change_percent), direction(q(r).change)], sortValue: (r) => num(q(r).change_percent) },
  { key: "open", label: () => t("open"), cell: (r) => [price(q(r).open), direction(q(r).open - q(r).prev_close)], sortValue: (r) => num(q(r).open) },
  { key: "high", label: () => t("high"), cell: (r) => [price(q(r).high), direction(q(r).high - q(r).prev_close)], sortValue: (r) => num(q(r).high) },
  { key: "low", label: () => t("low"), cell: (r) => [price(q(r).low), direction(q(r).low - q(r).prev_close)], sortValue: (r) => num(q(r).low) },
  { key: "prev_close", label: () => t("prev_close"), cell: (r) => [price(q(r).prev_close ?? (r.info && r.info.prev_close))] },
  { key: "limits", label: () => t("limits"), width: "1.3fr", cell: (r) => {
      const up = q(r).limit_up ?? (r.info && r.info.limit_up);
      const down = q(r).limit_down ?? (r.info && r.info.limit_down);
      return [up ? `${price(up)}/${price(down)}` : "–", "muted"];
    } },
  { key: "volume", label: () => t(unit === "lots" ? "volume_lots" : "volume_shares"), width: "1.1fr", cell: (r) => [volume(q(r).volume, unit)], sortValue: (r) => num(q(r).volume) },
  { key: "amount", label: () => t("amount"), cell: (r) => [money(q(r).amount)], sortValue: (r) => num(q(r).amount) },
  { key: "bid1", label: () => t("bid1"), width: "1.3fr", cell: (r) => [q(r).bid_price ? `${price(q(r).bid_price)} ${size(q(r).bid_volume, unit)}` : "–", "up-soft"] },
  { key: "ask1", label: () => t("ask1"), width: "1.3fr", cell: (r) => [q(r).ask_price ? `${price(q(r).ask_price)} ${size(q(r).ask_volume, unit)}` : "–", "down-soft"] },
  { key: "phase", label: () => t("phase"), width: "1.1fr", align: "left", cell: (r) => [q(r).phase ? phaseName(q(r).phase) : "–"] },
  { key: "time", label: () => t("time"), width: "92px", cell: (r) => [(q(r).timestamp || "").slice(11, 19), "muted mono"] },
  { key: "seq", label: () => "seq", width: "70px", cell: (r) => [r.seq ? String(r.seq) : "", "muted mono"] },
];

const grid = new VirtualGrid(document.getElementById("grid"), COLUMNS, (key) => record(key), {
  onRowClick: (symbol) => openDetail(symbol),
  onSort: (key) => {
    if (sortKey === key) sortDescending = !sortDescending;
    else {
      sortKey = key;
      sortDescending = key !== "code" && key !== "name";
    }
    grid.sort = { key: sortKey, descending: sortDescending };
    grid.renderHead();
    orderDirty = true;
  },
});

function viewKeys() {
  if (view === "watch") return watchlist.slice();
  const markets = view === "all" ? ["SH", "SZ", "BJ"] : [view];
  const keys = [];
  for (const r of records.values()) {
    const market = r.symbol.slice(-2);
    if (markets.includes(market) && (r.info || r.quote)) keys.push(r.symbol);
  }
  return keys.sort();
}

function reorder() {
  orderDirty = false;
  let keys = viewKeys();
  if (sortKey) {
    const column = COLUMNS.find((c) => c.key === sortKey);
    const value = (k) => column.sortValue(record(k));
    keys = keys
      .map((k) => [value(k), k])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) * (sortDescending ? -1 : 1))
      .map((pair) => pair[1]);
  }
  grid.setKeys(keys);
  document.getElementById("view-info").textContent = `${keys.length} ${t("rows")}`;
}
// sorted views re-sort at most once a second: rows do not jump under the pointer on every tick
setInterval(() => {
  if (orderDirty) reorder();
}, 1000);

// -- the connection ------------------------------------------------------------------------

const wsUrl = API.replace(/^http/, "ws") + "ws";
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("mdbridge.token") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("mdbridge.token", tokenInput.value.trim());
  location.reload();
});
const client = new MdClient(wsUrl, { token: tokenInput.value.trim() || undefined });

function setConn(text, ok) {
  const el = document.getElementById("conn");
  el.textContent = text;
  el.className = "pill " + (ok ? "ok" : "bad");
}

function say(text, isError) {
  const el = document.getElementById("message");
  el.textContent = text;
  el.className = "status-line" + (isError ? " error" : "");
}

client.on("open", () => setConn(t("connected"), true));
client.on("close", () => setConn(t("reconnecting"), false));
client.on("status", (s) => {
  if (s.event === "source_down") say(`source ${s.source} down: ${s.reason || ""}`, true);
  if (s.event === "source_up") say(`source ${s.source} up`, false);
});
client.on("error", (err) => console.warn("mdclient", err));

const counter = document.getElementById("counter");
setInterval(() => {
  counter.dataset.messages = String(messages);
  counter.textContent = `${messages.toLocaleString()} ${t("messages")}`;
}, 250);

function onQuote(quote, meta) {
  messages += 1;
  const r = record(quote.symbol);
  const fresh = !r.quote;
  r.quote = quote;
  r.seq = meta.seq;
  if (fresh && view !== "watch") orderDirty = true;
  if (sortKey) orderDirty = true;
  grid.invalidate();
  if (detail.symbol === quote.symbol) detail.setQuote(quote);
}

async function subscribe(symbols) {
  const replies = [];
  for (let i = 0; i < symbols.length; i += 500) {
    replies.push(...(await client.subscribe({ symbols: symbols.slice(i, i + 500), data_type: "quote" }, onQuote)));
  }
  const failed = replies.filter((r) => r.status === "error");
  if (failed.length) {
    say(failed.map((r) => `${r.symbol}: ${r.code}${r.suggestions && r.suggestions.length ? " → " + r.suggestions.join(", ") : ""}`).join("; "), true);
  }
  return replies.filter((r) => r.subscription_id && r.status !== "error").map((r) => r.subscription_id);
}

async function unsubscribe(ids) {
  if (ids.length && client.state === "open") await client.unsubscribe(ids);
}

async function syncWatchlist() {
  const wanted = new Set(watchlist.map((s) => `quote:${s}:tick`));
  const stale = watchSubscriptions.filter((id) => !wanted.has(id));
  await unsubscribe(stale);
  const held = new Set(watchSubscriptions);
  const missing = watchlist.filter((s) => !held.has(`quote:${s}:tick`));
  watchSubscriptions = watchSubscriptions.filter((id) => wanted.has(id));
  if (missing.length) watchSubscriptions.push(...(await subscribe(missing)));
}

async function showView(name) {
  view = VIEWS[name] ? name : "watch";
  for (const b of document.querySelectorAll("#views button")) b.classList.toggle("active", b.dataset.view === view);
  await unsubscribe(viewSubscriptions);
  viewSubscriptions = [];
  if (view !== "watch") {
    if (view !== "watch") await loadDirectory();
    viewSubscriptions = await subscribe(VIEWS[view]);
  }
  grid.scrollToIndex(0);
  reorder();
}

document.getElementById("views").addEventListener("click", (event) => {
  const name = event.target.dataset.view;
  if (name) showView(name).catch((err) => say(String(err), true));
});

// -- the directory and the search box -----------------------------------------------------

let directoryLoaded = null;
function loadDirectory() {
  if (!directoryLoaded) {
    directoryLoaded = (async () => {
      const page = async (offset) => {
        const response = await fetch(`${API}v1/symbols?limit=500&offset=${offset}`, { headers: headers() });
        if (!response.ok) throw new Error(`directory: HTTP ${response.status}`);
        return response.json();
      };
      const first = await page(0);
      const rest = [];
      for (let offset = 500; offset < first.total; offset += 500) rest.push(page(offset));
      for (const body of [first, ...(await Promise.all(rest))]) {
        for (const info of body.items) record(info.symbol).info = info;
      }
      orderDirty = true;
      grid.invalidate();
    })().catch((err) => {
      directoryLoaded = null;
      say(String(err), true);
    });
  }
  return directoryLoaded;
}

async function loadInfos(symbols) {
  const unknown = symbols.filter((s) => !record(s).info && !s.startsWith("*"));
  await Promise.all(unknown.map(async (symbol) => {
    const response = await fetch(`${API}v1/symbols/${encodeURIComponent(symbol)}`, { headers: headers() });
    if (response.ok) record(symbol).info = await response.json();
  }));
  grid.invalidate();
}

const search = document.getElementById("search");
new SymbolSearch(search, document.getElementById("suggestions"), {
  api: API,
  headers,
  isWatched: (symbol) => watchlist.includes(symbol),
  onFound: (infos) => infos.forEach((info) => (record(info.symbol).info = info)),
  onError: (err) => say(String(err), true),
  onChoose: (info) => {
    if (!watchlist.includes(info.symbol)) {
      watchlist = [info.symbol, ...watchlist];
      saveWatchlist();
    }
    (view === "watch" ? syncWatchlist().then(reorder) : showView("watch").then(syncWatchlist))
      .then(() => openDetail(info.symbol))
      .catch((err) => say(String(err), true));
  },
});

// -- the detail pane, units and language ---------------------------------------------------

const detail = new DetailPane(document.getElementById("detail"), { client, apiBase: API, unit: () => unit });
// while the pane takes room, the grid drops what the pane shows anyway
const PANE_HIDES = ["open", "high", "low", "prev_close", "limits", "time", "seq"];
detail.onClose = () => {
  grid.selected = null;
  grid.setHiddenColumns([]);
};

const watchButton = document.getElementById("detail-watch");
function labelWatchButton() {
  const held = watchlist.includes(detail.symbol);
  watchButton.textContent = held ? `− ${t("remove")}` : `+ ${t("add")}`;
  watchButton.dataset.held = String(held);
}
watchButton.addEventListener("click", () => {
  const symbol = detail.symbol;
  if (!symbol) return;
  watchlist = watchlist.includes(symbol) ? watchlist.filter((s) => s !== symbol) : [symbol, ...watchlist];
  saveWatchlist();
  labelWatchButton();
  syncWatchlist()
    .then(() => view === "watch" && reorder())
    .catch((err) => say(String(err), true));
});

function openDetail(symbol) {
  grid.setHiddenColumns(PANE_HIDES);
  grid.selected = symbol;
  grid.invalidate();
  const r = record(symbol);
  detail.open(symbol, r.info).catch((err) => say(String(err), true));
  if (r.quote) detail.setQuote(r.quote);
  labelWatchButton();
}


const unitSelect = document.getElementById("unit");
unitSelect.value = unit;
unitSelect.addEventListener("change", () => {
  unit = unitSelect.value;
  localStorage.setItem("mdbridge.unit", unit);
  grid.renderHead();
  grid.invalidate();
  detail.renderDepth();
});

function applyLanguage() {
  document.documentElement.lang = getLang() === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").textContent = getLang() === "zh" ? "EN" : "中文";
  for (const el of document.querySelectorAll("[data-label]")) el.textContent = t(el.dataset.label);
  search.placeholder = t("search");
  unitSelect.options[0].textContent = t("unit_lots");
  unitSelect.options[1].textContent = t("unit_shares");
  grid.renderHead();
  grid.invalidate();
  if (detail.symbol) labelWatchButton();
}
document.getElementById("lang").addEventListener("click", () => {
  setLang(getLang() === "zh" ? "en" : "zh");
  localStorage.setItem("mdbridge.lang", getLang());
  applyLanguage();
});

// -- start ----------------------------------------------------------------------------------

async function start() {
  applyLanguage();
  setConn(t("connecting"), false);
  reorder();
  await client.connect();
  await loadInfos(watchlist);
  if (watchlist === DEFAULT_WATCH) watchlist = watchlist.filter((s) => record(s).info); // e.g. no index feed
  await syncWatchlist();
  await showView(view);
  if (params.get("detail")) openDetail(params.get("detail"));
}
// a handle for the console and the browser tests
window.mdboard = { client, grid, record, reorder, detail };
start().catch((err) => say(String(err), true));
