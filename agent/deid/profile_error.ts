/**
 * The error of a bad profile name, option or custom profile file; its message is a sentence for the user.
 * In a module of its own so that reading a profile file (`profile_file.ts`) does not load the PS3.15 table.
 */
export class ProfileError extends Error {
  override name = "ProfileError";
}
