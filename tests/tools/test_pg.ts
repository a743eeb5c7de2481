/**
 * `deno task test:pg [files...]`: the hub's tests again, with every hub on a real PostgreSQL instead of
 * its libsql file. Starts one PostgreSQL for the run (support/postgres.ts: initdb in a temporary
 * directory, as the postgres user, on a free loopback port), gives each test hub a database of its
 * own, and stops the server at the end. The run has a temporary folder of its own (suite.ts). Exits with
 * the test run's code.
 */
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { runTestsInOwnTmp } from "./suite.ts";

/** The tests whose hubs touch the database: tunnel, transfers, console auth and roles, DICOMweb. */
const HUB_TESTS = [
  "hub/db/indexes_test.ts",
  "hub/db/task_counts_test.ts",
  "hub/sites/registry_test.ts",
  "hub/sites/audited_request_test.ts",
  "hub/transfers/service_test.ts",
  "hub/transfers/batch_list_test.ts",
  "hub/transfers/summaries_test.ts",
  "hub/transfers/task_pages_test.ts",
  "hub/transfers/job_actions_test.ts",
  "hub/transfers/batch_status_test.ts",
  "tests/console/batch_download_test.ts",
  "hub/auth/users_test.ts",
  "tests/tunnel/",
  "tests/transfers/",
  "tests/console/auth_test.ts",
  "tests/console/roles_test.ts",
  "tests/console/scope_test.ts",
  "tests/console/hardening_test.ts",
  "tests/console/users_api_test.ts",
  "tests/console/account_api_test.ts",
  "tests/console/audit_api_test.ts",
  "tests/dicomweb/dicomweb_test.ts",
];

const missing = postgresMissing();
if (missing) {
  console.error(`test:pg: ${missing}`);
  Deno.exit(1);
}
const pg = await startPostgres();
let code = 1;
try {
  const files = Deno.args.filter((a) => a !== "--");
  code = await runTestsInOwnTmp(["-A", "--parallel", ...(files.length ? files : HUB_TESTS)], {
    CONDUIT_TEST_DB: "postgres",
    CONDUIT_TEST_PG_URL: pg.url,
  });
} finally {
  await pg.stop();
}
Deno.exit(code);
