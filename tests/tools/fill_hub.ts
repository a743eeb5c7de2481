/**
 * Fills a hub database to a year of a central team's work (tests/support/hub_scale.ts), for measuring the
 * hub on it: `deno run -A tests/tools/fill_hub.ts --data DIR` (the libsql file DIR/hub.db) or
 * `--db postgres://...` (an empty database), `--scale 0.1` for a tenth. Prints one JSON object: the
 * counts, the big job's and the big batch's ids, a live console session of `user-001` (admin), and how
 * long it took. Then `deno task hub --data DIR` (or `--db URL`) serves it.
 */
import { parseArgs } from "node:util";
import { openHubDb } from "../../hub/db/db.ts";
import { fillHub, scaled } from "../support/hub_scale.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "--"),
  options: { data: { type: "string" }, db: { type: "string" }, scale: { type: "string", default: "1" } },
});
const factor = Number(values.scale);
if (!(factor > 0) || (!values.data && !values.db)) {
  console.error("usage: fill_hub.ts --data DIR | --db postgres://... [--scale 0.1]");
  Deno.exit(2);
}
const db = await openHubDb(values.data ?? ".", values.db);
try {
  const filled = await fillHub(db, scaled(factor));
  console.log(JSON.stringify(filled));
} finally {
  await db.close();
}
