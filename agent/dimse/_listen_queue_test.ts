import assert from "node:assert/strict";
import { acceptQueue, readAcceptQueue } from "./_listen_queue.ts";

const TABLE =
  `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2AF8 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:2AF8 0100007F:D2B4 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1
   2: 00000000:2AF9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 100 0 0 10 0
`;

Deno.test("acceptQueue() reads a LISTEN socket's rx_queue on the port, not its connections' nor other ports'", () => {
  assert.equal(acceptQueue(TABLE, 11000), 3);
  assert.equal(acceptQueue(TABLE, 11001), 0);
  assert.equal(acceptQueue(TABLE, 11002), 0);
});

Deno.test("readAcceptQueue() counts a connection that no one accepts on a real listener", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    assert.equal(readAcceptQueue(port), 1);
    (await listener.accept()).close();
    assert.equal(readAcceptQueue(port), 0);
  } finally {
    conn.close();
    listener.close();
  }
});
