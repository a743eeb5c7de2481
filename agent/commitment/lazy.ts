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

export class LazyStorageCommitment implements CommitmentHandler {
  #loaded?: Promise<StorageCommitment>;
  #stopped = false;

  constructor(private readonly o: CommitmentOptions) {}

  #load(): Promise<StorageCommitment> {
    return this.#loaded ??= loadPart("commitment/commitment").then(({ StorageCommitment }) =>
      new StorageCommitment(this.o)
    );
  }

  /** Loads the handler now only if an earlier run left reports to deliver (it delivers them). */
  start(): void {
    let left: string[];
    try {
      left = fs.readdirSync(path.join(this.o.dataDir, "commitment"));
    } catch {
      return; // no request ever recorded here
    }
    if (left.length) void this.#load().then((c) => this.#stopped || c.start());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#loaded) await (await this.#loaded).stop();
  }

  async accept(request: CommitmentRequest): Promise<void> {
    return await (await this.#load()).accept(request);
  }

  async decide(request: CommitmentRequest): Promise<CommitmentReport> {
    return await (await this.#load()).decide(request);
  }

  reported(request: CommitmentRequest, report: CommitmentReport, status: number): void {
    void this.#load().then((c) => c.reported(request, report, status));
  }

  deliverLater(request: CommitmentRequest, report: CommitmentReport | undefined): void {
    void this.#load().then((c) => c.deliverLater(request, report));
  }
}
