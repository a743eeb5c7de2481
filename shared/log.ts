/**
 * A small JSON-lines logger with child loggers. Never give it PHI: no names, patient IDs or birth
 * dates; pass UIDs through `hashUid`.
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
  constructor(
    private readonly fields: Fields = {},
    private readonly minLevel: Level = "info",
    private readonly sink: LogSink = stderrSink,
  ) {}

  child(fields: Fields): Logger {
    return new Logger({ ...this.fields, ...fields }, this.minLevel, this.sink);
  }

  withLevel(level: Level): Logger {
    return new Logger(this.fields, level, this.sink);
  }

  withSink(sink: LogSink): Logger {
    return new Logger(this.fields, this.minLevel, sink);
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
    if (ORDER[level] < ORDER[this.minLevel]) return;
    const line: Fields = { t: new Date().toISOString(), level, msg, ...this.fields, ...fields };
    for (const [k, v] of Object.entries(line)) {
      if (v instanceof Error) line[k] = { name: v.name, message: v.message };
    }
    this.sink.write(JSON.stringify(line));
  }
}

/** A short, stable, non-reversible stand-in for a UID in logs. */
export function hashUid(uid: string | undefined): string {
  if (!uid) return "";
  return createHash("sha256").update(uid).digest("hex").slice(0, 12);
}

/** The process-wide root logger; entry points derive theirs with the configured level (log.level). */
export const rootLogger = new Logger();
