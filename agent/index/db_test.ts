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
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
