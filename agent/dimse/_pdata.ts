/**
 * Our own P-DATA-TF reader (issue 16). Every P-DATA PDU is cut into PDVs here, in place (no copy, no
 * object per PDV; a PDU's bytes are valid only until `read` resolves, so what outlives it is copied:
 * commands and what goes to the library), checked (the presentation context is accepted, the PDV
 * sequence fits the protocol: pdv_guard.ts), and routed:
 * - a C-STORE request's data set goes straight into its store sink, fragment by fragment, as the bytes
 *   arrived; the request is decoded and its response encoded by command_codec.ts; the library never sees
 *   the message;
 * - the response to a C-STORE our network sent itself (`ConduitNetwork.sendStore`) goes back to it;
 * - everything else (C-ECHO, C-FIND, C-MOVE, C-GET, C-CANCEL, other responses) is handed to dcmjs-dimse
 *   as the PDVs it would have read itself.
 */
import { decodeCommand } from "./command_codec.ts";
import { PdvGuard } from "./pdv_guard.ts";

/** A PDV as dcmjs-dimse reads it (the methods its `_processPDataTf` calls). */
export interface LibraryPdv {
  getPresentationContextId(): number;
  getValue(): Buffer;
  isCommand(): boolean;
  isLastFragment(): boolean;
}

/** A C-STORE request as its command set says it. */
export interface StoreCommand {
  pcId: number;
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  /** (0000,1030), (0000,1031): set when the store is a C-MOVE sub-operation. */
  moveOriginatorAet?: string;
}

/** Where a C-STORE's data set goes while it arrives. */
export interface IncomingStore {
  /** Takes the next fragment; resolves when more may be written. */
  write(value: Buffer): Promise<void> | void;
  /** The last fragment arrived: finish, commit and answer (not awaited: PDUs keep flowing). */
  end(): void;
}

/** What the reader needs of its association. */
export interface PDataHost {
  /** The accepted presentation context's transfer syntax, or undefined when `id` is not accepted. */
  acceptedSyntax(id: number): string | undefined;
  /** A C-STORE request's command arrived: where its data set goes. */
  openStore(command: StoreCommand, transferSyntax: string): IncomingStore;
  /** PDVs for the library, in order. */
  toLibrary(pdvs: LibraryPdv[]): Promise<void>;
  /** Any other command, decoded: true when the host took it (a response to its own request). */
  response?(command: Record<string, unknown>): boolean;
  /** A protocol error: abort the association (reason as in A-ABORT). */
  abort(reason: number, message: string): void;
}

const C_STORE_RQ = 0x0001;
const NO_DATA_SET = 0x0101;

export class PDataReader {
  #guard = new PdvGuard();
  #command: Buffer[] = [];
  #commandPdvs: LibraryPdv[] = [];
  #store: { pcId: number; sink: IncomingStore } | undefined;

  constructor(private readonly host: PDataHost) {}

  /** Reads one whole P-DATA-TF PDU (header included). Resolves once its PDVs have been taken. */
  async read(pdu: Buffer): Promise<void> {
    const end = pdu.length;
    let at = 6;
    let forLibrary: LibraryPdv[] | undefined;
    while (at < end) {
      if (end - at < 6) return this.host.abort(6, "a PDV header cut short by the end of its PDU");
      const length = pdu.readUInt32BE(at);
      if (length < 2 || length > end - at - 4) return this.host.abort(6, "a PDV longer than its PDU");
      const pcId = pdu[at + 4];
      const flags = pdu[at + 5];
      const isCommand = (flags & 1) === 1;
      // What outlives this PDU is copied (its buffer takes another read once it is processed): a
      // command's bytes (kept until its last fragment) and what goes to the library.
      const view = pdu.subarray(at + 6, at + 4 + length);
      const value = isCommand ? Buffer.from(view) : view;
      at += 4 + length;
      const syntax = this.host.acceptedSyntax(pcId);
      if (syntax === undefined) {
        return this.host.abort(6, `P-DATA on presentation context ${pcId}, which is not accepted`);
      }
      const isLast = (flags & 2) === 2;
      const problem = this.#guard.next({ isCommand, isLast, value });
      if (problem) return this.host.abort(6, problem);

      const store = this.#store;
      if (store) {
        // The guard lets only data fragments of the current message through here.
        if (pcId !== store.pcId) {
          return this.host.abort(6, "a data set fragment on another presentation context");
        }
        const wait = store.sink.write(value);
        if (wait) await wait;
        if (isLast) {
          this.#store = undefined;
          store.sink.end();
        }
        continue;
      }
      if (!isCommand) {
        (forLibrary ??= []).push(libraryPdv(pcId, isCommand, isLast, Buffer.from(value)));
        continue;
      }
      this.#command.push(value);
      this.#commandPdvs.push(libraryPdv(pcId, isCommand, isLast, value));
      if (!isLast) continue;
      const bytes = this.#command.length === 1 ? this.#command[0] : Buffer.concat(this.#command);
      const pdvs = this.#commandPdvs;
      this.#command = [];
      this.#commandPdvs = [];
      const command = decodeCommand(bytes);
      if (command?.CommandField === C_STORE_RQ && command.CommandDataSetType !== NO_DATA_SET) {
        const str = (v: unknown) => (typeof v === "string" ? v : "");
        const sink = this.host.openStore({
          pcId,
          messageId: Number(command.MessageID ?? 0),
          sopClassUid: str(command.AffectedSOPClassUID),
          sopInstanceUid: str(command.AffectedSOPInstanceUID),
          moveOriginatorAet: str(command.MoveOriginatorApplicationEntityTitle) || undefined,
        }, syntax);
        this.#store = { pcId, sink };
        continue;
      }
      if (command && command.CommandDataSetType === NO_DATA_SET && this.host.response?.(command)) continue;
      (forLibrary ??= []).push(...pdvs);
    }
    if (forLibrary) await this.host.toLibrary(forLibrary);
  }

  /** The association ended: the object being received (if any) is no longer ours to finish. */
  reset(): IncomingStore | undefined {
    const store = this.#store;
    this.#store = undefined;
    return store?.sink;
  }
}

function libraryPdv(pcId: number, isCommand: boolean, isLast: boolean, value: Buffer): LibraryPdv {
  return {
    getPresentationContextId: () => pcId,
    getValue: () => value,
    isCommand: () => isCommand,
    isLastFragment: () => isLast,
  };
}
