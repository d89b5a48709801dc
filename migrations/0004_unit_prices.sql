-- Migration 0004: prices in the units of OpenAI's image, audio and moderation APIs, beside
-- the token prices (src/billing/units.ts). All µ$; NULL: the model is not sold in that unit.
-- image_prices is a JSON object of µ$ per image, keyed "WxH/quality", "WxH" (any quality),
-- "*/quality" (any size) or "*" (anything).
ALTER TABLE models ADD COLUMN image_prices TEXT;
ALTER TABLE models ADD COLUMN character_price INTEGER CHECK (character_price >= 0);      -- per 1M input characters
ALTER TABLE models ADD COLUMN audio_minute_price INTEGER CHECK (audio_minute_price >= 0); -- per minute of audio
ALTER TABLE models ADD COLUMN max_audio_seconds INTEGER CHECK (max_audio_seconds > 0);   -- longest audio the model takes (bounds a hold)
-- Per 1M tokens of each modality, where an answer reports them (image and audio tokens
-- are parts of its input and output tokens; NULL: at input_price / output_price).
ALTER TABLE models ADD COLUMN image_input_price INTEGER CHECK (image_input_price >= 0);
ALTER TABLE models ADD COLUMN image_output_price INTEGER CHECK (image_output_price >= 0);
ALTER TABLE models ADD COLUMN audio_input_price INTEGER CHECK (audio_input_price >= 0);
ALTER TABLE models ADD COLUMN audio_output_price INTEGER CHECK (audio_output_price >= 0);
