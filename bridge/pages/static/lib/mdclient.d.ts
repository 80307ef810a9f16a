// Types of mdclient.js: the mdbridge WebSocket client (docs/client.md, docs/protocol.md).

export interface MdClientOptions {
  /** JWT sent as the `bearer.<token>` subprotocol (when the server has auth on). */
  token?: string;
  /** A WebSocket constructor; default `globalThis.WebSocket` (browsers, Node 22+). */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
  /** Full-jitter backoff: uniform in [0, min(max, base * 2^attempt)) ms. Defaults 500 / 15000. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** A request without a reply in this long rejects (default 10000 ms). */
  requestTimeoutMs?: number;
  /** Reconnect after this many heartbeat intervals without any frame (default 3). */
  heartbeatMisses?: number;
}

export type DataType = "quote" | "kline" | "trade" | "depth";

export interface SubscribeRequest {
  symbol?: string;
  symbols?: string[];
  data_type?: DataType;
  frequency?: string;
  filters?: { fields: string[] };
  snapshot?: boolean;
  batch?: boolean;
  resume_from?: { seq: number; epoch: string };
}

export interface SubscriptionResponse {
  subscription_id: string | null;
  status: "subscribed" | "already_subscribed" | "modified" | "error";
  message: string;
  symbol: string;
  data_type: DataType;
  frequency: string;
  epoch?: string;
  seq?: number;
  code?: string;
  suggestions?: string[];
}

export interface DataMetadata {
  subscription_id: string;
  subject: string;
  seq: number;
  broker_ms?: number;
  snapshot?: boolean;
  delivered?: number;
  [key: string]: unknown;
}

export type Payload = Record<string, unknown> & { symbol: string; timestamp: string };
export type DataHandler = (payload: Payload, metadata: DataMetadata, frame: Record<string, unknown>) => void;

export interface StatusData {
  event: string;
  [key: string]: unknown;
}

export interface MdClientEvents {
  open: { connectionId: string | null; resumed: number };
  close: { code: number; reason: string; wasOpen: boolean };
  status: StatusData;
  error: Error;
  reconnecting: { attempt: number; delayMs: number };
}

export declare class MdError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;
  constructor(code: string, message: string, data?: Record<string, unknown>);
}

export declare function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random?: () => number,
): number;

export declare class MdClient {
  constructor(url: string, options?: MdClientOptions);
  readonly url: string;
  /** From `status connected`. */
  readonly connectionId: string | null;
  readonly epochs: Record<string, string>;
  readonly limits: Record<string, unknown>;
  readonly state: "idle" | "connecting" | "open" | "closed";
  /** How many times the connection was re-established. */
  readonly reconnects: number;
  on<E extends keyof MdClientEvents>(event: E, listener: (value: MdClientEvents[E]) => void): () => void;
  /** Resolves on `status connected` (and `authenticated` with a token); rejects with an
   *  MdError UNAUTHORIZED / FORBIDDEN when the token is refused (never retried). */
  connect(): Promise<void>;
  /** Rejects with an MdError: the `error` reply, a timeout, or UNAVAILABLE when not connected. */
  request<T = Record<string, unknown>>(type: string, data?: Record<string, unknown>): Promise<T>;
  subscribe(data: SubscribeRequest, handler: DataHandler): Promise<SubscriptionResponse[]>;
  unsubscribe(subscriptionIds: string[]): Promise<{ removed: string[]; not_found: string[] }>;
  positions(): Record<string, { seq: number | null; epoch: string | null }>;
  close(code?: number, reason?: string): void;
}
