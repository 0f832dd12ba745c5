-- Ceiling for placing an order: one transaction with the statements an order costs the
-- database. Three random products (locked in id order), conditional stock updates, the
-- order, its three lines, the customer's balance and its ledger entry, and the outbox row
-- every order writes for delivery (its `order.created` event). Variables: customers, products.
\set c random(1, :customers)
\set a random(1, :products)
\set b random(1, :products)
\set d random(1, :products)
\set p1 least(:a, :b, :d)
\set p3 greatest(:a, :b, :d)
\set p2 :a + :b + :d - :p1 - :p3
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
BEGIN;
UPDATE products SET stock = stock - :q1 WHERE id = :p1 AND stock >= :q1 RETURNING price AS u1, name AS n1, sku AS s1 \gset
UPDATE products SET stock = stock - :q2 WHERE id = :p2 AND stock >= :q2 RETURNING price AS u2, name AS n2, sku AS s2 \gset
UPDATE products SET stock = stock - :q3 WHERE id = :p3 AND stock >= :q3 RETURNING price AS u3, name AS n3, sku AS s3 \gset
\set l1 :q1 * :u1
\set l2 :q2 * :u2
\set l3 :q3 * :u3
\set total :l1 + :l2 + :l3
INSERT INTO orders (number, customer_id, status, strategy, payment_flow, created, processed, currency, extra, total, paid) VALUES ('B' || nextval('bench_number_seq'), :c, 'processed', 'adjust', 'balance', now(), now(), 'USD', '{}', :total, :total) RETURNING id AS oid \gset
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :p1, :n1, :s1, :u1, :q1, :q1, :l1);
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :p2, :n2, :s2, :u2, :q2, :q2, :l2);
INSERT INTO order_lines (order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total) VALUES (:oid, :p3, :n3, :s3, :u3, :q3, :q3, :l3);
\set neg -1 * :total
UPDATE customers SET balance = balance - :total, updated = now() WHERE id = :c AND balance > 0 RETURNING balance AS bal \gset
INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason, actor) VALUES (:c, now(), 'charge', :neg, :bal, :oid, 'pgbench', 'pgbench');
INSERT INTO outbox_events (type, order_id, data, created) VALUES ('order.created', :oid, '{}'::jsonb, now());
END;
