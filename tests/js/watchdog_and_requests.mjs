// Driven by tests/test_jsclient.py: request ids with promises, an error reply as a rejection,
// then the heartbeat watchdog: the test freezes the network after FREEZE_AT messages; the
// client hears nothing, drops the socket, reconnects and resumes on its own.
import { MdClient, MdError, backoffMs } from "../../bridge/pages/static/lib/mdclient.js";

const [url, symbol, freezeAt, total] = process.argv.slice(2);
const out = (value) => console.log(JSON.stringify(value));

// full jitter: uniform in [0, min(max, base * 2^attempt))
const draws = Array.from({ length: 2000 }, () => backoffMs(3, 100, 10_000));
out({ jitter: { min: Math.min(...draws), max: Math.max(...draws), capped: backoffMs(20, 100, 10_000, () => 0.999999) } });

const client = new MdClient(url, { heartbeatMisses: 3, reconnectBaseMs: 100, reconnectMaxMs: 500 });
const watchdog = [];
client.on("error", (err) => watchdog.push(String(err.message)));
await client.connect();

const pongs = await Promise.all([1, 2, 3].map((n) => client.request("ping", { n })));
let rejected = null;
try {
  await client.request("modify", { subscription_id: "quote:none:tick", frequency: "1s" });
} catch (err) {
  rejected = { isMdError: err instanceof MdError, code: err.code };
}
out({ pongs, rejected });

const received = [];
let frozen = false;
let done;
const finished = new Promise((resolve) => (done = resolve));
await client.subscribe({ symbol, data_type: "quote", snapshot: false }, (payload, meta) => {
  received.push(meta.seq);
  if (!frozen && received.length >= Number(freezeAt)) {
    frozen = true;
    out({ freeze: client.connectionId });
  }
  if (received.length >= Number(total) && client.reconnects >= 1) done();
});
const timer = setTimeout(done, 60_000);
await finished;
clearTimeout(timer);
out({ received, reconnects: client.reconnects, watchdog });
client.close();
process.exit(0); // a socket left half-closed by a frozen network must not keep Node alive
