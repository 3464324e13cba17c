-- Workers' requests for guidance to start a business back home (返乡创业): the HR bureau's
-- list, paged in (requested_on, request_id) order; answered ones keep who took them on.
CREATE TABLE IF NOT EXISTS guidance_requests (
    request_id       text PRIMARY KEY,
    worker_id        text NOT NULL,
    business_kind    text NOT NULL,
    needs            text[] NOT NULL,
    hometown_county  text,
    requested_on     date NOT NULL,
    referred_to      text,
    given_on         date
);
CREATE INDEX IF NOT EXISTS guidance_requests_in_order
    ON guidance_requests (requested_on, request_id);
