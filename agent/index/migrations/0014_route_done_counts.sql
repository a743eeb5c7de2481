CREATE TABLE `queue_route_done_counts` (
	`route` text PRIMARY KEY NOT NULL,
	`count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `queue_route_state` ON `queue` (`route`,`state`,`last_error`);--> statement-breakpoint
INSERT INTO `queue_route_done_counts` (`route`, `count`)
	SELECT `route`, count(*) FROM `queue` WHERE `state` = 'done' AND `destination` NOT LIKE 'deid:%' GROUP BY `route`;--> statement-breakpoint
CREATE TRIGGER `queue_route_done_insert` AFTER INSERT ON `queue`
	WHEN NEW.`state` = 'done' AND NEW.`destination` NOT LIKE 'deid:%' BEGIN
	INSERT INTO `queue_route_done_counts` (`route`, `count`) VALUES (NEW.`route`, 1)
		ON CONFLICT (`route`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `queue_route_done_delete` AFTER DELETE ON `queue`
	WHEN OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%' BEGIN
	UPDATE `queue_route_done_counts` SET `count` = `count` - 1 WHERE `route` = OLD.`route`;
END;--> statement-breakpoint
CREATE TRIGGER `queue_route_done_update` AFTER UPDATE OF `state`, `route`, `destination` ON `queue`
	WHEN (OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%')
		OR (NEW.`state` = 'done' AND NEW.`destination` NOT LIKE 'deid:%') BEGIN
	UPDATE `queue_route_done_counts` SET `count` = `count` - 1
		WHERE OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%' AND `route` = OLD.`route`;
	INSERT INTO `queue_route_done_counts` (`route`, `count`) SELECT NEW.`route`, 1
		WHERE NEW.`state` = 'done' AND NEW.`destination` NOT LIKE 'deid:%'
		ON CONFLICT (`route`) DO UPDATE SET `count` = `count` + 1;
END;
