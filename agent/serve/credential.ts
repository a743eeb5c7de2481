/**
 * Credential rotation: the hub hands the agent a new site credential; the agent saves it durably in
 * place of its own (agent/tunnel/credential.ts) before it answers, and connects with it from then on.
 */
import { type Handlers, ok } from "./reply.ts";

export const credentialHandlers: Handlers = {
  async credential(s, request, channel) {
    if (!s.credential) throw new Error("this agent keeps no hub credential to replace");
    await s.credential.replace(request.credential);
    s.log.info("the hub rotated this site's credential; the new one is saved");
    await ok(channel, { saved: true });
  },
};
