/**
 * Custom profile files (`deid --profile-file`, a route's `deid.profileFile`): reading one. The format and its
 * checks are shared with the hub, which checks a transfer's `deid.custom` alike (`shared/deid/profile_file.ts`).
 */
import * as fs from "node:fs";
import { type CustomLayer, parseProfileFile, ProfileError } from "@conduit/shared/deid/profile-file";

export {
  type CustomRange,
  parseEntry,
  parseProfile,
  parseProfileFile,
  type PrivateAction,
  type PrivateActionCode,
  valueProblem,
} from "@conduit/shared/deid/profile-file";

/** Reads and checks a profile file (see {@link parseProfileFile}); a file that cannot be read is a ProfileError too. */
export function readProfileFile(file: string): { options: string[]; layer: CustomLayer } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ProfileError(`cannot read it: ${(err as Error).message}`);
  }
  return parseProfileFile(text, file);
}
