// deno-lint-ignore-file no-explicit-any
/** One raw C-STORE request on an open association, answered or timed out. */
import { requests } from "./_library.ts";
import { RawFileDataset } from "./raw_dataset.ts";
import type { OutgoingObject } from "./handlers.ts";

/** Sends a C-STORE on a network and resolves with the response status. */
export function sendStoreAndWait(
  network: any,
  item: OutgoingObject,
  extra?: { moveOriginatorAet?: string; moveOriginatorMessageId?: number },
  timeoutMs = 120_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = new requests.CStoreRequest(new RawFileDataset(item));
    if (extra?.moveOriginatorAet) {
      const cmd = request.getCommandDataset();
      cmd.setElement("MoveOriginatorApplicationEntityTitle", extra.moveOriginatorAet);
      cmd.setElement("MoveOriginatorMessageID", extra.moveOriginatorMessageId);
    }
    const timer = setTimeout(() => {
      reject(new Error(`no C-STORE response within ${timeoutMs} ms`));
    }, timeoutMs);
    const onClose = () => {
      clearTimeout(timer);
      reject(new Error("association closed before the C-STORE response"));
    };
    network.socket.once("close", onClose);
    request.on("response", (rsp: any) => {
      clearTimeout(timer);
      network.socket.off("close", onClose);
      resolve(rsp.getStatus());
    });
    network.sendRequests(request);
  });
}
