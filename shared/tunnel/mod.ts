/** The tunnel between agents and the hub: frames, sessions, streams, channels, messages, transports. */
export * from "./frame.ts";
export * from "./session.ts";
export { StreamResetError } from "./stream.ts";
export * from "./channel.ts";
export * from "./file_ranges.ts";
export * from "./messages.ts";
export * from "./request_channel.ts";
export * from "./transport.ts";
export * from "./hello.ts";
