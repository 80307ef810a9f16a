// mdclient: a small JavaScript client of the mdbridge WebSocket protocol (docs/protocol.md).
// An ES module with no dependencies, for browsers and Node (Node 22+ has a global WebSocket;
// Node 20 needs --experimental-websocket, or pass `WebSocket` from the `ws` package).
//
// What it does for you: the token as the `bearer.<token>` subprotocol; request ids and a
// promise per request; `batch` frames unpacked; a heartbeat watchdog; reconnect with full
// jitter (or after the server's `reconnect_after_ms` / `retry_after_ms`; never after a
// refused token, 4001/4003: `connect()` rejects with UNAUTHORIZED / FORBIDDEN); and on every
// reconnect each subscription resumes from the last seq and epoch it delivered, so the
// stream a handler sees has no gap and no duplicate.

const DATA_TYPES = new Set(["market_data", "kline_data", "trade_data", "depth_data"]);

/** An `error` frame answering a request, or a request that could not be answered. */
export class MdError extends Error {
  constructor(code, message, data = {}) {
    super(`${code}: ${message}`);
    this.name = "MdError";
    this.code = code;
    this.data = data;
  }
}

/** Full jitter: uniform in [0, min(maxMs, baseMs * 2^attempt)). */
export function backoffMs(attempt, baseMs, maxMs, random = Math.random) {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

function retryAfter(reason) {
  const match = /retry_after_ms=(\d+)/.exec(reason || "");
  return match ? Number(match[1]) : null;
}

export class MdClient {
  /**
   * @param {string} url ws:// or wss:// URL of /ws
   * @param {import("./mdclient").MdClientOptions} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.token = options.token || null;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    if (!this.WebSocket) throw new Error("no WebSocket: pass options.WebSocket (e.g. from 'ws')");
    this.reconnectBaseMs = options.reconnectBaseMs ?? 500;
    this.reconnectMaxMs = options.reconnectMaxMs ?? 15_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.heartbeatMisses = options.heartbeatMisses ?? 3;
    this.connectionId = null;
    this.epochs = {};
    this.limits = {};
    this.state = "idle"; // idle | connecting | open | closed
    this.reconnects = 0;
    this._listeners = new Map();
    this._subs = new Map(); // subscription_id -> {request, seq, epoch, handler}
    this._pending = new Map(); // request id -> {resolve, reject, timer}
    this._nextId = 1;
    this._attempt = 0;
    this._socket = null;
    this._watchdog = null;
    this._heartbeatMs = 15_000;
    this._lastFrameAt = 0;
    this._reconnectTimer = null;
    this._serverDelayMs = null;
    this._opened = null;
    this._everOpened = false;
  }

  /** Listen to `open`, `close`, `status`, `error`, `reconnecting`; returns an unsubscribe. */
  on(event, listener) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(listener);
    return () => this._listeners.get(event).delete(listener);
  }

  _emit(event, value) {
    for (const listener of this._listeners.get(event) || []) {
      try {
        listener(value);
      } catch (err) {
        if (event !== "error") this._emit("error", err);
      }
    }
  }

  /** Open the connection; resolves on the server's `status connected` (and authenticated). */
  connect() {
    if (this.state === "open") return Promise.resolve();
    if (this._opened) return this._opened.promise;
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this._opened = { promise, resolve, reject };
    this.state = "connecting";
    this._open();
    return promise;
  }

  _open() {
    const protocols = this.token ? [`bearer.${this.token}`] : [];
    let socket;
    try {
      socket = new this.WebSocket(this.url, protocols);
    } catch (err) {
      this._emit("error", err);
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    this._serverDelayMs = null;
    socket.onmessage = (event) => {
      if (socket !== this._socket) return;
      this._lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(typeof event.data === "string" ? event.data : String(event.data));
      } catch (err) {
        this._emit("error", err);
        return;
      }
      this._frame(frame);
    };
    socket.onclose = (event) => {
      if (socket !== this._socket) return;
      this._socket = null;
      this._stopWatchdog();
      const wasOpen = this.state === "open";
      this._failPending(new MdError("UNAVAILABLE", "connection closed"));
      this._emit("close", { code: event.code, reason: event.reason, wasOpen });
      if (this.state === "closed") return;
      if (event.code === 4001 || event.code === 4003) {
        // a refused token stays refused: retrying would only hammer the server
        const code = event.code === 4001 ? "UNAUTHORIZED" : "FORBIDDEN";
        const error = new MdError(code, event.reason || "token refused", { close_code: event.code });
        this.state = "closed";
        this._stopWatchdog();
        if (this._opened) {
          this._opened.reject(error);
          this._opened = null;
        }
        this._emit("error", error);
        return;
      }
      this.state = "connecting";
      const after = retryAfter(event.reason);
      if (after !== null) this._serverDelayMs = after;
      this._scheduleReconnect();
    };
    socket.onerror = () => {}; // a close event always follows; that is where we act
  }

  _scheduleReconnect() {
    const delay = this._serverDelayMs ?? backoffMs(this._attempt, this.reconnectBaseMs, this.reconnectMaxMs);
    this._attempt += 1;
    this._emit("reconnecting", { attempt: this._attempt, delayMs: delay });
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => {
      if (this.state !== "closed") this._open();
    }, delay);
  }

  _frame(frame) {
    if (frame.type === "batch") {
      for (const inner of frame.data || []) this._frame(inner);
      return;
    }
    if (DATA_TYPES.has(frame.type)) {
      const meta = frame.metadata || {};
      const sub = this._subs.get(meta.subscription_id);
      if (!sub) return;
      if (typeof meta.seq === "number") {
        if (sub.seq !== null && meta.seq <= sub.seq && !meta.snapshot) return; // seen: never twice
        sub.seq = Math.max(sub.seq ?? 0, meta.seq);
      }
      try {
        sub.handler(frame.data, meta, frame);
      } catch (err) {
        this._emit("error", err);
      }
      return;
    }
    const id = frame.id;
    if (id !== undefined && id !== null && this._pending.has(String(id))) {
      const pending = this._pending.get(String(id));
      this._pending.delete(String(id));
      clearTimeout(pending.timer);
      if (frame.type === "error") {
        const data = frame.data || {};
        pending.reject(new MdError(data.code || "INTERNAL", data.message || "", data));
      } else {
        pending.resolve(frame.data);
      }
      return;
    }
    if (frame.type === "status") this._status(frame.data || {});
    else if (frame.type === "error") {
      const data = frame.data || {};
      this._emit("error", new MdError(data.code || "INTERNAL", data.message || "", data));
    }
  }

  _status(data) {
    switch (data.event) {
      case "connected":
        this.connectionId = data.connection_id;
        this.epochs = data.epochs || {};
        this.limits = data.limits || {};
        this._heartbeatMs = (data.heartbeat_interval_s || 15) * 1000;
        this._startWatchdog();
        if (!(this.token && data.auth_required)) this._ready();
        break;
      case "authenticated":
        this._ready();
        break;
      case "recovered": {
        const sub = this._subs.get(data.subscription_id);
        if (sub && typeof data.seq === "number") {
          sub.seq = data.seq;
          if (data.epoch) sub.epoch = data.epoch;
        }
        break;
      }
      case "shutdown":
        if (typeof data.reconnect_after_ms === "number") this._serverDelayMs = data.reconnect_after_ms;
        break;
      case "subscription_ended":
        this._subs.delete(data.subscription_id);
        break;
      default:
        break;
    }
    this._emit("status", data);
  }

  async _ready() {
    // once per socket: a server may send `authenticated` even when it did not require it
    if (this._readySocket === this._socket) return;
    this._readySocket = this._socket;
    if (this._everOpened) this.reconnects += 1;
    this._everOpened = true;
    this.state = "open";
    this._attempt = 0;
    if (this._subs.size) {
      try {
        await this._resumeAll();
      } catch (err) {
        this._emit("error", err);
      }
    }
    if (this._opened) {
      this._opened.resolve();
      this._opened = null;
    }
    this._emit("open", { connectionId: this.connectionId, resumed: this._subs.size });
  }

  /** Subscribe again to everything held, each from the last seq it delivered (grouped). */
  async _resumeAll() {
    const groups = new Map();
    for (const [id, sub] of this._subs) {
      const { symbol, symbols, ...rest } = sub.request;
      const resume = sub.seq !== null && sub.epoch ? { seq: sub.seq, epoch: sub.epoch } : null;
      const key = JSON.stringify([rest, resume]);
      if (!groups.has(key)) groups.set(key, { rest, resume, symbols: [], ids: [] });
      groups.get(key).symbols.push(sub.symbol);
      groups.get(key).ids.push(id);
    }
    for (const { rest, resume, symbols, ids } of groups.values()) {
      const data = { ...rest, symbols };
      if (resume) data.resume_from = resume;
      const reply = await this.request("subscribe", data);
      // one answer per symbol, in request order: a refused one (a token that no longer
      // covers it, a symbol gone from the directory) is dropped and reported
      (reply.subscriptions || []).forEach((answer, i) => {
        if (answer.status === "error") {
          this._subs.delete(ids[i]);
          this._emit("error", new MdError(answer.code || "INTERNAL", `resume ${ids[i]}: ${answer.message || ""}`, answer));
          return;
        }
        const sub = answer.subscription_id && this._subs.get(answer.subscription_id);
        if (sub && answer.epoch) sub.epoch = answer.epoch;
        if (sub && sub.seq === null && typeof answer.seq === "number") sub.seq = answer.seq;
      });
    }
  }

  _startWatchdog() {
    this._stopWatchdog();
    this._lastFrameAt = Date.now();
    const budget = this._heartbeatMs * this.heartbeatMisses;
    this._watchdog = setInterval(() => {
      if (this._socket && Date.now() - this._lastFrameAt > budget) {
        this._emit("error", new MdError("UNAVAILABLE", `no frame for ${budget} ms: reconnecting`));
        this._socket.close(4000, "heartbeat missed");
        this._socket.onclose({ code: 1006, reason: "heartbeat missed" });
      }
    }, Math.min(1000, budget));
  }

  _stopWatchdog() {
    clearInterval(this._watchdog);
    this._watchdog = null;
  }

  _failPending(error) {
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this._pending.clear();
  }

  /** Send one request; resolves with the reply's `data`, rejects with an MdError. */
  request(type, data = {}) {
    if (!this._socket || this.state !== "open") {
      return Promise.reject(new MdError("UNAVAILABLE", "not connected"));
    }
    const id = `c${this._nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new MdError("UNAVAILABLE", `no reply to ${type} within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      this._socket.send(JSON.stringify({ type, id, data }));
    });
  }

  /**
   * Subscribe (`data` as in the protocol: symbol/symbols, data_type, frequency, ...); every
   * data message of the subscriptions made goes to `handler(payload, metadata, frame)`.
   * Resolves with the SubscriptionResponse list; entries with status `error` are not held.
   */
  async subscribe(data, handler) {
    const reply = await this.request("subscribe", data);
    const { symbol, symbols, resume_from, ...rest } = data;
    for (const answer of reply.subscriptions || []) {
      if (!answer.subscription_id || answer.status === "error") continue;
      const seq = typeof answer.seq === "number" ? answer.seq : null;
      const known = this._subs.get(answer.subscription_id);
      this._subs.set(answer.subscription_id, {
        request: rest,
        symbol: answer.symbol,
        seq: known ? known.seq : seq,
        epoch: answer.epoch || null,
        handler,
      });
    }
    return reply.subscriptions || [];
  }

  /** Stop subscriptions by id; resolves with the server's `{removed, not_found}`. */
  async unsubscribe(subscriptionIds) {
    for (const id of subscriptionIds) this._subs.delete(id);
    return this.request("unsubscribe", { subscription_ids: subscriptionIds });
  }

  /** Where each held subscription is: id -> {seq, epoch}. */
  positions() {
    const out = {};
    for (const [id, sub] of this._subs) out[id] = { seq: sub.seq, epoch: sub.epoch };
    return out;
  }

  /** Close for good (no reconnect). */
  close(code = 1000, reason = "client closed") {
    this.state = "closed";
    clearTimeout(this._reconnectTimer);
    this._stopWatchdog();
    this._failPending(new MdError("UNAVAILABLE", "client closed"));
    if (this._socket) this._socket.close(code, reason);
    this._socket = null;
  }
}
