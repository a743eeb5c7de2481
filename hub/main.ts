/**
 * `deno task hub`: the central hub. Not built yet: the tunnel, site registry, DICOMweb, transfers and
 * console arrive with their issues. Until then this says so instead of pretending to run.
 */
if (import.meta.main) {
  console.error(
    "hub: not implemented yet. This milestone ships the site agent (deno task agent); the hub's tunnel,\n" +
      "DICOMweb, transfers and console are tracked as open issues.",
  );
  Deno.exit(2);
}
