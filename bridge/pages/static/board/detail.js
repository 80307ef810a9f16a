// The detail pane: a 5/10-level order book and a candlestick chart with volume
// (TradingView lightweight-charts, vendored): history from REST /v1/klines, then live bars.

import { direction, percent, price, signed, size, t, phaseName, money, volume } from "./format.js";

const SHANGHAI_S = 8 * 3600; // the chart draws UTC: shift so its axis reads Shanghai time
const UP = "#e5484d";
const DOWN = "#30a46c";

function barOf(k) {
  const time = Math.floor(Date.parse(k.timestamp) / 1000) + SHANGHAI_S;
  return { time, open: k.open, high: k.high, low: k.low, close: k.close, volume: k.volume };
}

export class DetailPane {
  constructor(root, { client, apiBase, unit }) {
    this.root = root;
    this.client = client;
    this.apiBase = apiBase;
    this.unit = unit;
    this.symbol = null;
    this.period = "1m";
    this.levels = 5;
    this.subscriptions = [];
    this.bars = new Map(); // time -> bar
    this.live = 0;
    this.quote = null;
    this.book = null;
    this.generation = 0;
    this.el = {
      title: root.querySelector("#detail-title"),
      summary: root.querySelector("#detail-summary"),
      depth: root.querySelector("#depth tbody"),
      chart: root.querySelector("#chart"),
      periods: root.querySelector("#periods"),
      levels: root.querySelector("#levels"),
    };
    this.el.periods.addEventListener("click", (event) => {
      const period = event.target.dataset.period;
      if (period && period !== this.period) {
        this.period = period;
        this.open(this.symbol, this.info);
      }
    });
    this.el.levels.addEventListener("change", () => {
      this.levels = Number(this.el.levels.value);
      this.renderDepth();
    });
    root.querySelector("#detail-close").addEventListener("click", () => this.close());
  }

