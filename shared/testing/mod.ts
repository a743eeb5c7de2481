/**
 * Test and demo fixtures: a synthetic DICOM generator (deterministic CT and MR objects, studies of
 * made-up patients). Only tests, benchmarks, the demo and `testing.ts` helpers import this; runtime
 * code may not (tests/tools/boundaries.ts).
 */
export * from "./spec.ts";
export * from "./instance.ts";
export * from "./studies.ts";
export { isValidUid } from "./_encode.ts";
