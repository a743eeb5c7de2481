/**
 * The error of a bad profile name, option or custom profile file; its message is a sentence for the user.
 * Defined with the shared profile parser (the hub throws it too); re-exported here so that the engine's
 * modules need not know where it lives, and loading it does not load the PS3.15 table.
 */
export { ProfileError } from "@conduit/shared/deid/profile-file";
