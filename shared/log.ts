/**
 * A small JSON-lines logger with child loggers. Never give it PHI: no names, patient IDs or birth
 * dates; pass UIDs through `hashUid`. As a second guard, every UID left in a line's text (an error
 * message quoting a file path built from the study, series and instance UIDs, say) is replaced by its
 * hash, the same `hashUid` the fields carry; the standard's own UIDs (1.2.840.10008.*: SOP classes,
 * transfer syntaxes) stay readable. An error's message loses a failed query's parameters (drizzle's
 * `params:`), whatever the code that logged it, as does any text field (`reason: err.message`: the crash
 * lines of shared/process.ts, `unhandled rejection`, log the message as text).
 *
 * A field's value may be a function: it is called only when a line is written (`{ sop: () =>
 * hashUid(uid) }`), so a per-object logger costs no hash while nothing is logged (issue 16: a SHA-256
 * per received object for a child logger that seldom writes).
 */
import { createHash } from "node:crypto";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

/** Where log lines go; tests swap it to capture them. */
export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => console.error(line) };

export class Logger {
  /** The least level written, shared with the children (so that {@link setLevel} reaches every one). */
  readonly #level: { value: Level };

  constructor(
    private readonly fields: Fields = {},
    minLevel: Level | { value: Level } = "info",
    private readonly sink: LogSink = stderrSink,
  ) {
    this.#level = typeof minLevel === "string" ? { value: minLevel } : minLevel;
  }

  get minLevel(): Level {
    return this.#level.value;
  }

  /**
   * The least level written from now on, by this logger and every logger it shares its level with: its
   * children and its parent, not those made by {@link withLevel} (a configuration reloaded, say).
   */
  setLevel(level: Level): void {
    this.#level.value = level;
  }

  child(fields: Fields): Logger {
    return new Logger({ ...this.fields, ...fields }, this.#level, this.sink);
  }

  withLevel(level: Level): Logger {
    return new Logger(this.fields, level, this.sink);
  }

  withSink(sink: LogSink): Logger {
    return new Logger(this.fields, this.#level, sink);
  }

  debug(msg: string, fields?: Fields): void {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#log("error", msg, fields);
  }

  #log(level: Level, msg: string, fields?: Fields): void {
    if (ORDER[level] < ORDER[this.#level.value]) return;
    const t = new Date().toISOString();
    const line: Fields = { t, level, msg, ...this.fields, ...fields };
    // A field named t, level or msg does not replace the line's own (filters read `level`; an erasure
    // once logged `"level":"study"`): the key keeps its place, its value is the line's.
    line.t = t;
    line.level = level;
    line.msg = msg;
    for (let [k, v] of Object.entries(line)) {
      if (typeof v === "function") v = line[k] = v();
      if (v instanceof Error) line[k] = { name: v.name, message: redactUids(withoutQueryParams(v.message)) };
      else if (typeof v === "string") line[k] = redactUids(withoutQueryParams(v));
    }
    this.sink.write(JSON.stringify(line));
  }
}

/**
 * An error's message without the values of a failed query: drizzle's "Failed query: ...\nparams: ..." lists
 * what was asked (names, IDs, lists of UIDs). The statement itself stays: it says which one failed.
 */
export function withoutQueryParams(message: string): string {
  return message.includes("\nparams: ") ? message.replace(/\nparams: [\s\S]*$/, "") : message;
}

/** Dotted numbers of three components or more: UID candidates. */
const UID_LIKE = /(?<![\d.])\d+(?:\.\d+){2,}/g;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * Replaces every UID in `text` by its {@link hashUid}. A UID here is a dotted number of at least three
 * components and ten characters that is not an IPv4 address; the standard's UIDs (1.2.840.10008.*)
 * are kept, version numbers are too short to count.
 */
export function redactUids(text: string): string {
  if (!/\d\.\d/.test(text)) return text;
  return text.replace(UID_LIKE, (m) => {
    if (m.length < 10 || m.startsWith("1.2.840.10008.") || IPV4.test(m)) return m;
    return hashUid(m);
  });
}

/** A short, stable, non-reversible stand-in for a UID in logs. */
export function hashUid(uid: string | undefined): string {
  if (!uid) return "";
  return createHash("sha256").update(uid).digest("hex").slice(0, 12);
}
