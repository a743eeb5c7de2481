CREATE TABLE `queue_discarded` (
	`sop_instance_uid` text PRIMARY KEY NOT NULL,
	`discarded_at` integer NOT NULL,
	FOREIGN KEY (`sop_instance_uid`) REFERENCES `instances`(`sop_instance_uid`) ON UPDATE no action ON DELETE cascade
);
