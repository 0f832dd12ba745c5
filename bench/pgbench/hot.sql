-- Ceiling for placing-and-processing an order on the same three products (hot rows):
-- the statements of place.sql (with its outbox row) with one unit of each of products
-- :h1 < :h2 < :h3.
\set c random(1, :customers)
BEGIN;
UPDATE products SET stock = stock - 1 WHERE id = :h1 AND stock >= 1 RETURNING price AS u1, name AS n1, sku AS s1 \gset
UPDATE products SET stock = stock - 1 WHERE id = :h2 AND stock >= 1 RETURNING price AS u2, name AS n2, sku AS s2 \gset
UPDATE products SET stock = stock - 1 WHERE id = :h3 AND stock >= 1 RETURNING price AS u3, name AS n3, sku AS s3 \gset
\set total :u1 + :u2 + :u3
INSERT INTO orders (number, customer_id, status, strategy, payment_flow, created, processed, currency, extra, total, paid) VALUES ('B' || nextval('bench_number_seq'), :c, 'processed', 'reject', 'balance', now(), now(), 'USD', '{}', :total, :total) RETURNING id AS oid \gset
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :h1, :n1, :s1, :u1, 1, 1, :u1);
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :h2, :n2, :s2, :u2, 1, 1, :u2);
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :h3, :n3, :s3, :u3, 1, 1, :u3);
\set neg -1 * :total
UPDATE customers SET balance = balance - :total, updated = now() WHERE id = :c AND balance > 0 RETURNING balance AS bal \gset
INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason, actor) VALUES (:c, now(), 'charge', :neg, :bal, :oid, 'pgbench', 'pgbench');
INSERT INTO outbox_events (type, order_id, data, created) VALUES ('order.created', :oid, '{}'::jsonb, now());
END;
