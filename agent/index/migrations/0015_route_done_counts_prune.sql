-- A route's done counter goes with its last done row (pruned, erased, queued again): one row per transfer
-- ever run was kept at 0 until now. A missing row reads as 0 (Queue.routeProgress); the delete is one
-- primary-key lookup per done row that goes, no walk of the queue.
DROP TRIGGER IF EXISTS `queue_route_done_delete`;--> statement-breakpoint
CREATE TRIGGER `queue_route_done_delete` AFTER DELETE ON `queue`
	WHEN OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%' BEGIN
	UPDATE `queue_route_done_counts` SET `count` = `count` - 1 WHERE `route` = OLD.`route`;
	DELETE FROM `queue_route_done_counts` WHERE `route` = OLD.`route` AND `count` <= 0;
END;--> statement-breakpoint
DROP TRIGGER IF EXISTS `queue_route_done_update`;--> statement-breakpoint
CREATE TRIGGER `queue_route_done_update` AFTER UPDATE OF `state`, `route`, `destination` ON `queue`
	WHEN (OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%')
		OR (NEW.`state` = 'done' AND NEW.`destination` NOT LIKE 'deid:%') BEGIN
	UPDATE `queue_route_done_counts` SET `count` = `count` - 1
		WHERE OLD.`state` = 'done' AND OLD.`destination` NOT LIKE 'deid:%' AND `route` = OLD.`route`;
	DELETE FROM `queue_route_done_counts` WHERE `route` = OLD.`route` AND `count` <= 0;
	INSERT INTO `queue_route_done_counts` (`route`, `count`) SELECT NEW.`route`, 1
		WHERE NEW.`state` = 'done' AND NEW.`destination` NOT LIKE 'deid:%'
		ON CONFLICT (`route`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
DELETE FROM `queue_route_done_counts` WHERE `count` <= 0;
