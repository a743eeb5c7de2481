/**
 * `deno task agent route test FILE|DIR`: which routes each object would take under the
 * configuration, without a running agent and without sending anything.
 */
import * as fs from "node:fs";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { filesUnder, reportSkipped } from "./_files.ts";
import { instanceAttributes } from "@conduit/shared/dicom";
import { hashUid } from "@conduit/shared/log";
import { commandLineConfig, ConfigError } from "../config/load.ts";
import { compileRoutes, route, RouteConfigError } from "../routing/rules.ts";
import { loadProfile } from "../deid/load_profile.ts";
import { readFileHeader } from "../part10/header.ts";
import { routingFacts } from "../routing/facts.ts";
import { windowState } from "../routing/windows.ts";

const AGENT = commandOf("agent");

const USAGE =
  `usage: ${AGENT} route test FILE|DIR... [--config FILE] [--calling-aet AET] [--called-aet AET] [--json]`;

export async function routeCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent route", USAGE, args, {
    config: { type: "string" },
    "calling-aet": { type: "string", default: "" },
    "called-aet": { type: "string", default: "" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const [command, ...targets] = parsed.positionals;
  if (command !== "test" || targets.length === 0) {
    console.error(`agent route: give test and the files or folders to test\n${USAGE}`);
    return 2;
  }
  // A path that is not there is the command line's mistake (as `deid --in`), said before anything is tested:
  // it was "not a readable DICOM file: No such file or directory", exit code 1, among the results.
  const missing = targets.find((t) => !fs.existsSync(t));
  if (missing !== undefined) {
    console.error(`agent route: ${missing}: no such file or directory\n${USAGE}`);
    return 2;
  }
  let routes;
  try {
    const config = commandLineConfig(v, ["config"]);
    await loadProfile();
    routes = compileRoutes(config);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RouteConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  // A route with forwarding hours: whether they are open now, once (what it takes outside them waits).
  for (const r of routes) {
    const state = windowState(r);
    if (state && !v.json) console.error(`route ${r.name}${state}`);
  }
  let failures = 0;
  const found = targets.map((t) => filesUnder(t));
  reportSkipped("agent route", found.flatMap((f) => f.skipped));
  for (const file of found.flatMap((f) => f.files)) {
    try {
      const header = await readFileHeader(file);
      const attrs = instanceAttributes(header.bytes, header.dataset, header.header);
      const sender = { callingAet: v["calling-aet"]!, calledAet: v["called-aet"]! };
      const taken = route(routes, routingFacts(header, attrs, sender));
      if (v.json) {
        console.log(
          JSON.stringify({
            file,
            sop: hashUid(attrs.sopInstanceUid),
            modality: attrs.modality,
            routes: taken,
          }),
        );
      } else {
        const where = taken.length
          ? taken.map((t) =>
            `${t.route} -> ${t.destination}${t.deid ? " (de-identified)" : ""}${
              t.notBefore ? ` (held until ${new Date(t.notBefore).toISOString()})` : ""
            }`
          ).join(", ")
          : "(no route)";
        console.log(`${file}  ${attrs.modality || "?"}  ${where}`);
      }
    } catch (err) {
      failures++;
      console.error(`${file}: not a readable DICOM file: ${(err as Error).message}`);
    }
  }
  return failures ? 1 : 0;
}
