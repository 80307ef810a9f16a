// Compiled (not run) by tests/test_jsclient.py with `tsc --noEmit --strict`: a typed use of
// the JS client, so mdclient.d.ts stays valid and says what the code does.
import { MdClient, MdError, backoffMs } from "../../bridge/pages/static/lib/mdclient.js";
import type { DataMetadata, Payload, SubscriptionResponse } from "../../bridge/pages/static/lib/mdclient.js";

export async function use(url: string): Promise<number> {
  const client = new MdClient(url, { token: "t", reconnectBaseMs: 100, heartbeatMisses: 3 });
  const off = client.on("reconnecting", ({ attempt, delayMs }) => console.log(attempt, delayMs));
  client.on("status", (s) => console.log(s.event));
  await client.connect();
  const replies: SubscriptionResponse[] = await client.subscribe(
    { symbols: ["600000.SH"], data_type: "quote", resume_from: { seq: 1, epoch: "e" } },
    (payload: Payload, meta: DataMetadata) => console.log(payload.symbol, meta.seq),
  );
  try {
    await client.request("ping", { n: 1 });
  } catch (err) {
    if (err instanceof MdError) console.log(err.code, err.data);
  }
  const positions = client.positions();
  await client.unsubscribe(replies.flatMap((r) => (r.subscription_id ? [r.subscription_id] : [])));
  off();
  client.close();
  return backoffMs(client.reconnects, 100, 1000) + Object.keys(positions).length;
}
