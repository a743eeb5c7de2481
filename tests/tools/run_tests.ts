/**
 * `deno task test [deno test args...]`: the whole suite (or the files and filters given), with a temporary
 * folder of its own as TMPDIR that is removed at the end (suite.ts), so a run leaves nothing in /tmp.
 */
import { runTestsInOwnTmp } from "./suite.ts";

Deno.exit(await runTestsInOwnTmp(["-A", "--permit-no-files", "--parallel", ...Deno.args]));
