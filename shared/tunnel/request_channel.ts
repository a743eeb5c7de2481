/** The channel of one request: its replies read with the operation's own schema. */
import { Channel } from "./channel.ts";
import { type Op, repliesOf, type ReplyOf } from "./messages.ts";
import type { Stream } from "./stream.ts";

/** A channel whose first message was a request of operation `op`; `reply()` reads its next reply. */
export class RequestChannel<O extends Op> extends Channel {
  constructor(stream: Stream, readonly op: O) {
    super(stream);
  }

  /** The next reply, one that `op` may get (anything else resets the stream and throws ChannelError). */
  reply(): Promise<ReplyOf<O>> {
    return this.expect(repliesOf(this.op));
  }
}
