/**
 * DICOM as both sides read and write it: the Part 10 reader, values, the data dictionary, UIDs and
 * transfer syntaxes, the File Meta group, DICOM JSON, Explicit VR re-encoding and the structure check.
 * (The synthetic generator for tests is `@conduit/shared/testing`.)
 */
export * from "./reader.ts";
export * from "./values.ts";
export * from "./dictionary.ts";
export * from "./uids.ts";
export * from "./file_meta.ts";
export * from "./header.ts";
export * from "./json.ts";
export * from "./transcode.ts";
export * from "./structure.ts";
export * from "./archive_keys.ts";
export * from "./value_lengths.ts";
