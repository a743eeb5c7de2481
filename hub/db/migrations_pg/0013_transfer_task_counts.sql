CREATE TABLE "transfer_task_counts" (
	"status" text PRIMARY KEY NOT NULL,
	"count" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE FUNCTION "transfer_task_counts_apply"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- One statement's changes summed by state and applied in the order of the states: statements changing
	-- tasks at the same time lock the rows of transfer_task_counts in one order, so they wait, never deadlock.
	IF TG_OP = 'INSERT' THEN
		INSERT INTO "transfer_task_counts" ("status", "count")
			SELECT "status", count(*) FROM new_rows GROUP BY "status" ORDER BY "status"
			ON CONFLICT ("status") DO UPDATE SET "count" = "transfer_task_counts"."count" + excluded."count";
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO "transfer_task_counts" ("status", "count")
			SELECT "status", -count(*) FROM old_rows GROUP BY "status" ORDER BY "status"
			ON CONFLICT ("status") DO UPDATE SET "count" = "transfer_task_counts"."count" + excluded."count";
	ELSE
		INSERT INTO "transfer_task_counts" ("status", "count")
			SELECT "status", sum("n") FROM (
				SELECT "status", -1 AS "n" FROM old_rows UNION ALL SELECT "status", 1 AS "n" FROM new_rows
			) AS "changed" GROUP BY "status" HAVING sum("n") <> 0 ORDER BY "status"
			ON CONFLICT ("status") DO UPDATE SET "count" = "transfer_task_counts"."count" + excluded."count";
	END IF;
	RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "transfer_task_counts_insert" AFTER INSERT ON "transfer_tasks"
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "transfer_task_counts_apply"();--> statement-breakpoint
CREATE TRIGGER "transfer_task_counts_update" AFTER UPDATE ON "transfer_tasks"
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION "transfer_task_counts_apply"();--> statement-breakpoint
CREATE TRIGGER "transfer_task_counts_delete" AFTER DELETE ON "transfer_tasks"
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "transfer_task_counts_apply"();--> statement-breakpoint
-- After the triggers (whose creation waits for the writes under way to the tasks and holds back new ones
-- until this transaction ends, SHARE ROW EXCLUSIVE): no task is counted twice or missed.
INSERT INTO "transfer_task_counts" ("status", "count")
	SELECT "status", count(*) FROM "transfer_tasks" GROUP BY "status";
