/** What the agent's and the hub's drizzle-kit migration journals say about a database's schema. */

/**
 * The tag of the migration applied at `appliedAt` (its `created_at` in __drizzle_migrations, drizzle-kit's
 * journal `when`), e.g. `0009_commitment_scu`, from a migrations folder's `meta/_journal.json` as read by
 * `readJournal`; null when the journal has none (a newer schema) or cannot be read.
 */
export function migrationTagIn(readJournal: () => string, appliedAt: number | null): string | null {
  try {
    const journal = JSON.parse(readJournal()) as { entries: { when: number; tag: string }[] };
    return journal.entries.find((e) => e.when === appliedAt)?.tag ?? null;
  } catch {
    return null;
  }
}
