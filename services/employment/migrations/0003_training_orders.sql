-- Employers' orders for trained workers (订单式培训): an organisation's name, an occupation,
-- a site and a headcount (never a worker), their class plan and whether they were cancelled.
-- Listed in order_id order.
CREATE TABLE IF NOT EXISTS training_orders (
    order_id         text PRIMARY KEY,
    employer         text NOT NULL,
    province         text NOT NULL,
    city             text NOT NULL,
    site_name        text NOT NULL,
    occupation_code  text NOT NULL,
    headcount        integer NOT NULL,
    wanted_by        date NOT NULL,
    placed_on        date NOT NULL,
    institution_id   text,
    class_id         text,
    planned_on       date,
    cancel_reason    text,
    cancelled_on     date
);

-- The accredited institutions an order may be planned with, from training's events: what
-- they teach, and whether they are suspended now. (A suspension read before its
-- accreditation leaves a row whose occupations are still unknown: not yet accredited here.)
CREATE TABLE IF NOT EXISTS institutions (
    institution_id  text PRIMARY KEY,
    occupations     text[],
    suspended       boolean NOT NULL DEFAULT false
);
