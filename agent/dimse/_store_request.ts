/** One raw C-STORE request on an open association, answered or timed out. */
import type { ConduitNetwork } from "./_network.ts";
import type { OutgoingObject } from "./handlers.ts";

/** Sends a C-STORE on a network and resolves with the response status. */
export function sendStoreAndWait(
  network: ConduitNetwork,
  item: OutgoingObject,
  extra?: { moveOriginatorAet?: string; moveOriginatorMessageId?: number },
  timeoutMs = 120_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      network.socket.off("close", onClose);
      reject(new Error(`no C-STORE response within ${timeoutMs} ms`));
    }, timeoutMs);
    const onClose = () => {
      clearTimeout(timer);
      reject(new Error(network.closedBefore("the C-STORE response")));
    };
    network.socket.once("close", onClose);
    network.sendStore(item, extra).then((status) => {
      clearTimeout(timer);
      network.socket.off("close", onClose);
      resolve(status);
    }, (err) => {
      clearTimeout(timer);
      network.socket.off("close", onClose);
      reject(err);
    });
  });
}
