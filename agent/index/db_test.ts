import assert from "node:assert/strict";
import * as path from "node:path";
import { Database } from "./db.ts";

Deno.test("a write inside a write is a savepoint: its throw undoes only its own rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-" });
  const db = await Database.open(path.join(dir, "agent.db"));
  try {
    const insert = (id: string) =>
      db.statement(`INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date,
        patient_sex) VALUES (?, '', '', '', '')`).run(id);
    db.write(() => {
      db.write(() => insert("kept-1"));
      assert.throws(() =>
        db.write(() => {
          insert("undone");
          throw new Error("this object fails alone");
        }), /fails alone/);
      db.write(() => insert("kept-2"));
    });
    const ids = db.statement("SELECT patient_id AS id FROM patients ORDER BY patient_id").all()
      .map((r) => (r as { id: string }).id);
    assert.deepEqual(ids, ["kept-1", "kept-2"]);
    // The outer transaction still rolls back as a whole.
    assert.throws(() =>
      db.write(() => {
        insert("outer");
        throw new Error("all of it");
      }), /all of it/);
    assert.equal(db.statement("SELECT count(*) AS n FROM patients").get()?.n, 2);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a statement's lone parameter is bound by position whatever it is: null, bytes, a date refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-" });
  const db = await Database.open(path.join(dir, "agent.db"));
  try {
    // Handed to libsql as they came, a lone null threw "failed to downcast any to object", and a lone
    // Uint8Array or Date panicked its Rust binding, which ended the process.
    assert.equal(db.statement("SELECT ? AS v").get(null)?.v, null);
    const bytes = db.statement("SELECT ? AS v").get(new Uint8Array([1, 2]))?.v as ArrayBuffer;
    assert.deepEqual([...new Uint8Array(bytes)], [1, 2]);
    assert.throws(() => db.statement("SELECT ? AS v").get(new Date(0)), /bind/);
    // Several parameters, and arrays among them, as before.
    const row = db.statement("SELECT ? AS a, ? AS b, ? AS c").get(1, [2, 3]);
    assert.deepEqual([row?.a, row?.b, row?.c], [1, 2, 3]);
    assert.deepEqual(db.statement("SELECT ? AS a").all(["x"]).map((r) => r.a), ["x"]);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeUnsynced commits without a flush and leaves the connection synced again, also on a throw", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-" });
  const db = await Database.open(path.join(dir, "agent.db"));
  try {
    const level = () => Number(db.statement("PRAGMA synchronous").get()?.synchronous);
    const insert = (id: string) =>
      db.statement(`INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date,
        patient_sex) VALUES (?, '', '', '', '')`).run(id);
    assert.equal(level(), 2, "FULL while durable");
    const seen = db.writeUnsynced(() => {
      insert("unsynced");
      return level();
    });
    assert.equal(seen, 1, "NORMAL inside writeUnsynced");
    assert.equal(level(), 2, "FULL again after it");
    assert.throws(() =>
      db.writeUnsynced(() => {
        insert("undone");
        throw new Error("rolled back");
      }), /rolled back/);
    assert.equal(level(), 2, "FULL again after a throw");
    // Nested in a synced write it is part of that write's (synced) transaction.
    db.write(() => db.writeUnsynced(() => insert("nested")));
    const ids = db.statement("SELECT patient_id AS id FROM patients ORDER BY patient_id").all()
      .map((r) => (r as { id: string }).id);
    assert.deepEqual(ids, ["nested", "unsynced"]);
    // What each cost the disk: the nested one is part of its synced write, the rolled back one is no commit.
    assert.deepEqual(db.commits, { synced: 1, unsynced: 1 });
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database written by any earlier schema is migrated to the same schema as a new one, once", async () => {
  const { readMigrationFiles } = await import("drizzle-orm/migrator");
  const LibsqlDatabase = (await import("libsql")).default;
  type Conn = {
    exec(sql: string): void;
    prepare(sql: string): { all(...p: unknown[]): Record<string, unknown>[]; run(...p: unknown[]): unknown };
    close(): void;
  };
  const migrations = readMigrationFiles({
    migrationsFolder: path.join(path.dirname(new URL(import.meta.url).pathname), "migrations"),
  });
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-migrate-" });
  const schemaOf = (file: string) => {
    const c = new LibsqlDatabase(file) as unknown as Conn;
    try {
      return c.prepare(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
      ).all().map((r) => `${r.type} ${r.name}: ${String(r.sql).replace(/\s+/g, " ")}`);
    } finally {
      c.close();
    }
  };
  try {
    const fresh = path.join(dir, "fresh.db");
    (await Database.open(fresh)).close();
    const expected = schemaOf(fresh);
    for (let applied = 1; applied < migrations.length; applied++) {
      // What the agent of that time left: its migrations applied and recorded, a patient indexed.
      const file = path.join(dir, `from-${applied}.db`);
      const old = new LibsqlDatabase(file) as unknown as Conn;
      old.exec("PRAGMA journal_mode = WAL");
      old.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
        id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
      for (const m of migrations.slice(0, applied)) {
        for (const s of m.sql) if (s.trim()) old.exec(s);
        old.prepare(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`)
          .run(m.hash, m.folderMillis);
      }
      old.prepare(`INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date,
        patient_sex) VALUES ('old-${applied}', '', '', '', '')`).run();
      old.close();
      for (const time of ["first", "second"]) {
        const db = await Database.open(file);
        try {
          assert.equal(
            db.statement(`SELECT count(*) AS n FROM "__drizzle_migrations"`).get()?.n,
            migrations.length,
            `after ${applied} migrations, ${time} open`,
          );
          assert.equal(db.statement("SELECT patient_id AS id FROM patients").get()?.id, `old-${applied}`);
        } finally {
          db.close();
        }
      }
      assert.deepEqual(schemaOf(file), expected, `the schema after ${applied} migrations, then the rest`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a database written by a newer agent (an upgrade rolled back) is refused, untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-newer-" });
  const file = path.join(dir, "agent.db");
  try {
    (await Database.open(file)).close();
    const future = Date.now() + 365 * 86_400_000;
    const LibsqlDatabase = (await import("libsql")).default;
    const c = new LibsqlDatabase(file) as unknown as {
      prepare(sql: string): { run(...p: unknown[]): unknown; get(): Record<string, unknown> };
      close(): void;
    };
    c.prepare(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES ('later', ?)`).run(future);
    c.close();
    // It ran on it as if nothing had changed.
    await assert.rejects(Database.open(file), /was written by a newer version of the agent/);
    const again = new LibsqlDatabase(file) as unknown as {
      prepare(sql: string): { get(): Record<string, unknown> };
      close(): void;
    };
    assert.equal(again.prepare(`SELECT max(created_at) AS t FROM "__drizzle_migrations"`).get().t, future);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migration 0016 indexes dates written yyyy.mm.dd (before DICOM 3.0) as YYYYMMDD, and only those", async () => {
  const { readMigrationFiles } = await import("drizzle-orm/migrator");
  const LibsqlDatabase = (await import("libsql")).default;
  const migrations = readMigrationFiles({
    migrationsFolder: path.join(path.dirname(new URL(import.meta.url).pathname), "migrations"),
  });
  const before = migrations.findIndex((m) => m.sql.some((s) => s.includes("GLOB '[0-9][0-9][0-9][0-9].")));
  assert.ok(before > 0, "the migration is there");
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-dates-" });
  try {
    const file = path.join(dir, "agent.db");
    const old = new LibsqlDatabase(file);
    old.exec(
      `CREATE TABLE "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
    );
    for (const m of migrations.slice(0, before)) {
      for (const s of m.sql) if (s.trim()) old.exec(s);
      old.prepare(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`).run(
        m.hash,
        m.folderMillis,
      );
    }
    old.exec(`INSERT INTO patients (pk, patient_id, patient_birth_date) VALUES (1, 'a', '1950.01.02'),
      (2, 'b', '1950.1.2'), (3, 'c', '19500102')`);
    old.exec(`INSERT INTO studies (study_instance_uid, patient_pk, study_date, updated_at) VALUES
      ('1.1', 1, '1995.06.26', 0), ('1.2', 2, '', 0), ('1.3', 3, '19950626-', 0)`);
    old.exec(
      `INSERT INTO series (series_instance_uid, study_instance_uid, series_date) VALUES ('2.1', '1.1', '1995.06.26')`,
    );
    old.close();
    const db = await Database.open(file);
    try {
      const rows = (q: string) => db.statement(q).all().map((r) => Object.values(r).join(" "));
      assert.deepEqual(rows("SELECT patient_id, patient_birth_date FROM patients ORDER BY pk"), [
        "a 19500102",
        "b 1950.1.2",
        "c 19500102",
      ]);
      assert.deepEqual(rows("SELECT study_instance_uid, study_date FROM studies ORDER BY 1"), [
        "1.1 19950626",
        "1.2 ",
        "1.3 19950626-",
      ]);
      assert.deepEqual(rows("SELECT series_date FROM series"), ["19950626"]);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("opening waits for a lock another process holds a moment (a start right after a crash, a reader)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-db-locked-" });
  const file = path.join(dir, "agent.db");
  try {
    // Another process creates the file and holds its write lock for 700 ms, as a crash's reader may.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const L = (await import("libsql")).default; const c = new L(${JSON.stringify(file)});
         c.exec("PRAGMA journal_mode = WAL; BEGIN IMMEDIATE; CREATE TABLE held (x)");
         console.log("held");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700);
         c.exec("COMMIT"); c.close();`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /held/);
    reader.releaseLock();
    const db = await Database.open(file);
    db.close();
    assert.equal((await holder.output()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
