-- A lone check-in or void is decided with training_check_in_facts_of_many (0005) too, as a
-- batch of one: the single-class function of 0003 is no longer called.
DROP FUNCTION IF EXISTS training_check_in_facts(text, text);
