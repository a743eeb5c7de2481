/**
 * The shape of a site's request handlers, and how they answer. A handler gets the request of its own
 * operation and a channel that sends only the replies that operation may get (`OPERATIONS` in
 * shared/tunnel/messages.ts); it throws to answer with an error (serve.ts turns the error into the `error`
 * reply).
 */
import type { AskOp, Channel, DetailOf, Op, ReplyOf, RequestOf } from "@conduit/shared/tunnel";
import type { SiteServices } from "./services.ts";

export type { Op, RequestOf };

/** The channel of one request of operation `O`, as its handler answers on it. */
export interface Replies<O extends Op> {
  readonly stream: Channel["stream"];
  /** Sends one of the replies `O` may get. */
  send(reply: ReplyOf<O>): Promise<void>;
  sendBytes(data: Uint8Array): Promise<void>;
  next: Channel["next"];
  expect: Channel["expect"];
}

/** Answers one request of operation `O`; `signal` ends with the request's deadline or the hub's reset. */
export type Handler<O extends Op> = (
  services: SiteServices,
  request: RequestOf<O>,
  channel: Replies<O>,
  signal: AbortSignal,
) => Promise<void>;

/** Handlers by operation. */
export type Handlers = { [O in Op]?: Handler<O> };

/** Sends the `ok` reply of an operation answered by one, with its detail. */
export function ok<O extends AskOp>(channel: Replies<O>, detail: DetailOf<O>): Promise<void> {
  return channel.send({ type: "ok", detail } as ReplyOf<O>);
}
