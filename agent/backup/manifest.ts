/**
 * What a backup directory holds (`agent.db`, the site credential, `manifest.json`), what its manifest says,
 * and the manifest read and checked against the database copy beside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BackupCounts } from "./counts.ts";
import { sha256File } from "./files.ts";

/** What the manifest of a backup says; `manifest.json` in the backup directory. */
export interface BackupManifest {
  kind: "conduit-agent-backup";
  format: 1;
  version: string;
  /** The agent's build (`0.1.0+140c00aa (2026-12-06)`); absent from backups of agents before 2026-12-06. */
  build?: string;
  createdAt: string;
  dataDir: string;
  schema: { migration: string | null; appliedAt: number | null };
  database: { file: "agent.db"; bytes: number; sha256: string };
  counts: BackupCounts;
  credential: boolean;
  archive: { included: false } | { included: true; files: number; bytes: number; linked: number };
}

/** A mistake or a refusal the operator can act on; nothing was changed. */
export class BackupError extends Error {
  override name = "BackupError";
}

export const DB = "agent.db";
export const CREDENTIAL = "hub-credential.json";
export const MANIFEST = "manifest.json";

/** Reads and checks a backup directory's manifest and database. */
export async function readBackup(from: string): Promise<BackupManifest> {
  const manifestFile = path.join(from, MANIFEST);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  } catch (err) {
    throw new BackupError(
      `${from} is not an agent backup (cannot read ${MANIFEST}: ${(err as Error).message})`,
    );
  }
  if (
    manifest?.kind !== "conduit-agent-backup" || manifest.format !== 1 ||
    typeof manifest.database?.sha256 !== "string"
  ) {
    throw new BackupError(`${from} is not an agent backup (its ${MANIFEST} is not one)`);
  }
  const file = path.join(from, DB);
  let sha256: string;
  try {
    sha256 = await sha256File(file);
  } catch (err) {
    throw new BackupError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (sha256 !== manifest.database.sha256) {
    throw new BackupError(`${file} is damaged: its SHA-256 is not the one the manifest recorded`);
  }
  return manifest;
}
