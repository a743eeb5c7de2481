/**
 * The agent's lazy parts (lazy_part.ts) by literal specifiers, for `deno compile` and the bundle, which
 * include what they see; `main_packaged.ts` installs them. From source `loadPart` names them by computed
 * URLs instead, which Deno does not load before they are taken.
 */
import type { PackagedParts } from "./lazy_part.ts";

export const PACKAGED_PARTS: PackagedParts = {
  "commitment/commitment": () => import("./commitment/commitment.ts"),
  "deid/engine": () => import("./deid/engine.ts"),
  "deid/profile": () => import("./deid/profile.ts"),
  "dimse/scp": () => import("./dimse/scp.ts"),
  "dimse/scu": () => import("./dimse/scu.ts"),
  "dimse/tls": () => import("./dimse/tls.ts"),
  "forward/commitment_requests": () => import("./forward/commitment_requests.ts"),
  "forward/remote": () => import("./forward/remote.ts"),
  "nodes/get_plan": () => import("./nodes/get_plan.ts"),
  "nodes/index_reads": () => import("./nodes/index_reads.ts"),
  "query/find": () => import("./query/find.ts"),
  "render/cache": () => import("./render/cache.ts"),
  "render/mod": () => import("./render/mod.ts"),
  "retrieve/locate_files": () => import("./retrieve/locate_files.ts"),
  "serve/serve": () => import("./serve/serve.ts"),
  "transcode/codec": () => import("./transcode/codec.ts"),
  "tunnel/credential": () => import("./tunnel/credential.ts"),
  "tunnel/enroll_command": () => import("./tunnel/enroll_command.ts"),
  "tunnel/start": () => import("./tunnel/start.ts"),
};
