CREATE TABLE `sites` (
	`name` text PRIMARY KEY NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`enrollment_hash` text,
	`enrollment_expires_at` integer,
	`credential_hash` text,
	`created_at` integer NOT NULL,
	`enrolled_at` integer,
	`revoked_at` integer,
	`last_seen_at` integer,
	`agent_version` text,
	`remote_address` text,
	`queue_depth` integer,
	`rtt_ms` real
);
