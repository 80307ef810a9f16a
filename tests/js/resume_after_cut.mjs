// Driven by tests/test_jsclient.py: subscribe through mdclient, ask for the socket to be cut
// after CUT_AT messages, keep going to TOTAL, then print what arrived (subject, seq) as JSON.
import { MdClient } from "../../bridge/pages/static/lib/mdclient.js";

const [url, symbolsArg, cutAt, total] = process.argv.slice(2);
const symbols = symbolsArg.split(",");
const client = new MdClient(url, { reconnectBaseMs: 200, reconnectMaxMs: 1000 });
const received = [];
const errors = [];
let asked = false;
client.on("error", (err) => errors.push(String(err)));
client.on("reconnecting", (r) => console.log(JSON.stringify({ reconnecting: r })));

await client.connect();
let done;
const finished = new Promise((resolve) => (done = resolve));
const replies = await client.subscribe({ symbols, data_type: "quote", snapshot: false }, (payload, meta) => {
  received.push([meta.subject, meta.seq]);
  if (!asked && received.length >= Number(cutAt)) {
    asked = true;
    console.log(JSON.stringify({ cut: client.connectionId }));
  }
  if (received.length >= Number(total)) done();
});
console.log(JSON.stringify({ subscribed: replies.map((r) => [r.subject ?? r.symbol, r.seq, r.status]) }));
const timer = setTimeout(() => done(), 60_000);
await finished;
clearTimeout(timer);
console.log(JSON.stringify({ received, reconnects: client.reconnects, errors }));
client.close();
process.exit(0);
