/** The hub asks the site to erase a study, a series or an instance for good (agent/erase/erase.ts). */
import { ErasureRequestError, erasureTarget } from "../erase/erase.ts";
import { type Handlers, ok } from "./reply.ts";

export const eraseHandlers: Handlers = {
  async erase(s, request, channel) {
    const target = erasureTarget({
      study: request.studyInstanceUid,
      series: request.seriesInstanceUid,
      instance: request.sopInstanceUid,
    });
    if (typeof target === "string") throw new ErasureRequestError(target);
    await ok(channel, await s.eraser.erase(target));
  },
};
