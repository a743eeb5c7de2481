/** Two hubs of one cluster in this process, for the cluster tests. */
import { startTestHub } from "../support/hub.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { freePort, startStorescp } from "../support/peers.ts";

/** Two hubs on a new database of `pg`, each with its own cluster URL; their stops pushed on `stops`. */
export async function twoHubs(
  pg: TestPostgres,
  name: string,
  stops: (() => Promise<void>)[],
) {
  const db = await pg.createDatabase(name);
  const ports = [freePort(), freePort()] as const;
  const hubs = [];
  for (const port of ports) {
    const hub = await startTestHub({ db, port, clusterUrl: `http://127.0.0.1:${port}` });
    stops.push(() => hub.stop());
    hubs.push(hub);
  }
  return { db, ports, hubs: hubs as [typeof hubs[0], typeof hubs[0]] };
}

/** The PACS of a cluster test: a storescp keeping every file it gets under its own name; stopped by `stops`. */
export async function clusterPacs(stops: (() => Promise<void>)[]) {
  const pacs = await startStorescp({
    aet: "PACS",
    dir: await Deno.makeTempDir({ prefix: "cluster-pacs-" }),
    bitPreserving: true,
    extraArgs: ["--unique-filenames"],
  });
  stops.push(() => pacs.stop());
  return pacs;
}

/** What a cluster test started, stopped in reverse order at its end (each stop's failure ignored). */
export type Stops = (() => Promise<void>)[];

/**
 * A cluster test on a PostgreSQL of its own: `fn` pushes a stop for everything it starts; they run in reverse
 * order when it ends, however it ends, then the database stops.
 */
export function clusterTest(
  name: string,
  skip: string | false | undefined,
  fn: (pg: TestPostgres, stops: Stops) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: Boolean(skip),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const pg = await startPostgres();
      const stops: Stops = [];
      try {
        await fn(pg, stops);
      } finally {
        for (const stop of stops.reverse()) await stop().catch(() => {});
        await pg.stop();
      }
    },
  });
}
