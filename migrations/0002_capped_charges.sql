-- Migration 0002: the operator's overview shows charges cut at their hold (a provider
-- reported more usage than the request was held for, which the operator pays): how many
-- requests per hour, model and channel, and the micro-dollars not charged.
ALTER TABLE usage_hourly ADD COLUMN capped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN uncharged INTEGER NOT NULL DEFAULT 0;