  _chart() {
    if (this.chart) return;
    const LWC = window.LightweightCharts;
    this.chart = LWC.createChart(this.el.chart, {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#182029" },
        textColor: "#b7c2cf",
        fontFamily: getComputedStyle(document.body).fontFamily,
        attributionLogo: true, // TradingView's attribution, as its licence asks
      },
      grid: { vertLines: { color: "#222c37" }, horzLines: { color: "#222c37" } },
      // a fixed bar width, new bars pushing the view left: a fresh stream's few bars stay
      // candle-sized at the right instead of being stretched across the pane
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3542", barSpacing: 9, rightOffset: 4 },
      rightPriceScale: { borderColor: "#2a3542" },
      localization: { locale: document.documentElement.lang || "zh-CN" },
    });
    this.candles = this.chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN,
      wickUpColor: UP, wickDownColor: DOWN,
    });
    this.volumes = this.chart.addSeries(LWC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "",
    });
    this.volumes.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
  }

  async open(symbol, info) {
    const generation = ++this.generation;
    await this._unsubscribe();
    this.symbol = symbol;
    this.info = info;
    this.root.hidden = false;
    this.root.dataset.symbol = symbol;
    this.bars.clear();
    this.live = 0;
    this.book = null;
    this.el.chart.dataset.bars = "0";
    this.el.chart.dataset.live = "0";
    delete this.el.chart.dataset.history; // set when this period's history has loaded
    this.el.chart.dataset.period = this.period;
    for (const b of this.el.periods.querySelectorAll("button")) b.classList.toggle("active", b.dataset.period === this.period);
    this.el.title.textContent = `${info ? info.name : ""} ${symbol}`;
    this._chart();
    this.candles.setData([]);
    this.volumes.setData([]);
    this.renderDepth();
    // history first, then live bars: a live bar for the same time replaces the stored one
    try {
      const url = `${this.apiBase}v1/klines/${encodeURIComponent(symbol)}?period=${this.period}&limit=500`;
      const response = await fetch(url, { headers: this._headers() });
      if (response.ok) {
        const body = await response.json();
        if (generation !== this.generation) return;
        for (const item of body.items || []) {
          const bar = barOf(item.data);
          this.bars.set(bar.time, bar);
        }
        this._setAll();
      }
    } catch (err) {
      console.warn("kline history", err);
    }
    if (generation !== this.generation) return;
    const onBar = (k) => {
      if (k.symbol !== this.symbol || k.period !== this.period) return;
      const bar = barOf(k);
      const last = this._lastTime();
      if (last !== null && bar.time < last) return; // an older version: history has it
      this.bars.set(bar.time, bar);
      this.live += 1;
      this.candles.update(bar);
      this.volumes.update({ time: bar.time, value: bar.volume, color: bar.close >= bar.open ? UP : DOWN });
      this.el.chart.dataset.bars = String(this.bars.size);
      this.el.chart.dataset.live = String(this.live);
    };
    const onDepth = (d) => {
      if (d.symbol !== this.symbol) return;
      this.book = d;
      this.renderDepth();
    };
    try {
      const kl = await this.client.subscribe({ symbol, data_type: "kline", frequency: this.period }, onBar);
      const dp = await this.client.subscribe({ symbol, data_type: "depth" }, onDepth);
      this.subscriptions = [...kl, ...dp].filter((s) => s.subscription_id && s.status !== "error").map((s) => s.subscription_id);
      if (generation !== this.generation) await this._unsubscribe();
    } catch (err) {
      console.warn("detail subscribe", err);
    }
  }

  _headers() {
    const token = sessionStorage.getItem("mdbridge.token");
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  _lastTime() {
    let last = null;
    for (const time of this.bars.keys()) if (last === null || time > last) last = time;
    return last;
  }

  _setAll() {
    const bars = [...this.bars.values()].sort((a, b) => a.time - b.time);
    this.candles.setData(bars);
    this.volumes.setData(bars.map((b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? UP : DOWN })));
    if (bars.length > 60) this.chart.timeScale().fitContent();
    else this.chart.timeScale().scrollToRealTime();
    this.el.chart.dataset.bars = String(bars.length);
    this.el.chart.dataset.history = String(bars.length);
  }

  async _unsubscribe() {
    const ids = this.subscriptions;
    this.subscriptions = [];
    if (ids.length && this.client.state === "open") {
      try {
        await this.client.unsubscribe(ids);
      } catch (err) {
        console.warn("detail unsubscribe", err);
      }
    }
  }

  async close() {
    this.generation += 1;
    this.root.hidden = true;
    this.symbol = null;
    await this._unsubscribe();
    if (this.onClose) this.onClose();
  }

  /** The quote of the open symbol (the summary, and the book until depth arrives). */
  setQuote(quote) {
    this.quote = quote;
    const q = quote;
    const cls = direction(q.change);
    this.el.summary.innerHTML = "";
    const items = [
      [t("last"), price(q.last_price), cls], [t("change"), signed(q.change), cls],
      [t("pct"), percent(q.change_percent), cls], [t("open"), price(q.open)],
      [t("high"), price(q.high)], [t("low"), price(q.low)], [t("prev_close"), price(q.prev_close)],
      [t("limits"), `${price(q.limit_up)} / ${price(q.limit_down)}`],
      [this.unit() === "lots" ? t("volume_lots") : t("volume_shares"), volume(q.volume, this.unit())],
      [t("amount"), money(q.amount)], [t("phase"), phaseName(q.phase)],
    ];
    for (const [label, value, c] of items) {
      const div = document.createElement("div");
      const l = document.createElement("span");
      l.className = "muted";
      l.textContent = label;
      const v = document.createElement("b");
      v.textContent = value;
      if (c) v.className = c;
      div.append(l, v);
      this.el.summary.appendChild(div);
    }
    if (!this.book) this.renderDepth();
  }

  renderDepth() {
    const source = this.book || (this.quote && this.quote.symbol === this.symbol ? this.quote : null);
    const bids = (source && source.bids) || [];
    const asks = (source && source.asks) || [];
    const n = this.levels;
    const prev = this.quote ? this.quote.prev_close : null;
    const most = Math.max(1, ...bids.slice(0, n).map((l) => l[1]), ...asks.slice(0, n).map((l) => l[1]));
    const rows = [];
    for (let i = n - 1; i >= 0; i--) rows.push(["ask", i, asks[i]]);
    for (let i = 0; i < n; i++) rows.push(["bid", i, bids[i]]);
    this.el.depth.replaceChildren();
    const unit = this.unit();
    for (const [side, i, level] of rows) {
      const tr = document.createElement("tr");
      tr.dataset.side = side;
      tr.dataset.level = String(i + 1);
      const name = document.createElement("td");
      name.textContent = `${t(side === "ask" ? "asks" : "bids")}${i + 1}`;
      const p = document.createElement("td");
      p.dataset.field = "price";
      p.textContent = level ? price(level[0]) : "–";
      if (level && prev) p.className = direction(level[0] - prev);
      const s = document.createElement("td");
      s.dataset.field = "size";
      s.textContent = level ? size(level[1], unit) : "";
      const bar = document.createElement("td");
      bar.className = "depth-bar";
      const fill = document.createElement("span");
      fill.className = side;
      fill.style.width = level ? `${Math.round((level[1] / most) * 100)}%` : "0";
      bar.appendChild(fill);
      tr.append(name, p, s, bar);
      this.el.depth.appendChild(tr);
    }
    this.root.querySelector("#depth").dataset.levels = String(Math.max(bids.length, asks.length));
  }
}
