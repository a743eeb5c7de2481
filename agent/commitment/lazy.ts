/**
 * Storage Commitment loaded on first use (issue 16: what an idle agent holds): the SCP is given this
 * handler, which loads ./commitment.ts with the first N-ACTION, or at start when an earlier run left
 * reports to deliver in `<data>/commitment/`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { CommitmentHandler, CommitmentReport, CommitmentRequest } from "../dimse/handlers.ts";
import type { CommitmentOptions, StorageCommitment } from "./commitment.ts";
import { loadPart } from "../lazy_part.ts";
import { loadOnce } from "@conduit/shared/load-once";

export class LazyStorageCommitment implements CommitmentHandler {
  #loading?: Promise<StorageCommitment>;
  #stopped = false;
  // A failed load fails the requests that waited on it; the next request loads again.
  #load = loadOnce(() =>
    this.#loading = loadPart("commitment/commitment").then(({ StorageCommitment }) =>
      new StorageCommitment(this.o)
    )
  );

  constructor(private readonly o: CommitmentOptions) {}

  /** Loads the handler now only if an earlier run left reports to deliver (it delivers them). */
  start(): void {
    let left: string[];
    try {
      left = fs.readdirSync(path.join(this.o.dataDir, "commitment"));
    } catch {
      return; // no request ever recorded here
    }
    if (left.length) this.#then((c) => this.#stopped || c.start());
  }

  /** `fn` once loaded; a failure to load is logged (nothing waits on it to answer). */
  #then(fn: (c: StorageCommitment) => unknown): void {
    this.#load().then(fn).catch((err) =>
      this.o.log.error("storage commitment failed", { reason: (err as Error).message })
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await (await this.#loading?.catch(() => undefined))?.stop();
  }

  async accept(request: CommitmentRequest): Promise<void> {
    return await (await this.#load()).accept(request);
  }

  async decide(request: CommitmentRequest): Promise<CommitmentReport> {
    return await (await this.#load()).decide(request);
  }

  reported(request: CommitmentRequest, report: CommitmentReport, status: number): void {
    this.#then((c) => c.reported(request, report, status));
  }

  deliverLater(request: CommitmentRequest, report: CommitmentReport | undefined): void {
    this.#then((c) => c.deliverLater(request, report));
  }
}
