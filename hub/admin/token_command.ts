/**
 * `deno task hub admin token create NAME --role ROLE [--sites a,b] | list | revoke ID`: API tokens
 * for DICOMweb and tRPC clients. The token is printed once; only its hash is kept.
 */
import { commandLine, commandOf, notTaken, type Takes } from "@conduit/shared/cli";
import { openAdminDb } from "./open_db.ts";
import { ApiTokens, ROLES, TokenError } from "../auth/tokens.ts";
import { SiteRegistry } from "../sites/registry.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin token create NAME --role ${
  ROLES.join("|")
} [--sites a,b] [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin token list [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin token revoke ID [--config FILE | --data DIR | --db URL] [--json]`;

/** What each command takes besides --config, --data, --db and --json. */
const TAKES: Takes = {
  create: { flags: ["role", "sites"], args: 1 },
  list: { flags: [] },
  revoke: { flags: [], args: 1 },
};

export async function tokenCommand(
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean },
): Promise<number> {
  const parsed = commandLine("hub admin token", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
    role: { type: "string" },
    sites: { type: "string" },
  }, true);
  if (typeof parsed === "number") return parsed;
  const [verb, arg] = parsed.positionals;
  // A flag or an argument the command does not take is refused, not ignored (`user list --role viewer`
  // listed every user).
  const mistake = notTaken(verb, TAKES, ["data", "db", "json"], parsed.values, parsed.positionals.slice(1));
  if (mistake) {
    console.error(`hub admin token: ${mistake}\n${USAGE}`);
    return 2;
  }
  const json = parsed.values.json === true;
  const role = parsed.values.role;
  if (verb === "create" && role !== undefined && !(ROLES as readonly string[]).includes(role)) {
    // A usage error like any other bad argument (it was exit code 1, from the database's check).
    console.error(
      `hub admin token create: --role must be one of ${ROLES.join(", ")}, not ${
        JSON.stringify(role)
      }\n${USAGE}`,
    );
    return 2;
  }
  // Checked before the database is opened (or made, the first time).
  if (!Object.hasOwn(TAKES, verb)) {
    console.error(`hub admin token: unknown command ${verb}\n${USAGE}`);
    return 2;
  }
  if (verb === "create" && (!arg || !role)) {
    console.error(`hub admin token create: give a name and --role\n${USAGE}`);
    return 2;
  }
  if (verb === "revoke" && !arg) {
    console.error(`hub admin token revoke: give the token id\n${USAGE}`);
    return 2;
  }
  const db = await openAdminDb(`token ${verb}`, parsed.values, defaults);
  if (typeof db === "number") return db;
  const tokens = new ApiTokens(db);
  try {
    if (verb === "create") {
      if (!arg || !parsed.values.role) {
        console.error(`hub admin token create: give a name and --role\n${USAGE}`);
        return 2;
      }
      const sites = parsed.values.sites?.split(",").map((s) => s.trim()).filter(Boolean);
      const created = await tokens.create(arg, parsed.values.role, sites);
      // A site need not exist yet (docs/operations.md, Site scope), but a misspelt one gave a token that
      // reached nothing, silently.
      const registry = new SiteRegistry(db);
      for (const site of sites ?? []) {
        if (!await registry.get(site)) {
          console.error(
            `hub admin token create: no site named ${site} yet: the token reaches it once it is added ` +
              "(check the spelling: admin site list)",
          );
        }
      }
      if (json) {
        console.log(
          JSON.stringify({ id: created.id, name: arg, role: parsed.values.role, token: created.token }),
        );
      } else {console.log(
          `token ${created.id} (${arg}, ${parsed.values.role}); shown once:\n\n  ${created.token}\n`,
        );}
    } else if (verb === "list") {
      const all = await tokens.list();
      if (json) console.log(JSON.stringify({ tokens: all }));
      else if (!all.length) console.log("no tokens");
      else {
        console.log(["ID", "NAME", "ROLE", "SITES", "STATE"].join("\t"));
        for (const t of all) {
          console.log(
            [t.id, t.name, t.role, t.sites?.join(",") ?? "*", t.revoked ? "revoked" : "active"].join("\t"),
          );
        }
      }
    } else if (verb === "revoke") {
      if (!arg) {
        console.error(`hub admin token revoke: give the token id\n${USAGE}`);
        return 2;
      }
      await tokens.revoke(arg);
      if (json) console.log(JSON.stringify({ id: arg, revoked: true }));
      else console.log(`token ${arg} revoked`);
    } else {
      console.error(`hub admin token: unknown command ${verb}\n${USAGE}`);
      return 2;
    }
    return 0;
  } catch (err) {
    if (err instanceof TokenError) {
      if (json) console.log(JSON.stringify({ error: err.message }));
      console.error(`hub admin token ${verb}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}
