-- certd schema, version 7: the customers' registered phone numbers.
-- A contract may not name them as a destination (the customer is no counterparty of itself);
-- the milter learns them with the customer look-up, certd checks again at submit.
CREATE TABLE customer_phones (
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    phone       TEXT NOT NULL,                 -- E.164, e.g. +34600111222
    PRIMARY KEY (customer_id, phone)
);
