GRANT USAGE ON SCHEMA message_store TO message_store;
