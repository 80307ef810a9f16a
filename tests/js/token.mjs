// Driven by tests/test_jsclient.py against a bridge with auth on: a good token connects (as the
// bearer.<token> subprotocol) and subscribes; a refused one rejects connect() and is not retried.
import { MdClient, MdError } from "../../bridge/pages/static/lib/mdclient.js";

const [url, good, bad, symbol] = process.argv.slice(2);
const out = {};

const client = new MdClient(url, { token: good });
const statuses = [];
client.on("status", (s) => statuses.push(s.event));
await client.connect();
const replies = await client.subscribe({ symbol, data_type: "quote" }, () => {});
out.good = { statuses, subscribed: replies.map((r) => r.status) };
client.close();

const refused = new MdClient(url, { token: bad, reconnectBaseMs: 50 });
let retries = 0;
refused.on("reconnecting", () => (retries += 1));
try {
  await refused.connect();
  out.bad = { connected: true };
} catch (err) {
  await new Promise((resolve) => setTimeout(resolve, 1000)); // would it try again?
  out.bad = { isMdError: err instanceof MdError, code: err.code, retries, state: refused.state };
}
console.log(JSON.stringify(out));
process.exit(0);
