/**
 * `deno task hub admin user add NAME --role ROLE [--password-stdin] | list | role NAME --role ROLE |
 * password NAME [--password-stdin] | disable NAME | enable NAME`: console users. Without
 * `--password-stdin` (add, password) a random password is made and printed once; a new password ends
 * the user's sessions. The last enabled admin can be neither demoted nor disabled.
 */
import { commandLine, commandOf, notTaken, type Takes } from "@conduit/shared/cli";
import { randomBytes } from "node:crypto";
import { openAdminDb } from "./open_db.ts";
import { UserError, Users } from "../auth/users.ts";
import { ROLES } from "../auth/tokens.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin user add NAME --role ${
  ROLES.join("|")
} [--password-stdin] [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin user list [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin user role NAME --role ${ROLES.join("|")} [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin user password NAME [--password-stdin] [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin user disable|enable NAME [--config FILE | --data DIR | --db URL] [--json]`;

async function readLine(): Promise<string> {
  const buf = new Uint8Array(4096);
  const n = await Deno.stdin.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split(/\r?\n/)[0];
}

/** What each command takes besides --config, --data, --db and --json. */
const TAKES: Takes = {
  add: { flags: ["role", "password-stdin"], args: 1 },
  list: { flags: [] },
  role: { flags: ["role"], args: 1 },
  password: { flags: ["password-stdin"], args: 1 },
  disable: { flags: [], args: 1 },
  enable: { flags: [], args: 1 },
};

export async function userCommand(
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean },
): Promise<number> {
  const parsed = commandLine("hub admin user", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
    role: { type: "string" },
    "password-stdin": { type: "boolean" },
  }, true);
  if (typeof parsed === "number") return parsed;
  const [verb, name] = parsed.positionals;
  // A flag or an argument the command does not take is refused, not ignored (`user list --role viewer`
  // listed every user).
  const mistake = notTaken(verb, TAKES, ["data", "db", "json"], parsed.values, parsed.positionals.slice(1));
  if (mistake) {
    console.error(`hub admin user: ${mistake}\n${USAGE}`);
    return 2;
  }
  const json = parsed.values.json === true;
  const role = parsed.values.role;
  if (
    (verb === "add" || verb === "role") && role !== undefined && !(ROLES as readonly string[]).includes(role)
  ) {
    // A usage error like any other bad argument (it was exit code 1, from the database's check).
    console.error(
      `hub admin user ${verb}: --role must be one of ${ROLES.join(", ")}, not ${
        JSON.stringify(role)
      }\n${USAGE}`,
    );
    return 2;
  }
  // Checked before the database is opened (or made, the first time).
  if (!Object.hasOwn(TAKES, verb)) {
    console.error(`hub admin user: unknown command ${verb}\n${USAGE}`);
    return 2;
  }
  if (verb !== "list" && (!name || ((verb === "add" || verb === "role") && !role))) {
    const what = verb === "add" || verb === "role" ? "a name and --role" : "a name";
    console.error(`hub admin user ${verb}: give ${what}\n${USAGE}`);
    return 2;
  }
  const db = await openAdminDb(`user ${verb}`, parsed.values, defaults);
  if (typeof db === "number") return db;
  const users = new Users(db);
  try {
    if (verb === "add") {
      if (!name || !parsed.values.role) {
        console.error(`hub admin user add: give a name and --role\n${USAGE}`);
        return 2;
      }
      const generated = !parsed.values["password-stdin"];
      const password = generated ? randomBytes(12).toString("base64url") : await readLine();
      await users.add(name, parsed.values.role, password);
      if (json) {
        console.log(
          JSON.stringify({ user: name, role: parsed.values.role, ...(generated ? { password } : {}) }),
        );
      } else {console.log(
          `user ${name} (${parsed.values.role}) added${
            generated ? `; password, shown once: ${password}` : ""
          }`,
        );}
    } else if (verb === "list") {
      const all = await users.list();
      if (json) console.log(JSON.stringify({ users: all }));
      else if (!all.length) console.log("no users");
      else {
        console.log(["USER", "ROLE", "STATE"].join("\t"));
        for (const u of all) console.log([u.name, u.role, u.disabled ? "disabled" : "active"].join("\t"));
      }
    } else if (verb === "role") {
      if (!name || !parsed.values.role) {
        console.error(`hub admin user role: give a name and --role\n${USAGE}`);
        return 2;
      }
      const { from, to } = await users.setRole(name, parsed.values.role);
      if (json) console.log(JSON.stringify({ user: name, from, role: to }));
      else console.log(from === to ? `user ${name} is already ${to}` : `user ${name}: ${from} -> ${to}`);
    } else if (verb === "password") {
      if (!name) {
        console.error(`hub admin user password: give a name\n${USAGE}`);
        return 2;
      }
      const generated = !parsed.values["password-stdin"];
      const password = generated ? randomBytes(12).toString("base64url") : await readLine();
      const { sessionsEnded } = await users.resetPassword(name, password);
      if (json) {
        console.log(JSON.stringify({ user: name, sessionsEnded, ...(generated ? { password } : {}) }));
      } else {
        console.log(
          `user ${name}: password reset, ${sessionsEnded} session(s) ended${
            generated ? `; new password, shown once: ${password}` : ""
          }`,
        );
      }
    } else if (verb === "disable" || verb === "enable") {
      if (!name) {
        console.error(`hub admin user ${verb}: give a name\n${USAGE}`);
        return 2;
      }
      await users.setDisabled(name, verb === "disable");
      if (json) console.log(JSON.stringify({ user: name, disabled: verb === "disable" }));
      else console.log(`user ${name} ${verb}d`);
    } else {
      console.error(`hub admin user: unknown command ${verb}\n${USAGE}`);
      return 2;
    }
    return 0;
  } catch (err) {
    if (err instanceof UserError) {
      if (json) console.log(JSON.stringify({ error: err.message }));
      console.error(`hub admin user ${verb}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}
